"""`ingest check`: each kind of difference between catalog, keyword index and store is found and repaired."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.__main__ import main as ingest_main
from ingest.consistency import CheckReport, check_library, describe, repair_library
from ingest.service import build_worker
from ragcore import library
from ragcore.runtime import Runtime, chunking_params
from ragcore.testing.documents import make_png
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Point, Strategy, point_id

PARAMS = ChunkingParams(Strategy.FIXED, 20, 2)
TEXTS = {
    "alpha.md": "# Alpha\n\n" + "The alpha station logs quokkaflux readings every hour. " * 12,
    "beta.txt": "Beta notes: the zephyrine bridge was repainted in 1987. " * 10,
}


@pytest.fixture()
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "data", parse_sandbox=False)
    for name, text in TEXTS.items():
        library.add_bytes(
            runtime.catalog, runtime.settings.uploads_dir, name, [text.encode()], PARAMS
        )
    library.add_file(
        runtime.catalog,
        runtime.settings.uploads_dir,
        make_png(tmp_path / "red.png", 40, 40),
        PARAMS,
    )
    build_worker(runtime).run_until_idle()
    yield runtime
    runtime.close()


def _doc(rt: Runtime, name: str) -> str:
    return next(d.id for d in rt.catalog.list_documents() if d.name == name)


def _check(rt: Runtime, **kwargs: object) -> CheckReport:
    return check_library(rt.catalog, rt.store, thumbs_dir=rt.thumbs_dir, **kwargs)  # type: ignore[arg-type]


def _repair_and_finish(rt: Runtime, report: CheckReport) -> list[str]:
    done = repair_library(
        rt.catalog, rt.store, report, default_params=chunking_params(rt.settings),
        thumbs_dir=rt.thumbs_dir,
    )  # fmt: skip
    build_worker(rt).run_until_idle()
    after = _check(rt)
    assert after.clean, describe(after)
    return done


def _sql(rt: Runtime, statement: str, *args: object, foreign_keys: bool = True) -> None:
    conn = sqlite3.connect(rt.settings.catalog_path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        conn.execute(statement, args)
    finally:
        conn.close()


def _kinds(report: CheckReport) -> list[str]:
    return sorted(p.kind for p in report.problems)


def test_a_clean_library_is_consistent(rt: Runtime) -> None:
    report = _check(rt)
    assert report.clean, describe(report)
    assert report.documents == 3
    assert report.chunks == report.keyword_rows == report.points == len(rt.catalog.chunks())
    assert "agree" in describe(report)


def test_keyword_index_out_of_step_is_rebuilt(rt: Runtime) -> None:
    row = rt.catalog.bm25_search("quokkaflux", limit=1)[0][0]
    _sql(
        rt,
        "INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', ?, ?)",
        row.rowid,
        row.text,
    )
    report = _check(rt)
    assert _kinds(report) == ["keyword_index"]
    assert "1 chunk rows are missing" in report.problems[0].detail
    _repair_and_finish(rt, report)
    assert row.rowid in {r.rowid for r, _ in rt.catalog.bm25_search("quokkaflux", limit=50)}


def test_points_of_a_document_the_catalog_lost_are_deleted(rt: Runtime) -> None:
    doc_id = _doc(rt, "beta.txt")
    rt.catalog.delete_document(doc_id)  # the catalog half of a delete; the store half never ran
    report = _check(rt)
    assert _kinds(report) == ["points_without_document"]
    assert report.problems[0].doc_id == doc_id
    _repair_and_finish(rt, report)
    assert rt.store.count(doc_id) == 0


def test_chunks_without_points_are_reindexed(rt: Runtime) -> None:
    doc_id = _doc(rt, "alpha.md")
    before = {c.point_id for c in rt.catalog.chunks(doc_id)}
    rt.store.delete_document(doc_id)
    report = _check(rt)
    assert _kinds(report) == ["chunks_without_point"]
    done = _repair_and_finish(rt, report)
    assert any("queued alpha.md" in d for d in done)
    assert {p.id for p in rt.store.scroll(doc_id)} == before


def test_points_left_by_a_stopped_ingestion_are_removed_and_the_document_requeued(
    rt: Runtime,
) -> None:
    doc_id = _doc(rt, "beta.txt")
    chunks = rt.catalog.chunks(doc_id)
    # A worker died while writing a first ingestion: points stored, no chunk rows, no job.
    _sql(rt, "DELETE FROM chunks WHERE doc_id = ?", doc_id)
    rt.catalog.set_document_status(doc_id, "processing")
    report = _check(rt)
    assert _kinds(report) == ["stray_points", "stuck_document"]
    _repair_and_finish(rt, report)
    doc = rt.catalog.get_document(doc_id)
    assert doc is not None and doc.status == "ready"
    assert len(rt.catalog.chunks(doc_id)) == len(chunks)


def test_ready_without_chunks_and_wrong_counts_are_reindexed(rt: Runtime) -> None:
    alpha, beta = _doc(rt, "alpha.md"), _doc(rt, "beta.txt")
    _sql(rt, "DELETE FROM chunks WHERE doc_id = ?", alpha)
    rt.store.delete_document(alpha)
    _sql(rt, "UPDATE documents SET chunks = chunks + 5 WHERE id = ?", beta)
    report = _check(rt)
    assert _kinds(report) == ["chunk_counts", "ready_without_chunks"]
    _repair_and_finish(rt, report)


def test_a_point_carrying_another_chunk_is_found(rt: Runtime) -> None:
    doc_id = _doc(rt, "alpha.md")
    first = rt.catalog.chunks(doc_id)[0]
    stored = next(p for p in rt.store.scroll(doc_id) if p.id == first.point_id)
    wrong = {**stored.payload, "chunk_no": first.chunk_no + 100}
    rt.store.upsert([Point(first.point_id, {"text": [0.1] * rt.models.text.dim}, wrong)])
    report = _check(rt)
    assert _kinds(report) == ["point_payload"]
    _repair_and_finish(rt, report)


def test_chunk_rows_without_a_document_are_deleted(rt: Runtime) -> None:
    _sql(
        rt,
        'INSERT INTO chunks (doc_id, chunk_no, point_id, page, start, "end", kind, text, '
        "embed_model) VALUES ('gone', 0, ?, 1, 0, 5, 'text', 'ghost', 'm')",
        point_id("gone", 0),
        foreign_keys=False,
    )
    report = _check(rt)
    assert _kinds(report) == ["chunks_without_document"]
    _repair_and_finish(rt, report)
    assert rt.catalog.bm25_search("ghost", limit=5) == []


def test_thumbnails_of_deleted_documents_are_removed(rt: Runtime) -> None:
    stray = rt.thumbs_dir / ("f" * 64)
    stray.mkdir(parents=True)
    (stray / "0.png").write_bytes(b"x")
    report = _check(rt)
    assert _kinds(report) == ["thumbnails_without_document"]
    _repair_and_finish(rt, report)
    assert not stray.exists()
    # The image document's own thumbnails stay.
    assert (rt.thumbs_dir / _doc(rt, "red.png")).is_dir()


def test_documents_being_ingested_are_left_out_and_stalled_jobs_noted(rt: Runtime) -> None:
    doc_id = _doc(rt, "alpha.md")
    job = library.reindex(rt.catalog, doc_id, PARAMS)
    rt.store.delete_document(doc_id)  # mid-rewrite: the store is ahead of the catalog
    report = _check(rt)
    assert report.clean and report.busy == (doc_id,)
    assert any("queued or being ingested (alpha.md)" in n for n in report.notes)
    claimed = rt.catalog.claim_job("gone-worker", lease_seconds=5)
    assert claimed is not None and claimed.id == job.id
    later = _check(rt, now=claimed.lease_until + 30)  # type: ignore[operator]
    assert later.clean
    assert any(
        f"job {job.id} (reindex of alpha.md)" in n and "its worker is gone" in n
        for n in later.notes
    )


def _run_cli(rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             *args: str) -> tuple[int, str]:  # fmt: skip
    rt.close()  # the embedded store admits one process... and one client
    monkeypatch.setenv("RAG_DATA_DIR", str(rt.settings.data_dir))
    code = ingest_main(["check", *args])
    return code, capsys.readouterr().out


def test_cli_check_exit_codes_and_json(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run_cli(rt, monkeypatch, capsys, "--json")
    assert code == 0 and json.loads(out)["clean"] is True

    broken = make_runtime(rt.settings.data_dir, parse_sandbox=False)
    beta = _doc(broken, "beta.txt")
    broken.store.delete_document(beta)
    code, out = _run_cli(broken, monkeypatch, capsys)
    assert code == 1
    assert "have no point in the vector store" in out and "--repair" in out

    code, out = _run_cli(broken, monkeypatch, capsys, "--repair", "--json")
    report = json.loads(out)
    assert code == 0 and report["clean"] is True
    assert any("queued beta.txt" in r for r in report["repaired"])
    assert report["busy"] == [beta]
