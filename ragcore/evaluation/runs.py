"""What every evaluation run shares: one at a time per process, progress, result files."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ragcore.errors import EvaluationError

_RUNNING = threading.Lock()

# What a long run reports as it goes: (what is being counted, how many done, how many in all).
Progress = Callable[[str, int, int], None]


@contextmanager
def one_run_at_a_time() -> Iterator[None]:
    """Refuse a second evaluation in this process while one runs.

    Runs are CPU-bound, and a cached index folder admits a single client, so two people
    evaluating the same folder from the app at once would collide on it.

    >>> with one_run_at_a_time():
    ...     report = evaluate_something()
    """
    if not _RUNNING.acquire(blocking=False):
        raise EvaluationError(
            "Another evaluation is running in this app; try again when it has finished."
        )
    try:
        yield
    finally:
        _RUNNING.release()


def write_json(path: Path, obj: object) -> None:
    """Write ``obj`` as JSON through a temporary file, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
