"""The real ingestion pipeline and worker on a PostgreSQL catalog, as in server mode."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.service import build_worker
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
    rt = _runtime(tmp_path, postgres_url)
    try:
        job_id = _add(rt, "planes.txt")
        dead = rt.catalog.claim_job("host-b:dead-worker", lease_seconds=0.05)
        assert dead is not None and dead.id == job_id
        assert build_worker(rt).run_until_idle() == []  # its lease still holds
        time.sleep(0.1)
        [outcome] = build_worker(rt).run_until_idle()
        assert (outcome.job_id, outcome.ok) == (job_id, True)
        job = rt.catalog.get_job(job_id)
        assert job is not None and (job.status, job.attempts) == (JobStatus.DONE, 2)
        [doc] = rt.catalog.list_documents()
        assert doc.status == DocumentStatus.READY
        assert len(rt.catalog.chunks(doc.id)) == doc.chunks == rt.store.count(doc.id)
    finally:
        rt.close()
