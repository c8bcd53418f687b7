"""One contract for every catalog backend: the SQLite file and PostgreSQL answer alike.

Each test runs on both (``catalog`` is parametrized); the PostgreSQL runs start a throw-away
cluster and are marked ``postgres``. Backend-specific matters (SQLite's file, FTS5 internals,
PostgreSQL's migrations and connection loss) are tested beside each backend, not here.
"""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ragcore import conversations
from ragcore.catalog import (
    Catalog,
    CollectionExists,
    CollectionNotFound,
    ConversationNotFound,
    DocumentNotFound,
    JobRecord,
    SpaceBusy,
    SpaceChanged,
    SpaceRecord,
    TurnRow,
)
from ragcore.catalog.backend import CatalogBackend
from ragcore.catalog.postgres import PostgresCatalog
from ragcore.conversations import Turn
from ragcore.types import Chunk, ChunkKind, Strategy, point_id
from tests.ragcore.catalog_samples import FakeClock, add_ready_doc, make_chunks, make_doc
from tests.ragcore.sample_answer import sample_answer

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _open_at(where: str, **options: Any) -> CatalogBackend:
    """A catalog on ``where``: a PostgreSQL URL, or a SQLite file."""
    if where.startswith("postgresql://"):
        return PostgresCatalog(where, startup_timeout=10, **options)
    return Catalog(Path(where), **options)


class Opener:
    """Opens catalogs on one shared database (several = several processes' views of it), on
    the test's clock unless told otherwise; closes them all at the end of the test."""

    def __init__(self, where: str, clock: Callable[[], float]) -> None:
        self.where = where
        self.clock = clock
        self.opened: list[CatalogBackend] = []

    def __call__(self, **options: Any) -> CatalogBackend:
        options.setdefault("clock", self.clock)
        catalog = _open_at(self.where, **options)
        self.opened.append(catalog)
        return catalog

    def close_all(self) -> None:
        for catalog in self.opened:
            catalog.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def open_catalog(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Opener]:
    if request.param == "sqlite":
        where = str(tmp_path / "data" / "catalog.sqlite3")
    else:
        where = request.getfixturevalue("postgres_url")
    opener = Opener(where, clock)
    try:
        yield opener
    finally:
        opener.close_all()


@pytest.fixture
def catalog(open_catalog: Opener) -> CatalogBackend:
    return open_catalog()


def _with(job: JobRecord, **changes: object) -> JobRecord:
    return JobRecord(**{**job.__dict__, "lease_until": None, **changes})


def test_both_backends_are_the_protocol(catalog: CatalogBackend) -> None:
    assert isinstance(catalog, Catalog | PostgresCatalog)
    status = catalog.status()
    assert status.backend in ("sqlite", "postgresql")
    assert status.version and status.location
    assert (status.queue_depth, status.running_jobs) == (0, 0)


def test_status_counts_the_queue(catalog: CatalogBackend) -> None:
    for i in range(3):
        catalog.enqueue(f"doc-{i}")
    catalog.claim_job("w1", lease_seconds=10)
    status = catalog.status()
    assert (status.queue_depth, status.running_jobs) == (2, 1)
    if status.backend == "postgresql":
        assert status.pool_size is not None and status.pool_size >= 1
        assert status.pool_available is not None and 0 <= status.pool_available <= status.pool_size
        assert "@" not in status.location  # no user or password in what the System view shows
    else:
        assert status.location.endswith("catalog.sqlite3") and status.pool_size is None


def test_a_closed_catalog_says_so(open_catalog: Opener) -> None:
    cat = open_catalog()
    cat.close()
    cat.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        cat.list_documents()


def test_reopening_keeps_the_data(open_catalog: Opener) -> None:
    with open_catalog() as first:
        add_ready_doc(first, "doc-a", ["persistent aardvark"])
    with open_catalog() as second:
        assert second.get_document("doc-a") is not None
        assert [row.text for row, _ in second.bm25_search("aardvark", limit=5)] == [
            "persistent aardvark"
        ]


def test_constructor_rejects_bad_settings(open_catalog: Opener) -> None:
    with pytest.raises(ValueError, match="max_attempts must be >= 1, got 0"):
        open_catalog(max_attempts=0)


# --- documents --------------------------------------------------------------------------------


def test_upsert_dedupes_by_content_id(catalog: CatalogBackend, clock: FakeClock) -> None:
    first, created = catalog.upsert_document(make_doc("same-sha", "report.pdf"))
    assert created
    assert first.created_at == clock.now
    assert first.status == "queued"
    clock.advance(5)
    again, created_again = catalog.upsert_document(make_doc("same-sha", "copy of report.pdf"))
    assert not created_again
    assert again == first  # the existing row, unchanged
    assert [d.name for d in catalog.list_documents()] == ["report.pdf"]


def test_a_document_reads_back_as_written(catalog: CatalogBackend) -> None:
    doc = replace(make_doc(), pages=4, warnings="OCR is not available", pages_ocr=1)
    stored, _ = catalog.upsert_document(doc)
    assert replace(stored, created_at=0.0, updated_at=0.0) == doc
    assert catalog.get_document(doc.id) == stored


def test_document_names_come_in_one_call_and_leave_out_unknown_ids(
    catalog: CatalogBackend,
) -> None:
    catalog.upsert_document(make_doc("doc-a", "a.txt"))
    catalog.upsert_document(make_doc("doc-b", "b report.pdf"))
    names = catalog.document_names(["doc-b", "doc-a", "gone"])
    assert names == {"doc-a": "a.txt", "doc-b": "b report.pdf"}
    assert catalog.document_names([]) == {}


def test_list_documents_is_newest_first(catalog: CatalogBackend, clock: FakeClock) -> None:
    for doc_id in ("old", "middle", "new"):
        catalog.upsert_document(make_doc(doc_id))
        clock.advance(1)
    # Documents added in the same instant: the one added last comes first.
    catalog.upsert_document(make_doc("same-1"))
    catalog.upsert_document(make_doc("same-2"))
    assert [d.id for d in catalog.list_documents()] == ["same-2", "same-1", "new", "middle", "old"]
    assert catalog.get_document("missing") is None


def test_set_document_status_sets_known_fields_and_refuses_others(
    catalog: CatalogBackend,
) -> None:
    catalog.upsert_document(make_doc())
    catalog.set_document_status(
        "doc-a", "processing", pages=7, strategy=Strategy.SENTENCE, chunk_size=120
    )
    doc = catalog.get_document("doc-a")
    assert doc is not None
    assert (doc.status, doc.pages, doc.strategy, doc.chunk_size) == (
        "processing",
        7,
        "sentence",
        120,
    )
    catalog.set_document_status("doc-a", "failed", error="the PDF is encrypted")
    doc = catalog.get_document("doc-a")
    assert doc is not None and (doc.status, doc.error) == ("failed", "the PDF is encrypted")

    with pytest.raises(ValueError, match=r"unknown document field.*colour"):
        catalog.set_document_status("doc-a", "ready", colour="red")
    with pytest.raises(ValueError, match=r"document status must be one of.*'done'"):
        catalog.set_document_status("doc-a", "done")
    with pytest.raises(DocumentNotFound, match="'nope'"):
        catalog.set_document_status("nope", "ready")


def test_replace_chunks_stores_chunks_counts_and_marks_ready(catalog: CatalogBackend) -> None:
    catalog.upsert_document(make_doc())
    catalog.set_document_status("doc-a", "failed", error="earlier try failed")
    chunks = make_chunks(
        "doc-a", ["first text chunk", "a figure of a pelican", "last chunk"], image_at=1
    )
    chunks[2] = replace(chunks[2], location="sheet Q3, rows 2-4", ocr_confidence=87.5)
    catalog.replace_chunks(
        "doc-a",
        chunks,
        embed_model="hash-384",
        embed_fingerprint="fp-1",
        stats={"pages": 3, "pages_without_text": 1, "strategy": "fixed", "overlap": 5},
    )
    doc = catalog.get_document("doc-a")
    assert doc is not None
    # ``chunks`` counts text chunks; image chunks are counted apart, as ``images``.
    assert (doc.status, doc.error, doc.chunks, doc.images) == ("ready", None, 2, 1)
    assert (doc.pages, doc.pages_without_text, doc.strategy, doc.overlap) == (3, 1, "fixed", 5)
    assert doc.embed_model == "hash-384"
    rows = catalog.chunks("doc-a")
    assert [r.to_chunk() for r in rows] == chunks
    assert rows[1].kind is ChunkKind.IMAGE and rows[1].image_index == 0
    assert [r.point_id for r in rows] == [point_id("doc-a", n) for n in range(3)]
    assert {(r.embed_model, r.embed_fingerprint) for r in rows} == {("hash-384", "fp-1")}
    assert len({r.rowid for r in rows}) == 3


def test_reindex_leaves_only_the_new_chunks_in_keyword_search(catalog: CatalogBackend) -> None:
    add_ready_doc(catalog, "doc-a", ["zebra stripes", "zebra herd", "zebra foal"])
    assert len(catalog.bm25_search("zebra", limit=10)) == 3

    catalog.replace_chunks(
        "doc-a", make_chunks("doc-a", ["quokka smile"]), embed_model="m2", stats={}
    )

    assert [r.text for r in catalog.chunks()] == ["quokka smile"]
    assert catalog.bm25_search("zebra", limit=10) == []
    assert [r.text for r, _ in catalog.bm25_search("quokka", limit=10)] == ["quokka smile"]
    doc = catalog.get_document("doc-a")
    assert doc is not None and (doc.chunks, doc.embed_model) == (1, "m2")


def test_replace_chunks_is_all_or_nothing(catalog: CatalogBackend) -> None:
    add_ready_doc(catalog, "doc-a", ["original walrus text"])
    broken = [*make_chunks("doc-a", ["new narwhal text"]), Chunk("doc-a", 1, 1, 0, 1, None)]  # type: ignore[arg-type]
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError, TypeError)):
        catalog.replace_chunks("doc-a", broken, embed_model="m", stats={})
    # The failed insert rolled back the delete too: the old chunks are still there and findable.
    assert [r.text for r in catalog.chunks("doc-a")] == ["original walrus text"]
    assert len(catalog.bm25_search("walrus", limit=5)) == 1
    assert catalog.bm25_search("narwhal", limit=5) == []


def test_replace_chunks_refuses_bad_input(catalog: CatalogBackend) -> None:
    catalog.upsert_document(make_doc())
    with pytest.raises(ValueError, match="belongs to document 'other'"):
        catalog.replace_chunks("doc-a", make_chunks("other", ["x"]), embed_model="m", stats={})
    twice = make_chunks("doc-a", ["x"]) * 2
    with pytest.raises(ValueError, match="chunk numbers repeat"):
        catalog.replace_chunks("doc-a", twice, embed_model="m", stats={})
    with pytest.raises(ValueError, match=r"unknown document field.*chunks"):
        catalog.replace_chunks("doc-a", [], embed_model="m", stats={"chunks": 9})
    with pytest.raises(DocumentNotFound, match="deleted while indexing"):
        catalog.replace_chunks("gone", make_chunks("gone", ["x"]), embed_model="m", stats={})


def test_delete_removes_document_from_keyword_search_at_once(catalog: CatalogBackend) -> None:
    add_ready_doc(catalog, "doc-a", ["the axolotl regrows limbs", "axolotl habitat"])
    add_ready_doc(catalog, "doc-b", ["the axolotl is mentioned here once"])
    ingest = catalog.enqueue("doc-a", "ingest")
    delete = catalog.enqueue("doc-a", "delete")

    assert catalog.delete_document("doc-a") is True

    assert catalog.get_document("doc-a") is None
    assert catalog.chunks("doc-a") == []
    assert [r.doc_id for r, _ in catalog.bm25_search("axolotl", limit=10)] == ["doc-b"]
    assert catalog.bm25_search("regrows limbs habitat", limit=10) == []
    # Its ingest job is cancelled; the delete job (the caller, in the worker) is left alone.
    assert catalog.get_job(ingest.id) == _with(ingest, status="cancelled")
    assert catalog.get_job(delete.id) == delete
    assert catalog.delete_document("doc-a") is False


def test_keyword_search_ranks_the_distinctive_chunk_first(catalog: CatalogBackend) -> None:
    add_ready_doc(
        catalog,
        "doc-a",
        [
            "Quarterly revenue grew in every region except the north.",
            "The mitochondria is the powerhouse of the cell, biologists say.",
            "Cells divide; the powerhouse metaphor appears in many textbooks.",
        ],
    )
    hits = catalog.bm25_search("powerhouse of the cell mitochondria", limit=5)
    assert hits[0][0].chunk_no == 1
    assert [score for _, score in hits] == sorted((s for _, s in hits), reverse=True)
    assert all(score > 0 for _, score in hits)
    # Porter stemming: another form of the word matches the same chunk.
    assert catalog.bm25_search("revenues growing", limit=5)[0][0].chunk_no == 0
    # Operators and punctuation are plain text, never a syntax error.
    assert catalog.bm25_search('NOT "quoted" (near) co-op*', limit=5) == []
    assert catalog.bm25_search("the of and ?!", limit=5) == []


def test_keyword_scores_agree_between_backends(catalog: CatalogBackend, tmp_path: Path) -> None:
    """The same chunks and question give the same ranking and BM25 scores on both backends."""
    texts = [
        "zero trust assumes no implicit trust granted to assets",
        "trust but verify is not zero trust",
        "network segmentation limits lateral movement",
        "assets and subjects are authenticated before a session",
    ]
    add_ready_doc(catalog, "doc-a", texts)
    with Catalog(tmp_path / "reference.sqlite3") as reference:
        add_ready_doc(reference, "doc-a", texts)
        expected = reference.bm25_search("zero trust assets", limit=10)
    got = catalog.bm25_search("zero trust assets", limit=10)
    assert [r.chunk_no for r, _ in got] == [r.chunk_no for r, _ in expected]
    assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-6)


def test_image_chunk_page_context_is_searchable(catalog: CatalogBackend) -> None:
    catalog.upsert_document(make_doc())
    chunks = make_chunks("doc-a", ["plain text", "Figure 3: a lighthouse at dusk"], image_at=1)
    catalog.replace_chunks("doc-a", chunks, embed_model="m", stats={})
    [(row, _)] = catalog.bm25_search("lighthouse", limit=5)
    assert row.kind is ChunkKind.IMAGE


def test_doc_filter_is_applied_before_the_limit(catalog: CatalogBackend) -> None:
    add_ready_doc(catalog, "doc-b", [f"ocelot ocelot ocelot note {i}" for i in range(8)])
    add_ready_doc(catalog, "doc-a", ["a single ocelot among many other words in a long chunk"])
    assert {r.doc_id for r, _ in catalog.bm25_search("ocelot", limit=3)} == {"doc-b"}
    [(row, _)] = catalog.bm25_search("ocelot", limit=3, doc_ids=["doc-a"])
    assert row.doc_id == "doc-a"
    both = catalog.bm25_search("ocelot", limit=20, doc_ids=["doc-a", "doc-b"])
    assert len(both) == 9
    assert catalog.bm25_search("ocelot", limit=3, doc_ids=[]) == []
    with pytest.raises(ValueError, match="limit must be > 0, got 0"):
        catalog.bm25_search("ocelot", limit=0)


def test_chunks_by_point_ids_skips_unknown_ids(catalog: CatalogBackend) -> None:
    add_ready_doc(catalog, "doc-a", ["one", "two", "three"])
    wanted = [point_id("doc-a", 2), point_id("doc-a", 0), "not-a-point"]
    found = catalog.chunks_by_point_ids(wanted)
    assert {pid: row.text for pid, row in found.items()} == {
        point_id("doc-a", 2): "three",
        point_id("doc-a", 0): "one",
    }
    assert catalog.chunks_by_point_ids([]) == {}


def test_chunks_of_all_documents_in_document_and_chunk_order(catalog: CatalogBackend) -> None:
    add_ready_doc(catalog, "doc-b", ["b0", "b1"])
    add_ready_doc(catalog, "doc-a", ["a0", "a1"])
    assert [(r.doc_id, r.chunk_no) for r in catalog.chunks()] == [
        ("doc-a", 0),
        ("doc-a", 1),
        ("doc-b", 0),
        ("doc-b", 1),
    ]


def test_counts(catalog: CatalogBackend) -> None:
    catalog.upsert_document(make_doc("doc-a"))
    catalog.replace_chunks(
        "doc-a", make_chunks("doc-a", ["x", "y", "z"], image_at=2), embed_model="m", stats={}
    )
    catalog.upsert_document(make_doc("doc-b"))
    catalog.enqueue("doc-b")
    counts = catalog.counts()
    assert counts["documents"] == 2
    assert (counts["chunks"], counts["image_chunks"]) == (3, 1)
    assert (counts["documents_ready"], counts["documents_queued"]) == (1, 1)
    assert (counts["documents_failed"], counts["jobs_queued"], counts["jobs_running"]) == (0, 1, 0)


# --- model spaces -----------------------------------------------------------------------------


def _space(name: str, model: str = "model-a", dim: int = 384) -> SpaceRecord:
    return SpaceRecord(name=name, model_id=model, fingerprint=f"fp-{model}", dim=dim)


def test_the_first_active_space_wins_and_later_ones_get_it(catalog: CatalogBackend) -> None:
    assert catalog.active_space() is None
    first = catalog.ensure_active_space(replace(_space("docqa"), image_dim=512))
    assert (first.name, first.status, first.image_dim) == ("docqa", "active", 512)
    again = catalog.ensure_active_space(_space("other", "model-b"))
    assert again == first
    assert catalog.active_space() == first
    assert catalog.get_space("docqa") == first
    assert catalog.get_space("other") is None


def test_a_re_embed_builds_a_space_then_switches_to_it(
    catalog: CatalogBackend, clock: FakeClock
) -> None:
    catalog.ensure_active_space(_space("docqa"))
    add_ready_doc(catalog, "doc-a", ["one chunk", "another chunk"])
    building = catalog.begin_space(_space("docqa-b", "model-b", 768))
    assert building.status == "building"
    assert catalog.pending_space() == building
    with pytest.raises(SpaceBusy, match="already running"):
        catalog.begin_space(_space("docqa-c", "model-c"))
    with pytest.raises(ValueError, match="already answers questions"):
        catalog.begin_space(_space("docqa"))

    version, rows = catalog.chunks_snapshot()
    assert version == catalog.chunks_version()
    assert [r.text for r in rows] == ["one chunk", "another chunk"]
    clock.advance(1)
    assert catalog.switch_space("docqa-b", expected_version=version)

    active = catalog.active_space()
    assert active is not None and (active.name, active.model_id) == ("docqa-b", "model-b")
    old = catalog.get_space("docqa")
    assert old is not None and old.status == "retired"
    assert catalog.pending_space() is None
    assert {(r.embed_model, r.embed_fingerprint) for r in catalog.chunks()} == {
        ("model-b", "fp-model-b")
    }
    doc = catalog.get_document("doc-a")
    assert doc is not None and doc.embed_model == "model-b"
    assert catalog.embedding_usage() == {("model-b", "fp-model-b"): (1, 2)}
    assert catalog.document_embeddings() == [("doc-a", "model-b", "fp-model-b")]
    # The switch changed no text: the counter did not move.
    assert catalog.chunks_version() == version
    assert [s.name for s in catalog.spaces()] == ["docqa-b", "docqa"]
    with pytest.raises(SpaceChanged, match="not being built"):
        catalog.switch_space("docqa", expected_version=version)


def test_the_chunk_counter_moves_with_every_chunk_change(catalog: CatalogBackend) -> None:
    start = catalog.chunks_version()
    catalog.upsert_document(make_doc("doc-a"))
    catalog.set_document_status("doc-a", "processing")
    assert catalog.chunks_version() == start  # documents alone are not chunks
    # One step per chunk row added or removed, on both backends.
    add_ready_doc(catalog, "doc-a", ["one", "two"])
    assert catalog.chunks_version() == start + 2
    catalog.replace_chunks("doc-a", make_chunks("doc-a", ["three"]), embed_model="m", stats={})
    assert catalog.chunks_version() == start + 2 + 2 + 1
    catalog.delete_document("doc-a")
    assert catalog.chunks_version() == start + 6
    # A document without chunks, deleted: no chunk changed.
    catalog.upsert_document(make_doc("doc-b"))
    before = catalog.chunks_version()
    catalog.delete_document("doc-b")
    assert catalog.chunks_version() == before


def test_a_switch_is_refused_when_chunks_changed_since_the_snapshot(
    catalog: CatalogBackend,
) -> None:
    catalog.ensure_active_space(_space("docqa"))
    add_ready_doc(catalog, "doc-a", ["one chunk"])
    catalog.begin_space(_space("docqa-b", "model-b"))
    version, _ = catalog.chunks_snapshot()
    add_ready_doc(catalog, "doc-b", ["a document added while re-embedding"])
    assert not catalog.switch_space("docqa-b", expected_version=version)
    active = catalog.active_space()
    assert active is not None and active.name == "docqa"  # nothing changed
    assert {r.embed_model for r in catalog.chunks()} == {"hash-384"}


def test_chunks_written_to_a_space_no_longer_active_are_refused(catalog: CatalogBackend) -> None:
    catalog.ensure_active_space(_space("docqa"))
    catalog.upsert_document(make_doc("doc-a"))
    catalog.begin_space(_space("docqa-b", "model-b"))
    version, _ = catalog.chunks_snapshot()
    assert catalog.switch_space("docqa-b", expected_version=version)
    with pytest.raises(SpaceChanged, match="retired now"):
        catalog.replace_chunks(
            "doc-a", make_chunks("doc-a", ["late"]), embed_model="model-a", stats={}, space="docqa"
        )
    assert catalog.chunks("doc-a") == []
    catalog.replace_chunks(
        "doc-a", make_chunks("doc-a", ["on time"]), embed_model="model-b", stats={}, space="docqa-b"
    )
    assert [r.text for r in catalog.chunks("doc-a")] == ["on time"]


def test_update_space_sets_known_fields_only(catalog: CatalogBackend) -> None:
    catalog.begin_space(_space("docqa-b", "model-b"))
    catalog.update_space("docqa-b", status="cancelled", note="cancelled by a person", job_id=7)
    space = catalog.get_space("docqa-b")
    assert space is not None
    assert (space.status, space.note, space.job_id) == ("cancelled", "cancelled by a person", 7)
    assert catalog.pending_space() is None
    with pytest.raises(ValueError, match="unknown space field"):
        catalog.update_space("docqa-b", dim=3)
    with pytest.raises(ValueError, match="space status must be one of"):
        catalog.update_space("docqa-b", status="sleeping")
    # A cancelled space may be built again.
    again = catalog.begin_space(_space("docqa-b", "model-b"))
    assert (again.status, again.note) == ("building", None)


# --- jobs -------------------------------------------------------------------------------------


def test_enqueue_returns_the_active_job_instead_of_a_duplicate(catalog: CatalogBackend) -> None:
    job = catalog.enqueue("doc-a", "ingest", {"strategy": "fixed", "chunk_size": 100})
    assert (job.status, job.stage, job.progress, job.attempts) == ("queued", "queued", 0.0, 0)
    assert job.params == {"strategy": "fixed", "chunk_size": 100}
    assert catalog.enqueue("doc-a", "ingest") == job
    reindex = catalog.enqueue("doc-a", "reindex")
    assert reindex.id != job.id

    claimed = catalog.claim_job("w1", lease_seconds=30, kinds=["ingest"])
    assert claimed is not None and claimed.id == job.id
    assert catalog.enqueue("doc-a", "ingest").id == job.id  # running counts as active
    assert catalog.finish_job(job.id, "w1")
    assert catalog.enqueue("doc-a", "ingest").id not in (job.id, reindex.id)


def test_enqueue_refuses_bad_kind_and_params(catalog: CatalogBackend) -> None:
    with pytest.raises(ValueError, match=r"job kind must be one of.*'explode'"):
        catalog.enqueue("doc-a", "explode")
    with pytest.raises(ValueError, match="plain JSON values"):
        catalog.enqueue("doc-a", "ingest", {"when": object()})


def test_claim_takes_the_oldest_job_of_the_wanted_kinds(
    catalog: CatalogBackend, clock: FakeClock
) -> None:
    first = catalog.enqueue("doc-1", "ingest")
    delete = catalog.enqueue("doc-2", "delete")
    catalog.enqueue("doc-3", "ingest")
    claimed = catalog.claim_job("w1", lease_seconds=30, kinds=["delete"])
    assert claimed is not None and claimed.id == delete.id
    claimed = catalog.claim_job("w1", lease_seconds=30)
    assert claimed is not None and claimed.id == first.id
    assert (claimed.status, claimed.worker_id, claimed.attempts) == ("running", "w1", 1)
    assert claimed.lease_until == clock.now + 30
    assert catalog.claim_job("w1", lease_seconds=30, kinds=["reembed"]) is None
    with pytest.raises(ValueError, match="lease_seconds must be > 0"):
        catalog.claim_job("w1", lease_seconds=0)


def test_a_small_files_worker_claims_the_smallest_documents_first(
    catalog: CatalogBackend,
) -> None:
    catalog.upsert_document(make_doc("big", size=5_000_000))
    catalog.upsert_document(make_doc("small", size=10))
    catalog.upsert_document(make_doc("middle", size=1000))
    for doc_id in ("big", "small", "middle"):
        catalog.enqueue(doc_id)
    catalog.enqueue("space-name", "reembed")  # not on a document: left to the other workers
    order = []
    while (job := catalog.claim_job("small-w", lease_seconds=10, max_doc_bytes=2000)) is not None:
        order.append(job.doc_id)
    assert order == ["small", "middle"]
    with pytest.raises(ValueError, match="max_doc_bytes must be > 0"):
        catalog.claim_job("w", lease_seconds=10, max_doc_bytes=0)


def test_expired_lease_is_retried_and_the_old_worker_is_told_to_stop(
    open_catalog: Opener, clock: FakeClock
) -> None:
    one, two = open_catalog(), open_catalog()
    job = one.enqueue("doc-a")
    assert one.claim_job("crashy", lease_seconds=10) is not None
    clock.advance(5)
    assert two.claim_job("rescuer", lease_seconds=10) is None  # lease still valid

    clock.advance(6)  # 11 s without a heartbeat: the lease has expired
    retried = two.claim_job("rescuer", lease_seconds=10)
    assert retried is not None and retried.id == job.id
    assert (retried.worker_id, retried.attempts) == ("rescuer", 2)

    assert not one.heartbeat(job.id, "crashy", stage="embedding", progress=0.5, lease_seconds=10)
    assert not one.finish_job(job.id, "crashy")
    assert not one.fail_job(job.id, "crashy", "too late")
    assert two.heartbeat(job.id, "rescuer", stage="embedding", progress=0.5, lease_seconds=10)
    assert two.finish_job(job.id, "rescuer")
    done = one.get_job(job.id)
    assert done is not None
    assert (done.status, done.stage, done.progress, done.worker_id, done.error) == (
        "done",
        "done",
        1.0,
        "rescuer",
        None,
    )
    assert done.lease_until is None


def test_heartbeat_extends_the_lease_and_records_progress(
    catalog: CatalogBackend, clock: FakeClock
) -> None:
    job = catalog.enqueue("doc-a")
    catalog.claim_job("w1", lease_seconds=10)
    clock.advance(8)
    assert catalog.heartbeat(job.id, "w1", stage="chunking", progress=0.25, lease_seconds=10)
    clock.advance(8)  # 16 s after the claim, but only 8 s after the heartbeat
    assert catalog.claim_job("w2", lease_seconds=10) is None
    current = catalog.get_job(job.id)
    assert current is not None
    assert (current.stage, current.progress, current.lease_until) == ("chunking", 0.25, 1018.0)

    with pytest.raises(ValueError, match=r"progress must be between 0 and 1, got 1\.5"):
        catalog.heartbeat(job.id, "w1", stage="chunking", progress=1.5, lease_seconds=10)
    with pytest.raises(ValueError, match=r"job stage must be one of.*'thinking'"):
        catalog.heartbeat(job.id, "w1", stage="thinking", progress=0.5, lease_seconds=10)


def test_a_job_that_keeps_crashing_workers_is_given_up(
    open_catalog: Opener, clock: FakeClock
) -> None:
    catalog = open_catalog(max_attempts=2)
    catalog.upsert_document(make_doc())
    catalog.set_document_status("doc-a", "processing")
    job = catalog.enqueue("doc-a")
    later = catalog.enqueue("doc-b")
    for worker in ("w1", "w2"):
        claimed = catalog.claim_job(worker, lease_seconds=5, kinds=["ingest"])
        assert claimed is not None and claimed.id == job.id
        catalog.heartbeat(job.id, worker, stage="parsing", progress=0.1, lease_seconds=5)
        clock.advance(6)

    # The third claim gives the crashing job up and moves on to the next one.
    claimed = catalog.claim_job("w3", lease_seconds=5)
    assert claimed is not None and claimed.id == later.id

    failed = catalog.get_job(job.id)
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and "crashed or hung 2 times" in failed.error
    assert "parsing" in failed.error
    doc = catalog.get_document("doc-a")
    assert doc is not None and (doc.status, doc.error) == ("failed", failed.error)


def test_fail_job_records_the_error(catalog: CatalogBackend) -> None:
    job = catalog.enqueue("doc-a")
    catalog.claim_job("w1", lease_seconds=10)
    assert not catalog.fail_job(job.id, "someone-else", "nope")
    assert catalog.fail_job(job.id, "w1", "the file is not a PDF")
    failed = catalog.get_job(job.id)
    assert failed is not None and (failed.status, failed.error) == (
        "failed",
        "the file is not a PDF",
    )
    assert catalog.claim_job("w2", lease_seconds=10) is None  # failures are not retried


def test_cancel_stops_queued_and_running_jobs(catalog: CatalogBackend) -> None:
    running = catalog.enqueue("doc-a", "ingest")
    catalog.claim_job("w1", lease_seconds=10)
    queued = catalog.enqueue("doc-a", "reembed")
    other = catalog.enqueue("doc-b", "ingest")

    assert catalog.cancel_jobs("doc-a") == 2
    assert catalog.cancel_jobs("doc-a") == 0

    assert not catalog.heartbeat(running.id, "w1", stage="writing", progress=0.9, lease_seconds=10)
    assert not catalog.finish_job(running.id, "w1")
    statuses = [(j.id, j.status) for j in catalog.jobs(doc_id="doc-a")]
    assert statuses == [(queued.id, "cancelled"), (running.id, "cancelled")]
    claimed = catalog.claim_job("w2", lease_seconds=10)
    assert claimed is not None and claimed.id == other.id


def test_jobs_listing(catalog: CatalogBackend) -> None:
    a1 = catalog.enqueue("doc-a", "ingest")
    b1 = catalog.enqueue("doc-b", "ingest")
    a2 = catalog.enqueue("doc-a", "reindex")
    catalog.claim_job("w1", lease_seconds=10)
    catalog.finish_job(a1.id, "w1")
    assert [j.id for j in catalog.jobs()] == [a2.id, b1.id, a1.id]
    assert [j.id for j in catalog.jobs(doc_id="doc-a")] == [a2.id, a1.id]
    assert [j.id for j in catalog.jobs(active_only=True)] == [a2.id, b1.id]
    assert [j.id for j in catalog.jobs(limit=1)] == [a2.id]
    assert catalog.get_job(999) is None
    with pytest.raises(ValueError, match="limit must be > 0"):
        catalog.jobs(limit=0)


def test_claim_can_be_limited_to_given_jobs(catalog: CatalogBackend, clock: FakeClock) -> None:
    """A command waiting for its own files claims only their jobs, even behind older ones."""
    abandoned = catalog.enqueue("doc-old")
    assert catalog.claim_job("killed", lease_seconds=10) is not None
    queued = catalog.enqueue("doc-other")
    mine = catalog.enqueue("doc-mine")
    clock.advance(11)  # the killed command's lease has expired: any worker may retry it
    claimed = catalog.claim_job("me", lease_seconds=10, ids=[mine.id])
    assert claimed is not None and claimed.id == mine.id
    assert catalog.claim_job("me", lease_seconds=10, ids=[mine.id]) is None
    assert catalog.claim_job("me", lease_seconds=10, ids=[]) is None
    left = {j.id: (j.status, j.worker_id) for j in catalog.jobs()}
    assert left[abandoned.id] == ("running", "killed") and left[queued.id] == ("queued", None)


N_JOBS = 60


def test_workers_claiming_at_once_never_get_the_same_job(open_catalog: Opener) -> None:
    """Three workers, each with its own catalog (as separate processes or hosts would have),
    claim from one queue at the same time: every job is claimed exactly once."""
    real_clock = time.time
    filler = open_catalog(clock=real_clock)
    expected = {filler.enqueue(f"doc-{i}").id for i in range(N_JOBS)}
    workers = [open_catalog(clock=real_clock) for _ in range(3)]
    start = threading.Barrier(len(workers))
    claims: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def work(worker_id: str, catalog: CatalogBackend) -> None:
        try:
            start.wait(timeout=60)
            mine: list[int] = []
            while (job := catalog.claim_job(worker_id, lease_seconds=600)) is not None:
                mine.append(job.id)
            claims[worker_id] = mine
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}", cat)) for i, cat in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    everything = [job_id for ids in claims.values() for job_id in ids]
    assert len(everything) == len(set(everything)), "a job was claimed twice"
    assert set(everything) == expected
    assert len(claims) == 3


def _claim_in_process(where: str, worker_id: str, start: Any, results: Any) -> None:
    """Body of a worker process: its own catalog on the shared database."""
    with _open_at(where) as catalog:
        start.wait(timeout=60)
        mine: list[int] = []
        while (job := catalog.claim_job(worker_id, lease_seconds=600)) is not None:
            mine.append(job.id)
    results.put((worker_id, mine))


@pytest.mark.integration  # starts processes
def test_worker_processes_never_claim_the_same_job(open_catalog: Opener) -> None:
    filler = open_catalog(clock=time.time)
    expected = {filler.enqueue(f"doc-{i}").id for i in range(N_JOBS)}
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(3)
    results: multiprocessing.Queue[tuple[str, list[int]]] = ctx.Queue()
    where = open_catalog.where
    procs = [
        ctx.Process(target=_claim_in_process, args=(where, f"p{i}", start, results))
        for i in range(3)
    ]
    for p in procs:
        p.start()
    claims: dict[str, list[int]] = {}
    try:
        for _ in procs:
            worker_id, ids = results.get(timeout=120)
            claims[worker_id] = ids
    except queue.Empty:
        pytest.fail("a worker process did not report its claims within 120 s")
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join(timeout=10)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    everything = [job_id for ids in claims.values() for job_id in ids]
    assert len(everything) == len(set(everything)), "a job was claimed twice"
    assert set(everything) == expected


def test_documents_enqueued_at_once_get_one_job_each(open_catalog: Opener) -> None:
    """Two app replicas enqueueing the same document at the same moment make one job."""
    replicas = [open_catalog(clock=time.time) for _ in range(4)]
    start = threading.Barrier(len(replicas))
    made: list[int] = []

    def enqueue(catalog: CatalogBackend) -> None:
        start.wait(timeout=60)
        made.extend(catalog.enqueue(f"doc-{i}").id for i in range(10))

    threads = [threading.Thread(target=enqueue, args=(c,)) for c in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(made) == 40
    assert len(set(made)) == 10
    assert len(replicas[0].jobs()) == 10


# --- collections ------------------------------------------------------------------------------


def test_collections_are_made_listed_renamed_and_deleted(
    catalog: CatalogBackend, clock: FakeClock
) -> None:
    papers = catalog.create_collection("  Papers ")
    contracts = catalog.create_collection("Contracts")
    assert (papers.name, papers.documents, papers.created_at) == ("Papers", 0, clock.now)
    assert [c.name for c in catalog.collections()] == ["Contracts", "Papers"]
    with pytest.raises(CollectionExists):
        catalog.create_collection("papers")  # one collection to a person, whatever the case
    renamed = catalog.rename_collection("papers", "Research")
    assert (renamed.id, renamed.name) == (papers.id, "Research")
    with pytest.raises(CollectionExists):
        catalog.rename_collection("Research", "contracts")
    assert catalog.get_collection("research") == renamed
    assert catalog.get_collection(contracts.id) == contracts
    assert catalog.get_collection(999) is None
    with pytest.raises(CollectionNotFound):
        catalog.require_collection("Papers")
    assert catalog.ensure_collection("CONTRACTS") == contracts
    made = catalog.ensure_collection("Invoices")
    assert made.name == "Invoices" and catalog.require_collection(made.id) == made
    for bad in ("", "   ", "x" * 81):
        with pytest.raises(ValueError):
            catalog.create_collection(bad)


def test_membership_is_many_to_many_and_reports_what_changed(catalog: CatalogBackend) -> None:
    for doc_id in ("d1", "d2", "d3"):
        catalog.upsert_document(make_doc(doc_id))
    a = catalog.create_collection("A")
    b = catalog.create_collection("B")
    assert sorted(catalog.add_to_collection(a.id, ["d1", "d2", "unknown"])) == ["d1", "d2"]
    assert catalog.add_to_collection(a.id, ["d1"]) == []  # already a member
    assert catalog.add_to_collection(b.id, ["d1"]) == ["d1"]
    assert catalog.memberships() == {"d1": (a.id, b.id), "d2": (a.id,)}
    assert catalog.memberships(["d2", "d3"]) == {"d2": (a.id,)}
    assert catalog.collection_ids_of("d3") == ()
    assert {c.name: c.documents for c in catalog.collections()} == {"A": 2, "B": 1}
    assert catalog.remove_from_collection(a.id, ["d1", "d3"]) == ["d1"]
    assert catalog.collection_ids_of("d1") == (b.id,)
    with pytest.raises(CollectionNotFound):
        catalog.add_to_collection(999, ["d1"])


def test_deleting_a_collection_keeps_its_documents_and_never_reuses_its_id(
    catalog: CatalogBackend,
) -> None:
    catalog.upsert_document(make_doc("d1"))
    old = catalog.create_collection("Old")
    catalog.add_to_collection(old.id, ["d1"])
    assert catalog.delete_collection("Old") == ["d1"]
    assert catalog.get_document("d1") is not None
    assert catalog.memberships() == {}
    new = catalog.create_collection("New")
    assert new.id != old.id  # a payload may still carry the old id
    with pytest.raises(CollectionNotFound):
        catalog.delete_collection("Old")


def test_deleting_a_document_ends_its_memberships(catalog: CatalogBackend) -> None:
    catalog.upsert_document(make_doc("d1"))
    a = catalog.create_collection("A")
    catalog.add_to_collection(a.id, ["d1"])
    catalog.delete_document("d1")
    assert catalog.memberships() == {}
    assert catalog.collections()[0].documents == 0


def test_keyword_search_within_a_collection(catalog: CatalogBackend) -> None:
    add_ready_doc(catalog, "doc-b", [f"ocelot ocelot ocelot note {i}" for i in range(8)])
    add_ready_doc(catalog, "doc-a", ["a single ocelot among many other words in a long chunk"])
    add_ready_doc(catalog, "doc-c", ["ocelot sighting"])
    cats = catalog.create_collection("Cats")
    catalog.add_to_collection(cats.id, ["doc-a", "doc-c"])
    # The collection is applied before the limit, as the document filter is.
    found = catalog.bm25_search("ocelot", limit=2, collection=cats.id)
    assert sorted(r.doc_id for r, _ in found) == ["doc-a", "doc-c"]
    # Both filters together: the documents picked, within the collection.
    [(row, _)] = catalog.bm25_search(
        "ocelot", limit=5, collection=cats.id, doc_ids=["doc-a", "doc-b"]
    )
    assert row.doc_id == "doc-a"
    empty = catalog.create_collection("Empty")
    assert catalog.bm25_search("ocelot", limit=5, collection=empty.id) == []
    assert catalog.bm25_search("ocelot", limit=5, collection=999) == []


# --- conversations ----------------------------------------------------------------------------

SESSION = "session-a"


def test_a_conversation_round_trips_its_answers(open_catalog: Opener) -> None:
    answer = sample_answer()
    catalog = open_catalog()
    chat = conversations.create(catalog, SESSION)  # type: ignore[arg-type]
    assert conversations.title_of(chat) == conversations.UNTITLED
    first = conversations.append(catalog, SESSION, chat.id, Turn(answer.question, answer))  # type: ignore[arg-type]
    second = conversations.append(
        catalog,  # type: ignore[arg-type]
        SESSION,
        chat.id,
        Turn("And the filter?", error="the model failed"),
    )
    assert (first.position, second.position) == (0, 1)
    reopened = open_catalog()  # as after an app restart
    [listed] = conversations.list_for(reopened, SESSION)  # type: ignore[arg-type]
    assert listed.title == answer.question  # the first question names it
    assert listed.user_id is None
    loaded, turns = conversations.load(reopened, SESSION, chat.id)  # type: ignore[arg-type]
    assert loaded == listed
    assert [t.question for t in turns] == [answer.question, "And the filter?"]
    assert turns[0].answer == answer  # every field, sources, quotes and evidence included
    assert turns[1].error == "the model failed" and turns[1].answer is None


def test_turn_rows_read_back_as_stored(catalog: CatalogBackend, clock: FakeClock) -> None:
    chat = catalog.create_conversation(SESSION, "  A   title  ")
    assert (chat.title, chat.session_id, chat.user_id) == ("A title", SESSION, None)
    turn = TurnRow(
        question="q?",
        standalone_question="the q?",
        answer_text="a.",
        mode="llm",
        sources=[{"n": 1, "text": "ü ∑ \u2028"}],
        citations={"1": {"ok": True}},
        detail={"k": [1, 2.5, None]},
        llm="m",
        timings={"total_ms": 3.25},
        error=None,
        stopped=True,
        draft="half",
        edited=True,
    )
    stored = catalog.append_turn(SESSION, chat.id, turn)
    assert stored == replace(turn, position=0, created_at=clock.now)
    assert catalog.turns(SESSION, chat.id) == [stored]
    catalog.set_turn_feedback(SESSION, chat.id, 0, -1)
    assert catalog.turns(SESSION, chat.id)[0].feedback == -1
    catalog.set_turn_feedback(SESSION, chat.id, 0, None)
    assert catalog.turns(SESSION, chat.id)[0].feedback is None
    with pytest.raises(ValueError, match="feedback must be 1, -1 or None"):
        catalog.set_turn_feedback(SESSION, chat.id, 0, 5)
    with pytest.raises(ConversationNotFound):
        catalog.set_turn_feedback(SESSION, chat.id, 9, 1)


def test_conversations_belong_to_their_session(catalog: CatalogBackend, clock: FakeClock) -> None:
    older = catalog.create_conversation(SESSION)
    clock.advance(1)
    newer = catalog.create_conversation(SESSION, user_id="u1")
    other = catalog.create_conversation("session-b")
    assert newer.user_id == "u1"
    assert [c.id for c in catalog.conversations(SESSION)] == [newer.id, older.id]
    clock.advance(1)
    catalog.append_turn(SESSION, older.id, TurnRow(question="first question"))
    listed = catalog.conversations(SESSION)
    assert [c.id for c in listed] == [older.id, newer.id]  # the most recently used first
    assert listed[0].title == "first question"
    renamed = catalog.rename_conversation(SESSION, older.id, "Pump oil")
    assert renamed.title == "Pump oil"
    assert catalog.get_conversation(SESSION, older.id) == renamed

    for call in (
        lambda: catalog.get_conversation(SESSION, other.id),
        lambda: catalog.turns(SESSION, other.id),
        lambda: catalog.rename_conversation(SESSION, other.id, "mine now"),
        lambda: catalog.append_turn(SESSION, other.id, TurnRow(question="x")),
    ):
        with pytest.raises(ConversationNotFound):
            call()
    assert catalog.delete_conversation(SESSION, other.id) is False
    with pytest.raises(ValueError, match="must have words"):
        catalog.rename_conversation(SESSION, older.id, "   ")
    with pytest.raises(ValueError, match="session_id must not be empty"):
        catalog.create_conversation("")

    assert catalog.delete_conversation(SESSION, older.id) is True
    with pytest.raises(ConversationNotFound):
        catalog.turns(SESSION, older.id)
    assert [c.id for c in catalog.conversations("session-b")] == [other.id]
