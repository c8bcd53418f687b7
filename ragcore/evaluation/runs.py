"""One evaluation at a time in a process: the app's Evaluate tabs and the benches share this lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ragcore.errors import EvaluationError

_RUNNING = threading.Lock()


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
