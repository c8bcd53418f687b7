"""ragcore.library: retrying a failed document, and naming a job whose document was deleted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragcore import library
from ragcore.catalog import DocumentStatus, JobKind
from ragcore.runtime import Runtime
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

ADDED_WITH = ChunkingParams(Strategy.SENTENCE, 64, 2)
DEFAULT = ChunkingParams()


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "data", image_model="", parse_sandbox=False)
    yield runtime
    runtime.close()


def _add(rt: Runtime, name: str) -> library.Added:
    return library.add_bytes(
        rt.catalog, rt.settings.uploads_dir, name, [f"Words of {name}.".encode()], ADDED_WITH
    )


def test_retry_queues_a_failed_document_with_the_chunking_it_was_added_with(rt: Runtime) -> None:
    added = _add(rt, "a.txt")
    assert added.job is not None
    claimed = rt.catalog.claim_job("w", lease_seconds=5.0)
    assert claimed is not None
    rt.catalog.fail_job(claimed.id, "w", "it broke")
    rt.catalog.set_document_status(added.document.id, DocumentStatus.FAILED, error="it broke")

    job = library.retry(rt.catalog, added.document.id, DEFAULT)
    assert job.id != added.job.id and job.kind == JobKind.INGEST and job.status == "queued"
    assert (job.params["strategy"], job.params["chunk_size"], job.params["overlap"]) == (
        "sentence",
        64,
        2,
    )
    doc = rt.catalog.get_document(added.document.id)
    assert doc is not None and (doc.status, doc.error) == (DocumentStatus.QUEUED, None)


def test_retry_refuses_a_document_that_has_not_failed_or_does_not_exist(rt: Runtime) -> None:
    added = _add(rt, "b.txt")
    with pytest.raises(ValueError, match=r"b\.txt has not failed"):
        library.retry(rt.catalog, added.document.id, DEFAULT)
    with pytest.raises(KeyError, match="no document with id nope"):
        library.retry(rt.catalog, "nope", DEFAULT)


def test_a_job_keeps_its_files_name_after_the_document_is_deleted(rt: Runtime) -> None:
    added = _add(rt, "report.txt")
    assert added.job is not None
    names = {d.id: d.name for d in rt.catalog.list_documents()}
    assert library.job_file_name(added.job, names) == "report.txt"
    library.delete_document(rt.catalog, rt.store, added.document.id)
    job = rt.catalog.get_job(added.job.id)
    assert job is not None and job.status == "cancelled"
    assert library.job_file_name(job, {}) == "report.txt (deleted)"
    reindexed = rt.catalog.enqueue("f" * 64, JobKind.INGEST, {})  # a job from before names
    assert library.job_file_name(reindexed, {}) == "a deleted document"
