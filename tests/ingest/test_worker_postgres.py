"""The real ingestion pipeline and worker on a PostgreSQL catalog, as in server mode."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from ingest.service import build_worker
from ingest.worker import JobOutcome
from ragcore import library
from ragcore.catalog import DocumentStatus, JobStatus
from ragcore.catalog.postgres import PostgresCatalog
from ragcore.runtime import Runtime
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

pytestmark = pytest.mark.postgres

PARAMS = ChunkingParams(Strategy.FIXED, 30, 3)
TEXTS = {
    "boats.txt": "Sailing boats need their hulls cleaned and their rigging checked each season.",
    "planes.txt": "Aircraft maintenance follows strict schedules set by the aviation authority.",
    "trains.txt": "Railway engines are serviced in depots, where brakes and wheels are inspected.",
}


def _runtime(tmp_path: Path, postgres_url: str) -> Runtime:
    return make_runtime(
        tmp_path / "data", image_model="", parse_sandbox=False, catalog_url=postgres_url
    )


def _add(rt: Runtime, name: str) -> int:
    added = library.add_bytes(
        rt.catalog, rt.settings.uploads_dir, name, [TEXTS[name].encode()], PARAMS
    )
    assert added.job is not None
    return added.job.id


def test_documents_are_ingested_searched_and_deleted(tmp_path: Path, postgres_url: str) -> None:
    rt = _runtime(tmp_path, postgres_url)
    try:
        assert isinstance(rt.catalog, PostgresCatalog)
        jobs = [_add(rt, name) for name in TEXTS]
        outcomes = build_worker(rt).run_until_idle()
        assert sorted((o.job_id, o.ok) for o in outcomes) == [(j, True) for j in sorted(jobs)]
        docs = {d.name: d for d in rt.catalog.list_documents()}
        assert {d.status for d in docs.values()} == {DocumentStatus.READY}
        assert all(d.chunks >= 1 for d in docs.values())
        # Keyword search through the catalog, and the vectors the worker wrote for the same chunks.
        [(row, _)] = rt.catalog.bm25_search("rigging hulls", limit=5)
        assert row.doc_id == docs["boats.txt"].id
        assert rt.store.count(docs["boats.txt"].id) == rt.catalog.get_document(row.doc_id).chunks  # type: ignore[union-attr]

        library.delete_document(rt.catalog, rt.store, docs["boats.txt"].id)
        assert rt.catalog.bm25_search("rigging hulls", limit=5) == []
        assert rt.store.count(docs["boats.txt"].id) == 0
        assert rt.catalog.status().queue_depth == 0
    finally:
        rt.close()


def test_a_job_whose_worker_died_is_taken_over(tmp_path: Path, postgres_url: str) -> None:
    """A worker on another host claimed the job and died: once its lease runs out, this one
    runs it (a second attempt) and the document ends up ready exactly once."""
    # The catalog's clock is the test's: on a loaded machine building a worker can take longer
    # than any short real lease, and "its lease still holds" must not depend on that.
    now = [time.time()]
    base = _runtime(tmp_path, postgres_url)
    base.catalog.close()
    rt = Runtime(
        settings=base.settings,
        catalog=PostgresCatalog(postgres_url, clock=lambda: now[0]),
        models=base.models,
    )
    try:
        job_id = _add(rt, "planes.txt")
        dead = rt.catalog.claim_job("host-b:dead-worker", lease_seconds=60)
        assert dead is not None and dead.id == job_id
        assert build_worker(rt).run_until_idle() == []  # its lease still holds
        now[0] += 61  # the dead worker never renewed it
        [outcome] = build_worker(rt).run_until_idle()
        assert (outcome.job_id, outcome.ok) == (job_id, True)
        job = rt.catalog.get_job(job_id)
        assert job is not None and (job.status, job.attempts) == (JobStatus.DONE, 2)
        [doc] = rt.catalog.list_documents()
        assert doc.status == DocumentStatus.READY
        assert len(rt.catalog.chunks(doc.id)) == doc.chunks == rt.store.count(doc.id)
    finally:
        rt.close()


def test_a_connection_lost_mid_job_fails_the_job_and_a_retry_loses_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    """The worker's connection dies while the job runs (here: while it waits for a row another
    session holds): that job fails with a readable error, the worker carries on, and a retry
    makes the document ready with nothing missing or doubled."""
    rt = _runtime(tmp_path, postgres_url)
    try:
        job_id = _add(rt, "trains.txt")
        [doc] = rt.catalog.list_documents()
        outcomes: list[JobOutcome | None] = []
        with psycopg.connect(postgres_url) as admin:
            # Hold the document's row: the worker's first write of the job waits for it.
            admin.execute("SELECT 1 FROM documents WHERE id = %s FOR UPDATE", (doc.id,))
            worker = threading.Thread(target=lambda: outcomes.append(build_worker(rt).run_once()))
            worker.start()
            waiting = _backend_waiting_on("UPDATE documents", postgres_url)
            with psycopg.connect(postgres_url, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", (waiting,))
            admin.rollback()
            worker.join(timeout=60)
        [outcome] = outcomes
        assert outcome is not None and (outcome.job_id, outcome.ok) == (job_id, False)
        assert outcome.error is not None and "unavailable" in outcome.error
        job = rt.catalog.get_job(job_id)
        assert job is not None and job.status == JobStatus.FAILED
        failed = rt.catalog.get_document(doc.id)
        assert failed is not None and failed.status == DocumentStatus.FAILED

        retried = library.retry(rt.catalog, doc.id, PARAMS)
        [again] = build_worker(rt).run_until_idle()
        assert (again.job_id, again.ok) == (retried.id, True)
        ready = rt.catalog.get_document(doc.id)
        assert ready is not None and ready.status == DocumentStatus.READY
        assert len(rt.catalog.chunks(doc.id)) == ready.chunks == rt.store.count(doc.id)
        assert [r.doc_id for r, _ in rt.catalog.bm25_search("depots brakes", limit=5)] == [doc.id]
    finally:
        rt.close()


def _backend_waiting_on(statement: str, url: str, timeout: float = 30.0) -> int:
    """The pid of the session waiting for a lock while running ``statement``."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as probe:
        while time.monotonic() < deadline:
            row = probe.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %s AND datname = current_database()",
                (statement + "%",),
            ).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.02)
    raise AssertionError(f"no session waited on {statement!r} within {timeout:g} s")
