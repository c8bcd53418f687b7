"""The app's second worker takes small files, smallest first, so they need not wait behind
large ones; it keeps the queue's lease semantics and leaves large files to the main worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.service import SMALL_FILE_BYTES, BackgroundWorker, app_workers, build_worker
from ragcore import library
from ragcore.catalog import DocumentStatus, JobRecord
from ragcore.runtime import Runtime
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

PARAMS = ChunkingParams(Strategy.FIXED, 30, 3)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "data", image_model="", parse_sandbox=False)
    yield runtime
    runtime.close()


def _job(rt: Runtime, job_id: int) -> JobRecord:
    job = rt.catalog.get_job(job_id)
    assert job is not None
    return job


def _add(rt: Runtime, name: str, size: int) -> int:
    words = (f"Words of {name}. " * (size // 16 + 1)).encode()[:size]
    added = library.add_bytes(rt.catalog, rt.settings.uploads_dir, name, [words], PARAMS)
    assert added.job is not None
    return added.job.id


def test_the_small_files_worker_takes_the_smallest_file_and_never_a_large_one(
    rt: Runtime,
) -> None:
    large = _add(rt, "large.txt", SMALL_FILE_BYTES + 1)
    middle = _add(rt, "middle.txt", 4000)
    small = _add(rt, "small.txt", 300)
    worker = build_worker(rt, worker_id="small", small_files_only=True)

    outcomes = worker.run_until_idle()
    # Both small files, the smaller first; the large one is left for the main worker.
    assert [(o.job_id, o.ok) for o in outcomes] == [(small, True), (middle, True)]
    assert _job(rt, large).status == "queued"
    assert build_worker(rt, worker_id="main").run_until_idle()[0].job_id == large


def test_a_small_job_whose_worker_died_is_taken_over_after_its_lease(rt: Runtime) -> None:
    job_id = _add(rt, "small.txt", 300)
    # A small-files worker that claimed it and died: its lease runs out unrenewed.
    claimed = rt.catalog.claim_job("died", lease_seconds=0.01, max_doc_bytes=SMALL_FILE_BYTES)
    assert claimed is not None and claimed.id == job_id
    time.sleep(0.02)
    outcomes = build_worker(rt, worker_id="small", small_files_only=True).run_until_idle()
    assert [(o.job_id, o.ok) for o in outcomes] == [(job_id, True)]
    job = _job(rt, job_id)
    assert (job.status, job.attempts) == ("done", 2)


def test_claiming_by_size_refuses_a_size_that_is_not_positive(rt: Runtime) -> None:
    with pytest.raises(ValueError, match="max_doc_bytes must be > 0, got 0"):
        rt.catalog.claim_job("w", lease_seconds=1.0, max_doc_bytes=0)


def test_the_app_runs_a_small_files_worker_only_with_two_cores(rt: Runtime) -> None:
    assert [w.max_doc_bytes for w in app_workers(rt, cores=1)] == [None]
    main, small = app_workers(rt, cores=2)
    assert (main.max_doc_bytes, small.max_doc_bytes) == (None, SMALL_FILE_BYTES)
    assert small.reembedder is None and main.reembedder is not None


def test_the_background_threads_index_a_small_file_while_a_large_one_is_in_flight_and_stop(
    rt: Runtime,
) -> None:
    # The large file's job is held by a worker that is busy with it (its lease is live).
    _add(rt, "large.txt", SMALL_FILE_BYTES + 1)
    busy = rt.catalog.claim_job("busy-with-large", lease_seconds=60.0)
    assert busy is not None
    small = _add(rt, "photo-note.txt", 300)
    background = BackgroundWorker(*app_workers(rt, cores=2)).start()
    try:
        deadline = time.monotonic() + 30
        while _job(rt, small).status != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert background.alive
    finally:
        background.stop()
    assert _job(rt, small).status == "done"
    docs = {d.name: d.status for d in rt.catalog.list_documents()}
    assert docs["photo-note.txt"] == DocumentStatus.READY
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("ingest-app"))
