"""What every benchmark shares: where the data is, the models, percentiles, machine facts."""

from __future__ import annotations

import json
import logging
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ragcore.evaluation.beir import percentile
from ragcore.evaluation.runs import Progress, write_json
from ragcore.models.loader import Models
from ragcore.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent

__all__ = ["Progress", "percentile", "write_json"]  # shared with ragcore.evaluation

# Every bench is a command line: what ragcore.evaluation logs as it goes goes to stderr as it
# did when it lived here, so that ``--json`` output on stdout stays one clean document.
_progress = logging.StreamHandler(sys.stderr)
_progress.setFormatter(logging.Formatter("%(message)s"))
_evaluation_log = logging.getLogger("ragcore.evaluation")
_evaluation_log.addHandler(_progress)
_evaluation_log.setLevel(logging.INFO)
_evaluation_log.propagate = False


def shared_data_dir() -> Path:
    """The read-only evaluation data: Settings' ``shared_data`` (``RAG_SHARED_DATA``)."""
    return Settings().shared_data


def default_workdir() -> Path:
    """Where benchmarks keep indexes and caches between runs (git-ignored)."""
    return REPO_ROOT / "bench" / "out"


def log(message: str) -> None:
    """Progress goes to stderr so that ``--json`` output on stdout stays one clean document."""
    print(message, file=sys.stderr, flush=True)


def bench_models(settings: Settings, *, reranker: bool = True) -> Models:
    """The app's text model and reranker as configured; no CLIP (the benchmarks are text-only)."""
    return Models(
        text_model=settings.text_model,
        image_model=None,
        reranker_model=(settings.reranker_model or None) if reranker else None,
        cache_dir=settings.models_dir,
        allow_downloads=settings.allow_downloads,
        device=settings.device,
        batch_size=settings.embed_batch_size,
    )


def machine() -> dict[str, object]:
    """Facts a reader needs to judge the speed numbers."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 1024**3, 1)
    except (ValueError, OSError):
        pass
    try:
        import torch

        torch_version = str(torch.__version__)
        threads = torch.get_num_threads()
    except ImportError:
        torch_version, threads = "not installed", 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch_version,
        "torch_threads": threads,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """How this run was started, to print beside its numbers."""
    return f"python -m {module} " + shlex.join(sys.argv[1:] if argv is None else argv)


def publish(
    report: Mapping[str, Any],
    *,
    out: Path | None,
    as_json: bool,
    print_table: Callable[[Mapping[str, Any]], None],
) -> int:
    """Every benchmark's ending: the JSON file if asked, then JSON or a table on stdout."""
    if out:
        write_json(out, report)
    if as_json:
        print(json.dumps(report))
    else:
        print_table(report)
    return 0
