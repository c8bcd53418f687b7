"""`ingest check --repair` on a damaged catalog: a backup restored, or a new catalog, uploads re-queued."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.__main__ import main as ingest_main
from ingest.consistency import check_library, describe
from ingest.recovery import requeue_uploads
from ingest.service import build_worker
from ragcore import library
from ragcore.catalog.recovery import Salvage
from ragcore.runtime import Runtime, chunking_params
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

PARAMS = ChunkingParams(Strategy.FIXED, 20, 2)
TEXTS = {
    "alpha.md": "# Alpha\n\n" + "The alpha station logs quokkaflux readings every hour. " * 12,
    "beta.txt": "Beta notes: the zephyrine bridge was repainted in 1987. " * 10,
}
LATER = {
    "gamma.txt": "Gamma: the lighthouse keeper counted ninety fog signals. " * 10,
    "delta.txt": "Delta: its upload is lost, only its points remain in the store. " * 10,
}


def _runtime(data: Path) -> Runtime:
    return make_runtime(data, parse_sandbox=False)


def _add(rt: Runtime, texts: dict[str, str]) -> dict[str, str]:
    ids = {}
    for name, text in texts.items():
        added = library.add_bytes(
            rt.catalog, rt.settings.uploads_dir, name, [text.encode()], PARAMS
        )
        ids[name] = added.document.id
    return ids


@pytest.fixture()
def data(tmp_path: Path) -> Iterator[Path]:
    """A library of two documents, backed up by the worker when its queue emptied."""
    rt = _runtime(tmp_path / "data")
    _add(rt, TEXTS)
    build_worker(rt).run_until_idle()
    rt.close()
    assert len(list((tmp_path / "data" / "backups").iterdir())) >= 1
    yield tmp_path / "data"


def _damage(catalog: Path) -> None:
    os.truncate(catalog, catalog.stat().st_size // 2)


def _overwrite_chunks_page(catalog: Path) -> None:
    """4 KB of noise over page 5, the chunks table's root in a small catalog: the document
    rows and the model space (pages 2 and 15) still read."""
    with catalog.open("r+b") as handle:
        handle.seek(4 * 4096)
        handle.write(random.Random(0).randbytes(4096))


def _check_cli(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.setenv("RAG_LOCAL_LLM", "false")
    code = ingest_main(["check", *args])
    return code, capsys.readouterr().out


def _names(rt: Runtime) -> dict[str, str]:
    return {d.name: d.status for d in rt.catalog.list_documents()}


def test_check_reports_a_damaged_catalog_and_leaves_it_as_it_is(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = data / "catalog.sqlite3"
    _damage(catalog)
    before = catalog.read_bytes()
    code, out = _check_cli(data, monkeypatch, capsys)
    assert code == 1
    assert "is damaged" in out and "python -m ingest check --repair" in out
    code, out = _check_cli(data, monkeypatch, capsys, "--json")
    report = json.loads(out)
    assert code == 1 and report["clean"] is False
    assert [p["kind"] for p in report["problems"]] == ["catalog_corrupt"]
    assert catalog.read_bytes() == before
    assert not list(data.glob("*.damaged-*"))


def test_repair_restores_the_backup_and_reconciles_what_changed_after_it(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = _runtime(data)
    later = _add(rt, LATER)
    worker = build_worker(rt)
    worker.backups = None  # these changes never reach a backup
    worker.run_until_idle()
    beta = next(d.id for d in rt.catalog.list_documents() if d.name == "beta.txt")
    library.delete_document(rt.catalog, rt.store, beta)
    lost = Path(rt.catalog.get_document(later["delta.txt"]).path)  # type: ignore[union-attr]
    lost.unlink()
    rt.close()
    _damage(data / "catalog.sqlite3")

    code, out = _check_cli(data, monkeypatch, capsys, "--repair", "--json")
    report = json.loads(out)
    assert code == 0 and report["clean"] is True, out
    repaired = "\n".join(report["repaired"])
    assert "kept the damaged catalog as" in repaired
    assert "restored the catalog from the backup" in repaired
    assert f"queued gamma.txt ({later['gamma.txt'][:12]}) for ingestion" in repaired
    assert "removed beta.txt" in repaired  # deleted after the backup: upload and points gone
    assert f"points of document {later['delta.txt'][:12]}" in repaired  # no upload, no row
    assert len(list(data.glob("catalog.sqlite3.damaged-*"))) == 1

    rt = _runtime(data)
    try:
        assert rt.store.count(later["delta.txt"]) == 0
        build_worker(rt).run_until_idle()
        assert _names(rt) == {"alpha.md": "ready", "gamma.txt": "ready"}
        after = check_library(rt.catalog, rt.store, thumbs_dir=rt.thumbs_dir)
        assert after.clean, describe(after)
        assert rt.catalog.bm25_search("ninety fog signals", limit=1)
    finally:
        rt.close()


def test_repair_without_a_backup_starts_anew_and_requeues_every_upload(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for backup in (data / "backups").iterdir():
        backup.unlink()
    _overwrite_chunks_page(data / "catalog.sqlite3")
    code, out = _check_cli(data, monkeypatch, capsys, "--repair")
    assert code == 0, out
    assert "found no sound backup" in out and "started a new, empty catalog" in out
    assert "read the names of 2 documents from the damaged catalog" in out
    assert out.count("for ingestion") == 2

    rt = _runtime(data)
    try:
        assert _names(rt) == {"alpha.md": "queued", "beta.txt": "queued"}
        # How each was chunked, and the model that answers, came from the damaged file too.
        assert {d.strategy for d in rt.catalog.list_documents()} == {"fixed"}
        assert rt.catalog.active_space().model_id == rt.models.text.model_id  # type: ignore[union-attr]
        build_worker(rt).run_until_idle()
        assert _names(rt) == {"alpha.md": "ready", "beta.txt": "ready"}
        assert check_library(rt.catalog, rt.store, thumbs_dir=rt.thumbs_dir).clean
    finally:
        rt.close()


def test_repair_of_a_deleted_catalog_keeps_the_uploads_and_requeues_them(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A catalog deleted (or emptied) opens as a new, empty one: its uploads and points are the
    library, not strays for `--repair` to delete."""
    uploads = sorted(p for p in (data / "uploads").rglob("*") if p.is_file())
    for companion in data.glob("catalog.sqlite3*"):
        companion.unlink()
    for path in uploads:  # old enough to count as strays if the guard were missing
        os.utime(path, (1, 1))
    code, out = _check_cli(data, monkeypatch, capsys, "--repair")
    assert code == 0, out
    assert out.count("for ingestion") == 2 and "deleted" not in out.replace("undeleted", "")
    assert sorted(p for p in (data / "uploads").rglob("*") if p.is_file()) == uploads

    rt = _runtime(data)
    try:
        assert sorted(d.status for d in rt.catalog.list_documents()) == ["queued", "queued"]
    finally:
        rt.close()


def test_requeued_uploads_take_their_name_from_the_store_or_say_it_was_lost(
    tmp_path: Path,
) -> None:
    rt = _runtime(tmp_path / "data")
    try:
        ids = _add(rt, {**TEXTS, "empty.txt": "   "})
        build_worker(rt).run_until_idle()  # empty.txt fails: no points carry its name
        for doc_id in ids.values():
            rt.catalog.delete_document(doc_id)  # a new catalog knows none of them
        done = requeue_uploads(
            rt.catalog,
            rt.store,
            rt.settings.uploads_dir,
            salvaged=Salvage(),
            default_params=chunking_params(rt.settings),
        )
        names = {d.id: d.name for d in rt.catalog.list_documents()}
        assert names[ids["alpha.md"]] == "alpha.md"  # from its points' payload
        assert names[ids["empty.txt"]] == f"recovered-{ids['empty.txt'][:12]}.txt"
        assert any("its file name was lost" in d for d in done)
        assert all(d.status == "queued" for d in rt.catalog.list_documents())
    finally:
        rt.close()
