"""Tests of the SQLite catalog: schema, documents, chunks + FTS sync, and the job queue."""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragcore.catalog import Catalog, DocumentNotFound, DocumentRecord, JobRecord
from ragcore.errors import SchemaMismatch
from ragcore.types import Chunk, ChunkKind, Strategy, point_id


class FakeClock:
    """A clock the test moves by hand, so lease expiry needs no sleeping."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "catalog.sqlite3"


@pytest.fixture
def catalog(db_path: Path, clock: FakeClock) -> Iterator[Catalog]:
    cat = Catalog(db_path, clock=clock)
    yield cat
    cat.close()


def make_doc(doc_id: str = "doc-a", name: str = "a.txt") -> DocumentRecord:
    return DocumentRecord(
        id=doc_id, name=name, mime="text/plain", size_bytes=123, path=f"/uploads/{doc_id}"
    )


def make_chunks(doc_id: str, texts: list[str], *, image_at: int | None = None) -> list[Chunk]:
    """One chunk per text, laid end to end on page 1 (offsets consistent with the page text)."""
    chunks: list[Chunk] = []
    start = 0
    for no, text in enumerate(texts):
        is_image = no == image_at
        chunks.append(
            Chunk(
                doc_id=doc_id,
                chunk_no=no,
                page=1,
                start=start,
                end=start + len(text),
                text=text,
                kind=ChunkKind.IMAGE if is_image else ChunkKind.TEXT,
                image_index=0 if is_image else None,
            )
        )
        start += len(text) + 1
    return chunks


def add_ready_doc(catalog: Catalog, doc_id: str, texts: list[str]) -> None:
    catalog.upsert_document(make_doc(doc_id, f"{doc_id}.txt"))
    catalog.replace_chunks(
        doc_id, make_chunks(doc_id, texts), embed_model="hash-384", stats={"pages": 1}
    )


def indexed_terms(db_path: Path) -> set[str]:
    """Every term in the FTS index itself (not the content table), read with fts5vocab."""
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, chunks_fts, 'row')")
        return {term for (term,) in conn.execute("SELECT term FROM temp.vocab")}
    finally:
        conn.close()


def fts_integrity_check(db_path: Path) -> None:
    """FTS5 compares its index with the content table (rank=1) and raises if they differ."""
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()


# --- schema -----------------------------------------------------------------------------------


def test_schema_is_wal_with_foreign_keys_and_all_tables(catalog: Catalog, db_path: Path) -> None:
    own = catalog._open_connection()
    assert own.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert own.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        conn.close()
    assert {"documents", "chunks", "chunks_fts", "jobs"} <= names


def test_reopening_keeps_the_data(db_path: Path, clock: FakeClock) -> None:
    with Catalog(db_path, clock=clock) as first:
        add_ready_doc(first, "doc-a", ["persistent aardvark"])
    with Catalog(db_path, clock=clock) as second:
        assert second.get_document("doc-a") is not None
        assert [row.text for row, _ in second.bm25_search("aardvark", limit=5)] == [
            "persistent aardvark"
        ]


def test_a_catalog_from_a_newer_app_is_refused(db_path: Path) -> None:
    Catalog(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaMismatch, match="newer version"):
        Catalog(db_path)


def test_a_closed_catalog_says_so(db_path: Path) -> None:
    cat = Catalog(db_path)
    cat.close()
    cat.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        cat.list_documents()


def test_constructor_rejects_bad_settings(db_path: Path) -> None:
    with pytest.raises(ValueError, match="max_attempts must be >= 1, got 0"):
        Catalog(db_path, max_attempts=0)


# --- documents --------------------------------------------------------------------------------


def test_upsert_dedupes_by_content_id(catalog: Catalog, clock: FakeClock) -> None:
    first, created = catalog.upsert_document(make_doc("same-sha", "report.pdf"))
    assert created
    assert first.created_at == clock.now
    assert first.status == "queued"
    clock.advance(5)
    again, created_again = catalog.upsert_document(make_doc("same-sha", "copy of report.pdf"))
    assert not created_again
    assert again == first  # the existing row, unchanged
    assert [d.name for d in catalog.list_documents()] == ["report.pdf"]


def test_list_documents_is_newest_first(catalog: Catalog, clock: FakeClock) -> None:
    for doc_id in ("old", "middle", "new"):
        catalog.upsert_document(make_doc(doc_id))
        clock.advance(1)
    assert [d.id for d in catalog.list_documents()] == ["new", "middle", "old"]
    assert catalog.get_document("missing") is None


def test_set_document_status_sets_known_fields_and_refuses_others(catalog: Catalog) -> None:
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


def test_document_record_validates_its_status() -> None:
    with pytest.raises(ValueError, match="'weird'"):
        DocumentRecord(id="x", name="x", mime="text/plain", size_bytes=1, path="/x", status="weird")


def test_replace_chunks_stores_chunks_counts_and_marks_ready(catalog: Catalog) -> None:
    catalog.upsert_document(make_doc())
    catalog.set_document_status("doc-a", "failed", error="earlier try failed")
    chunks = make_chunks(
        "doc-a", ["first text chunk", "a figure of a pelican", "last chunk"], image_at=1
    )
    catalog.replace_chunks(
        "doc-a",
        chunks,
        embed_model="hash-384",
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
    assert {r.embed_model for r in rows} == {"hash-384"}


def test_reindex_leaves_only_the_new_chunks_in_table_and_fts(
    catalog: Catalog, db_path: Path
) -> None:
    add_ready_doc(catalog, "doc-a", ["zebra stripes", "zebra herd", "zebra foal"])
    assert len(catalog.bm25_search("zebra", limit=10)) == 3

    catalog.replace_chunks(
        "doc-a", make_chunks("doc-a", ["quokka smile"]), embed_model="m2", stats={}
    )

    assert [r.text for r in catalog.chunks()] == ["quokka smile"]
    assert catalog.bm25_search("zebra", limit=10) == []
    assert [r.text for r, _ in catalog.bm25_search("quokka", limit=10)] == ["quokka smile"]
    terms = indexed_terms(db_path)
    assert "zebra" not in terms and "quokka" in terms
    fts_integrity_check(db_path)
    doc = catalog.get_document("doc-a")
    assert doc is not None and (doc.chunks, doc.embed_model) == (1, "m2")


def test_replace_chunks_is_all_or_nothing(catalog: Catalog, db_path: Path) -> None:
    add_ready_doc(catalog, "doc-a", ["original walrus text"])
    broken = [*make_chunks("doc-a", ["new narwhal text"]), Chunk("doc-a", 1, 1, 0, 1, None)]  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        catalog.replace_chunks("doc-a", broken, embed_model="m", stats={})
    # The failed insert rolled back the delete too: the old chunks are still there and findable.
    assert [r.text for r in catalog.chunks("doc-a")] == ["original walrus text"]
    assert len(catalog.bm25_search("walrus", limit=5)) == 1
    assert catalog.bm25_search("narwhal", limit=5) == []
    fts_integrity_check(db_path)


def test_replace_chunks_refuses_bad_input(catalog: Catalog) -> None:
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


def test_delete_removes_document_from_keyword_search_at_once(
    catalog: Catalog, db_path: Path
) -> None:
    add_ready_doc(catalog, "doc-a", ["the axolotl regrows limbs", "axolotl habitat"])
    add_ready_doc(catalog, "doc-b", ["the axolotl is mentioned here once"])
    ingest = catalog.enqueue("doc-a", "ingest")
    delete = catalog.enqueue("doc-a", "delete")

    assert catalog.delete_document("doc-a") is True

    assert catalog.get_document("doc-a") is None
    assert catalog.chunks("doc-a") == []
    assert [r.doc_id for r, _ in catalog.bm25_search("axolotl", limit=10)] == ["doc-b"]
    assert catalog.bm25_search("regrows limbs habitat", limit=10) == []
    assert not {"regrow", "limb", "habitat"} & indexed_terms(db_path)
    fts_integrity_check(db_path)
    # Its ingest job is cancelled; the delete job (the caller, in the worker) is left alone.
    assert catalog.get_job(ingest.id) == _with(ingest, status="cancelled")
    assert catalog.get_job(delete.id) == delete
    assert catalog.delete_document("doc-a") is False


def _with(job: JobRecord, **changes: object) -> JobRecord:
    """The job as expected after ``changes`` (timestamps follow the fake clock, which stood still)."""
    return JobRecord(**{**job.__dict__, "lease_until": None, **changes})


def test_fts_finds_a_distinctive_phrase_in_the_right_chunk(catalog: Catalog) -> None:
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


def test_image_chunk_page_context_is_searchable(catalog: Catalog) -> None:
    catalog.upsert_document(make_doc())
    chunks = make_chunks("doc-a", ["plain text", "Figure 3: a lighthouse at dusk"], image_at=1)
    catalog.replace_chunks("doc-a", chunks, embed_model="m", stats={})
    [(row, _)] = catalog.bm25_search("lighthouse", limit=5)
    assert row.kind is ChunkKind.IMAGE


def test_doc_filter_is_applied_before_the_limit(catalog: Catalog) -> None:
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


def test_chunks_by_point_ids_skips_unknown_ids(catalog: Catalog) -> None:
    add_ready_doc(catalog, "doc-a", ["one", "two", "three"])
    wanted = [point_id("doc-a", 2), point_id("doc-a", 0), "not-a-point"]
    found = catalog.chunks_by_point_ids(wanted)
    assert {pid: row.text for pid, row in found.items()} == {
        point_id("doc-a", 2): "three",
        point_id("doc-a", 0): "one",
    }
    assert catalog.chunks_by_point_ids([]) == {}


def test_counts(catalog: Catalog) -> None:
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


# --- jobs -------------------------------------------------------------------------------------


def test_enqueue_returns_the_active_job_instead_of_a_duplicate(catalog: Catalog) -> None:
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


def test_enqueue_refuses_bad_kind_and_params(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match=r"job kind must be one of.*'explode'"):
        catalog.enqueue("doc-a", "explode")
    with pytest.raises(ValueError, match="plain JSON values"):
        catalog.enqueue("doc-a", "ingest", {"when": object()})


def test_claim_takes_the_oldest_job_of_the_wanted_kinds(catalog: Catalog, clock: FakeClock) -> None:
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


def test_expired_lease_is_retried_and_the_old_worker_is_told_to_stop(
    db_path: Path, clock: FakeClock
) -> None:
    with Catalog(db_path, clock=clock) as one, Catalog(db_path, clock=clock) as two:
        job = one.enqueue("doc-a")
        assert one.claim_job("crashy", lease_seconds=10) is not None
        clock.advance(5)
        assert two.claim_job("rescuer", lease_seconds=10) is None  # lease still valid

        clock.advance(6)  # 11 s without a heartbeat: the lease has expired
        retried = two.claim_job("rescuer", lease_seconds=10)
        assert retried is not None and retried.id == job.id
        assert (retried.worker_id, retried.attempts) == ("rescuer", 2)

        assert not one.heartbeat(
            job.id, "crashy", stage="embedding", progress=0.5, lease_seconds=10
        )
        assert not one.finish_job(job.id, "crashy")
        assert two.heartbeat(job.id, "rescuer", stage="embedding", progress=0.5, lease_seconds=10)
        assert two.finish_job(job.id, "rescuer")
        done = one.get_job(job.id)
        assert done is not None
        assert (done.status, done.stage, done.progress, done.worker_id) == (
            "done",
            "done",
            1.0,
            "rescuer",
        )


def test_heartbeat_extends_the_lease_and_records_progress(
    catalog: Catalog, clock: FakeClock
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


def test_a_job_that_keeps_crashing_workers_is_given_up(db_path: Path, clock: FakeClock) -> None:
    with Catalog(db_path, clock=clock, max_attempts=2) as catalog:
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


def test_fail_job_records_the_error(catalog: Catalog) -> None:
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


def test_cancel_stops_queued_and_running_jobs(catalog: Catalog) -> None:
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


def test_jobs_listing(catalog: Catalog) -> None:
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


# --- concurrency ------------------------------------------------------------------------------

N_JOBS = 50


def _fill_queue(path: Path) -> set[int]:
    with Catalog(path) as catalog:
        return {catalog.enqueue(f"doc-{i}").id for i in range(N_JOBS)}


def _claim_until_empty(catalog: Catalog, worker_id: str) -> list[int]:
    claimed: list[int] = []
    while (job := catalog.claim_job(worker_id, lease_seconds=600)) is not None:
        claimed.append(job.id)
        time.sleep(0.001)  # give the other worker a turn between claims
    return claimed


def _claim_in_process(path: str, worker_id: str, start: Any, results: Any) -> None:
    """Body of a worker process: its own Catalog on the shared file."""
    with Catalog(Path(path)) as catalog:
        start.wait(timeout=60)
        claimed = _claim_until_empty(catalog, worker_id)
    results.put((worker_id, claimed))


def _assert_each_job_claimed_once(expected: set[int], claims: dict[str, list[int]]) -> None:
    everything = [job_id for ids in claims.values() for job_id in ids]
    assert len(everything) == len(set(everything)), "a job was claimed twice"
    assert set(everything) == expected
    assert all(claims.values()), f"one worker claimed nothing: {claims}"


@pytest.mark.parametrize("shared", [True, False], ids=["one-shared-catalog", "catalog-per-thread"])
def test_two_threads_never_claim_the_same_job(db_path: Path, shared: bool) -> None:
    expected = _fill_queue(db_path)
    catalogs = [Catalog(db_path)] * 2 if shared else [Catalog(db_path), Catalog(db_path)]
    start = threading.Barrier(2)
    claims: dict[str, list[int]] = {}

    def work(worker_id: str, catalog: Catalog) -> None:
        start.wait(timeout=60)
        claims[worker_id] = _claim_until_empty(catalog, worker_id)

    threads = [threading.Thread(target=work, args=(f"t{i}", cat)) for i, cat in enumerate(catalogs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for cat in catalogs:
        cat.close()
    _assert_each_job_claimed_once(expected, claims)


@pytest.mark.integration  # starts a process
def test_two_processes_never_claim_the_same_job(db_path: Path) -> None:
    expected = _fill_queue(db_path)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    results: multiprocessing.Queue[tuple[str, list[int]]] = ctx.Queue()
    procs = [
        ctx.Process(target=_claim_in_process, args=(str(db_path), f"p{i}", start, results))
        for i in range(2)
    ]
    for p in procs:
        p.start()
    claims: dict[str, list[int]] = {}
    try:
        for _ in procs:
            worker_id, ids = results.get(timeout=60)
            claims[worker_id] = ids
    except queue.Empty:
        pytest.fail("a worker process did not report its claims within 60 s")
    finally:
        for p in procs:
            p.join(timeout=10)
    assert [p.exitcode for p in procs] == [0, 0]
    _assert_each_job_claimed_once(expected, claims)


def test_claim_can_be_limited_to_given_jobs(catalog: Catalog, clock: FakeClock) -> None:
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
