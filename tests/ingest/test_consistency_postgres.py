"""`ingest check` on a PostgreSQL catalog: each planted difference is found, and --repair fixes it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ingest.__main__ import main as ingest_main
from ingest.consistency import (
    UPLOAD_GRACE_SECONDS,
    CheckReport,
    check_library,
    describe,
    repair_library,
)
from ingest.service import build_worker
from ragcore import collections, library
from ragcore.catalog.integrity import catalog_integrity
from ragcore.catalog.postgres import PostgresCatalog
from ragcore.catalog.postgres.integrity import PostgresIntegrity
from ragcore.collections import payload_collections
from ragcore.runtime import Runtime, chunking_params
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Point, Strategy, point_id

pytestmark = pytest.mark.postgres

PARAMS = ChunkingParams(Strategy.FIXED, 20, 2)
TEXTS = {
    "alpha.md": "# Alpha\n\n" + "The alpha station logs quokkaflux readings every hour. " * 12,
    "beta.txt": "Beta notes: the zephyrine bridge was repainted in 1987. " * 10,
    "gamma.txt": "Gamma reports: quokkaflux levels near the zephyrine bridge rose in spring. " * 6,
}
QUERY = "quokkaflux zephyrine bridge readings"


@pytest.fixture()
def rt(tmp_path: Path, postgres_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(
        tmp_path / "data", image_model="", parse_sandbox=False, catalog_url=postgres_url
    )
    try:
        for name, text in TEXTS.items():
            library.add_bytes(runtime.catalog, runtime.files, name, [text.encode()], PARAMS)
        build_worker(runtime).run_until_idle()
        reports = runtime.catalog.ensure_collection("Reports")
        collections.add_documents(
            runtime.catalog, runtime.store, reports, [_doc(runtime, "beta.txt")]
        )
        yield runtime
    finally:
        runtime.close()


def _doc(rt: Runtime, name: str) -> str:
    return next(d.id for d in rt.catalog.list_documents() if d.name == name)


def _check(rt: Runtime, **kwargs: object) -> CheckReport:
    return check_library(rt.catalog, rt.store, uploads_dir=rt.files, **kwargs)  # type: ignore[arg-type]


def _repair_and_finish(rt: Runtime, report: CheckReport) -> list[str]:
    done = repair_library(
        rt.catalog, rt.store, report, default_params=chunking_params(rt.settings),
        uploads_dir=rt.files,
    )  # fmt: skip
    build_worker(rt).run_until_idle()
    after = _check(rt)
    assert after.clean, describe(after)
    return done


def _sql(url: str, statement: str, *args: object, replica: bool = False) -> None:
    """Change the database behind the catalog's back (``replica``: foreign keys not enforced)."""
    with psycopg.connect(url) as conn:
        if replica:
            conn.execute("SET session_replication_role = replica")
        conn.execute(statement, args)


def _kinds(report: CheckReport) -> list[str]:
    return sorted(p.kind for p in report.problems)


def _scores(rt: Runtime) -> list[tuple[int, float]]:
    return [(row.rowid, score) for row, score in rt.catalog.bm25_search(QUERY, limit=50)]


def test_a_clean_library_checks_clean(rt: Runtime) -> None:
    assert isinstance(rt.catalog, PostgresCatalog)
    assert isinstance(catalog_integrity(rt.catalog), PostgresIntegrity)
    report = _check(rt)
    assert report.clean, describe(report)
    assert report.documents == 3
    chunks = len(rt.catalog.chunks())
    assert report.chunks == report.keyword_rows == report.points == chunks > 3
    state = catalog_integrity(rt.catalog).keyword_index_state()
    assert state.ok and state.statistics == () and state.stale_count == 0


def test_a_deleted_keyword_row_is_found_and_the_index_rebuilt(
    rt: Runtime, postgres_url: str
) -> None:
    before = _scores(rt)
    alpha = _doc(rt, "alpha.md")
    first = rt.catalog.chunks(alpha)[0]
    _sql(postgres_url, "DELETE FROM keyword_chunks WHERE chunk_id = %s", first.rowid)
    report = _check(rt)
    assert _kinds(report) == ["keyword_index"]
    [problem] = report.problems
    assert "1 chunk rows are missing" in problem.detail
    # The statistics still count the row that went: BM25 would be off for every query.
    assert "the chunk count N is" in problem.detail
    assert report.keyword_rows == report.chunks - 1
    done = _repair_and_finish(rt, report)
    assert "rebuilt the keyword index from the chunk rows" in done
    assert _scores(rt) == before  # bit for bit: the rebuilt index is the one ingestion made


def test_tampered_corpus_statistics_are_found_and_recomputed(
    rt: Runtime, postgres_url: str
) -> None:
    before = _scores(rt)
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT term FROM keyword_terms ORDER BY df DESC, term LIMIT 1"
        ).fetchone()
    assert row is not None
    term = str(row[0])
    _sql(postgres_url, "UPDATE keyword_terms SET df = df + 3 WHERE term = %s", term)
    _sql(postgres_url, "UPDATE keyword_corpus SET chunks = chunks + 7, tokens = tokens + 11")
    assert _scores(rt) != before  # no error anywhere, yet every ranking changed
    report = _check(rt)
    assert _kinds(report) == ["keyword_index"]
    detail = report.problems[0].detail
    assert "the chunk count N is" in detail and "the total length is" in detail
    assert f"document frequency of 1 term differs from the rows ({term!r}" in detail
    assert "missing" not in detail and "belong to no chunk row" not in detail
    _repair_and_finish(rt, report)
    assert _scores(rt) == before


def test_a_keyword_row_of_another_document_or_text_is_found(rt: Runtime, postgres_url: str) -> None:
    alpha, beta = _doc(rt, "alpha.md"), _doc(rt, "beta.txt")
    [first, second, *_] = rt.catalog.chunks(alpha)
    _sql(
        postgres_url, "UPDATE keyword_chunks SET doc_id = %s WHERE chunk_id = %s", beta, first.rowid
    )
    _sql(
        postgres_url,
        "UPDATE keyword_chunks SET terms = %s::tsvector, length = 1 WHERE chunk_id = %s",
        "'unrelated':1",
        second.rowid,
    )
    state = catalog_integrity(rt.catalog).keyword_index_state()
    assert (state.stale_count, state.stale) == (2, tuple(sorted((first.rowid, second.rowid))))
    report = _check(rt)
    assert _kinds(report) == ["keyword_index"]
    assert "2 of its entries do not match their chunk's text" in report.problems[0].detail
    _repair_and_finish(rt, report)


def test_chunks_without_points_are_reindexed(rt: Runtime) -> None:
    alpha = _doc(rt, "alpha.md")
    wanted = {c.point_id for c in rt.catalog.chunks(alpha)}
    rt.store.delete_document(alpha)
    report = _check(rt)
    assert _kinds(report) == ["chunks_without_point"]
    assert report.problems[0].count == len(wanted)
    done = _repair_and_finish(rt, report)
    assert any("queued alpha.md" in d for d in done)
    assert {p.id for p in rt.store.scroll(alpha)} == wanted


def test_points_of_an_unknown_document_are_deleted(rt: Runtime) -> None:
    ghost = "f" * 64
    rt.store.upsert(
        [
            Point(
                point_id(ghost, n),
                {"text": [0.1] * rt.models.text.dim},
                {"doc_id": ghost, "chunk_no": n, "text": "ghost"},
            )
            for n in range(3)
        ]
    )
    report = _check(rt)
    assert _kinds(report) == ["points_without_document"]
    assert (report.problems[0].doc_id, report.problems[0].count) == (ghost, 3)
    _repair_and_finish(rt, report)
    assert rt.store.count(ghost) == 0


def test_collection_labels_that_differ_from_the_catalog_are_rewritten(rt: Runtime) -> None:
    beta = _doc(rt, "beta.txt")
    wanted = rt.catalog.collection_ids_of(beta)
    assert wanted  # in "Reports" since the fixture
    points = rt.store.count(beta)
    # A crash between the catalog's membership write and the points' relabelling.
    assert collections.relabel(rt.store, beta, []) == points
    report = _check(rt)
    assert _kinds(report) == ["point_collections"]
    assert (report.problems[0].doc_id, report.problems[0].count) == (beta, points)
    done = _repair_and_finish(rt, report)
    assert any(f"collection ids of {points} points" in d for d in done)
    assert {payload_collections(p.payload) for p in rt.store.scroll(beta)} == {wanted}


def test_a_stray_upload_in_the_database_is_removed(rt: Runtime, postgres_url: str) -> None:
    stray = rt.files.put("left-behind.txt", [b"an add that failed after storing its copy"])
    _sql(
        postgres_url,
        "UPDATE files SET created_at = created_at - %s WHERE name = %s",
        UPLOAD_GRACE_SECONDS + 60,
        stray.key.removeprefix("pg:"),
    )
    kept = [d.path for d in rt.catalog.list_documents()]
    report = _check(rt)
    assert _kinds(report) == ["uploads_without_document"]
    assert report.problems[0].count == 1
    done = _repair_and_finish(rt, report)
    assert any("deleted 1 uploaded file that no document" in d for d in done)
    assert not rt.files.exists(stray.key)
    assert all(rt.files.exists(key) for key in kept)


def test_chunk_rows_whose_document_is_gone_are_deleted(rt: Runtime, postgres_url: str) -> None:
    """Only possible with the foreign key bypassed (a restore with triggers off): the check
    finds the row and its missing keyword entry; the repair leaves neither."""
    _sql(
        postgres_url,
        'INSERT INTO chunks (doc_id, chunk_no, point_id, page, start, "end", kind, text, '
        "embed_model) VALUES ('gone', 0, %s, 1, 0, 5, 'text', 'ghostly', 'm')",
        point_id("gone", 0),
        replica=True,
    )
    report = _check(rt)
    assert _kinds(report) == ["chunks_without_document", "keyword_index"]
    _repair_and_finish(rt, report)
    assert rt.catalog.bm25_search("ghostly", limit=5) == []
    assert catalog_integrity(rt.catalog).chunk_counts().get("gone") is None


def test_cli_check_on_postgres_exit_codes_and_json(
    rt: Runtime,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rt.close()  # the embedded store admits one client
    monkeypatch.setenv("RAG_DATA_DIR", str(rt.settings.data_dir))
    monkeypatch.setenv("RAG_CATALOG_URL", postgres_url)
    monkeypatch.setenv("RAG_IMAGE_MODEL", "")
    assert ingest_main(["check", "--json"]) == 0
    clean = json.loads(capsys.readouterr().out)
    assert clean["clean"] is True and clean["counts"]["documents"] == 3

    _sql(postgres_url, "UPDATE keyword_corpus SET chunks = chunks + 1")
    assert ingest_main(["check", "--json"]) == 1
    drift = json.loads(capsys.readouterr().out)
    assert [p["kind"] for p in drift["problems"]] == ["keyword_index"]

    assert ingest_main(["check", "--repair", "--json"]) == 0
    repaired = json.loads(capsys.readouterr().out)
    assert repaired["clean"] is True
    assert repaired["repaired"] == ["rebuilt the keyword index from the chunk rows"]


def test_cli_on_a_database_reporting_damaged_data_points_to_the_servers_backups(
    rt: Runtime,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The server answers a read with SQLSTATE XX001 (data_corrupted), as for a page that
    fails its checksum: the check says so, and --repair changes nothing and names pg_dump."""
    rt.close()
    # The corpus row becomes a view whose read fails the way a damaged page's read does.
    _sql(
        postgres_url,
        "CREATE FUNCTION damaged() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'invalid page in block 7 of relation base/1/2' "
        "USING ERRCODE = 'data_corrupted'; END $$; "
        "ALTER TABLE keyword_corpus RENAME TO keyword_corpus_kept; "
        "CREATE VIEW keyword_corpus AS SELECT singleton, damaged() AS chunks, tokens "
        "FROM keyword_corpus_kept",
    )
    monkeypatch.setenv("RAG_DATA_DIR", str(rt.settings.data_dir))
    monkeypatch.setenv("RAG_CATALOG_URL", postgres_url)
    monkeypatch.setenv("RAG_IMAGE_MODEL", "")
    assert ingest_main(["check", "--json"]) == 1
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert problem["kind"] == "catalog_database_corrupt"
    assert "invalid page in block 7" in problem["detail"] and "pg_dump" in problem["repair"]

    assert ingest_main(["check", "--repair"]) == 1
    captured = capsys.readouterr()
    assert "reports damaged data" in captured.out
    assert "restores only a SQLite catalog file" in captured.err and "pg_dump" in captured.err
    assert not (rt.settings.data_dir / "catalog.sqlite3").exists()  # no SQLite recovery ran


def test_a_rebuild_and_a_concurrent_delete_leave_the_index_exact(
    rt: Runtime, postgres_url: str
) -> None:
    """A rebuild and a document's delete that overlap, in whichever order the corpus row's lock
    lets them through, end with keyword rows and statistics that match the chunk rows."""
    alpha = _doc(rt, "alpha.md")
    integrity = catalog_integrity(rt.catalog)
    errors: list[BaseException] = []

    def run(step: Callable[[], object]) -> threading.Thread:
        def body() -> None:
            try:
                step()
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=body)
        thread.start()
        return thread

    with psycopg.connect(postgres_url) as holder:
        # A keyword writer in the middle of its transaction: both calls below queue behind it.
        holder.execute("SELECT 1 FROM keyword_corpus WHERE singleton FOR UPDATE")
        rebuild = run(integrity.rebuild_keyword_index)
        _wait_for_lock_waiters(postgres_url, 1)
        delete = run(lambda: rt.catalog.delete_document(alpha))
        _wait_for_lock_waiters(postgres_url, 2)
        holder.rollback()
    rebuild.join(timeout=60)
    delete.join(timeout=60)
    assert not errors, errors
    assert not rebuild.is_alive() and not delete.is_alive()
    state = integrity.keyword_index_state()
    assert state.ok, state
    assert rt.catalog.get_document(alpha) is None and rt.catalog.chunks(alpha) == []
    found = {row.doc_id for row, _ in rt.catalog.bm25_search(QUERY, limit=50)}
    assert found == {_doc(rt, "beta.txt"), _doc(rt, "gamma.txt")}


def _wait_for_lock_waiters(url: str, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as probe:
        while time.monotonic() < deadline:
            row = probe.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()
            if row is not None and int(row[0]) >= n:
                return
            time.sleep(0.02)
    raise AssertionError(f"{n} sessions did not wait for a lock within {timeout} s")
