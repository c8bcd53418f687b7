"""What only the SQLite catalog has: its schema, the FTS5 index, one connection shared by threads.

What both catalogs do (documents, chunks, keyword search, jobs) is tested once, on both, in
test_catalog_contract.py.
"""

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

from ragcore.catalog import Catalog, DocumentRecord
from ragcore.errors import SchemaMismatch
from ragcore.types import Chunk
from tests.ragcore.catalog_samples import FakeClock, add_ready_doc, make_chunks


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


def test_a_catalog_from_a_newer_app_is_refused(db_path: Path) -> None:
    Catalog(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaMismatch, match="newer version"):
        Catalog(db_path)


# --- documents --------------------------------------------------------------------------------


def test_document_record_validates_its_status() -> None:
    with pytest.raises(ValueError, match="'weird'"):
        DocumentRecord(id="x", name="x", mime="text/plain", size_bytes=1, path="/x", status="weird")


# What chunks and keyword search do is the contract suite's (test_catalog_contract.py, on both
# backends); these check the FTS5 index itself, which only SQLite has.


def test_reindex_leaves_only_the_new_terms_in_the_fts_index(
    catalog: Catalog, db_path: Path
) -> None:
    add_ready_doc(catalog, "doc-a", ["zebra stripes", "zebra herd", "zebra foal"])
    catalog.replace_chunks(
        "doc-a", make_chunks("doc-a", ["quokka smile"]), embed_model="m2", stats={}
    )
    terms = indexed_terms(db_path)
    assert "zebra" not in terms and "quokka" in terms
    fts_integrity_check(db_path)


def test_a_failed_replace_leaves_the_fts_index_sound(catalog: Catalog, db_path: Path) -> None:
    add_ready_doc(catalog, "doc-a", ["original walrus text"])
    broken = [*make_chunks("doc-a", ["new narwhal text"]), Chunk("doc-a", 1, 1, 0, 1, None)]  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        catalog.replace_chunks("doc-a", broken, embed_model="m", stats={})
    terms = indexed_terms(db_path)  # as the porter stemmer keeps them
    assert "walru" in terms and "narwhal" not in terms
    fts_integrity_check(db_path)


def test_delete_removes_the_documents_terms_from_the_fts_index(
    catalog: Catalog, db_path: Path
) -> None:
    add_ready_doc(catalog, "doc-a", ["the axolotl regrows limbs", "axolotl habitat"])
    add_ready_doc(catalog, "doc-b", ["the axolotl is mentioned here once"])
    assert catalog.delete_document("doc-a") is True
    terms = indexed_terms(db_path)
    assert not {"regrow", "limb", "habitat"} & terms and "axolotl" in terms
    fts_integrity_check(db_path)


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
