"""The Library page: upload, live progress, the documents table, failures, delete, re-index."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ragcore.catalog import DocumentRecord
from ragcore.runtime import Runtime
from ragcore.testing.documents import make_text_pdf
from ragcore.types import Chunk


def shown(markdown: str) -> str:
    """What a person reads: Markdown's backslash escapes removed (the views escape names)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error]
    parts += (
        [e.value for e in at.info] + [e.value for e in at.success] + [e.value for e in at.warning]
    )
    return "\n".join(str(p) for p in parts)


def _table(at: AppTest) -> list[dict[str, object]]:
    return at.dataframe[0].value.to_dict("records")


def _upload(at: AppTest, files: list[tuple[str, bytes, str]]) -> None:
    at.file_uploader[0].set_value(files)
    _button(at, "Add to library").click()
    at.run()


def test_uploads_are_ingested_and_listed(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None], tmp_path: Path
) -> None:
    pdf = make_text_pdf(
        tmp_path / "manual.pdf", ["Cover page", "The pump needs oil every 200 hours."]
    ).read_bytes()
    app.run()
    assert not app.exception
    uploader = app.file_uploader[0]
    assert uploader.accept_multiple_files
    # Any file may be dropped: what is not read is refused with a message, never dropped unsaid.
    assert not uploader.allowed_type

    _upload(
        app,
        [
            ("manual.pdf", pdf, "application/pdf"),
            ("notes.md", b"# Notes\n\nBe kind.", "text/markdown"),
        ],
    )
    assert not app.exception
    successes = [shown(s.value) for s in app.success]
    assert successes == ["Added manual.pdf, notes.md; indexing starts shortly."]
    assert [p.text for p in app.get("progress")]  # the progress panel lists the queued jobs
    assert all("queued" in str(p.proto.text) for p in app.get("progress"))

    ingest_all()
    app.run()
    rows = {r["name"]: r for r in _table(app)}
    assert rows["manual.pdf"]["status"] == "ready"
    assert rows["manual.pdf"]["pages"] == 2
    assert rows["manual.pdf"]["type"] == "pdf"
    assert rows["manual.pdf"]["strategy"] == "recursive"
    assert rows["notes.md"]["status"] == "ready"
    assert all("ready" in str(p.proto.text) for p in app.get("progress"))

    # The same content again is one document, and the person is told so.
    _upload(app, [("copy of manual.pdf", pdf, "application/pdf")])
    assert any("already in the library" in i.value for i in app.info)
    assert len(_table(app)) == 2


def test_a_failed_upload_shows_its_reason(app: AppTest, ingest_all: Callable[[], None]) -> None:
    app.run()
    _upload(app, [("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "application/pdf")])
    ingest_all()
    app.run()
    row = _table(app)[0]
    assert row["status"].startswith("failed: ")
    errors = [shown(e.value) for e in app.error]
    assert any(
        e.startswith("broken.pdf failed: ") and len(e) > len("broken.pdf failed: ") for e in errors
    )


def test_too_many_or_oversized_files_are_refused(app: AppTest, runtime: Runtime) -> None:
    app.run()
    _upload(app, [(f"f{i}.txt", f"text {i}".encode(), "text/plain") for i in range(51)])
    assert any("at most 50" in e.value for e in app.error)
    assert runtime.catalog.list_documents() == []


def test_an_oversized_upload_is_refused_before_it_is_stored(app: AppTest, runtime: Runtime) -> None:
    runtime.settings.max_file_mb = 0.001  # about 1 KB, so the test needs no big file
    app.run()
    _upload(app, [("big.txt", b"x" * 4096, "text/plain"), ("ok.txt", b"Fine.", "text/plain")])
    assert not app.exception
    errors = [shown(e.value) for e in app.error]
    assert any("big.txt is 0.0 MB; the limit is 0.001 MB" in e for e in errors), errors
    assert [d.name for d in runtime.catalog.list_documents()] == ["ok.txt"]
    kept = [p for p in runtime.settings.uploads_dir.rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in kept] == [b"Fine."]  # no byte of the refused file


def test_delete_asks_first(app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]) -> None:
    app.run()
    _upload(app, [("a.txt", b"Alpha text about apples.", "text/plain")])
    ingest_all()
    app.run()
    _button(app, "Delete…").click()
    app.run()
    assert any("Delete **a\\.txt**?" in w.value for w in app.warning)
    assert len(runtime.catalog.list_documents()) == 1  # nothing happens before the confirmation
    _button(app, "Yes, delete").click()
    app.run()
    assert runtime.catalog.list_documents() == []
    assert runtime.store.count() == 0
    assert [shown(s.value) for s in app.success] == ["a.txt deleted."]


def test_reindex_with_another_strategy(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    app.run()
    _upload(app, [("b.txt", b"One sentence here. Another sentence there.", "text/plain")])
    ingest_all()
    app.run()
    app.selectbox(key="reindex_strategy").set_value("sentence")
    _button(app, "Re-index").click()
    app.run()
    assert any("re-index" in str(p.proto.text) for p in app.get("progress"))
    ingest_all()
    app.run()
    assert _table(app)[0]["strategy"] == "sentence"
    assert _table(app)[0]["status"] == "ready"


def test_file_names_in_notes_are_shown_as_typed_not_as_markdown(app: AppTest) -> None:
    app.run()
    _upload(app, [(":red[alarm] ![x](http:x).txt", b"Plain words.", "text/plain")])
    assert not app.exception
    (note,) = [s.value for s in app.success]
    # Brackets and parentheses escaped: no colour directive, no image fetched by the browser.
    assert r"\[alarm\]" in note and r"\!\[x\]\(http:x\)" in note
    assert shown(note) == "Added :red[alarm] ![x](http:x).txt; indexing starts shortly."


def test_table_says_how_many_pages_ocr_read(app: AppTest, runtime: Runtime) -> None:
    """A scan's row counts its OCR'd pages (set by ingestion from the parse), a text PDF's 0."""
    catalog = runtime.catalog
    for doc_id, name, ocr in (("a" * 64, "scan.pdf", 3), ("b" * 64, "text.pdf", 0)):
        catalog.upsert_document(
            DocumentRecord(
                id=doc_id, name=name, mime="application/pdf", size_bytes=10, path=f"/x/{name}"
            )
        )
        chunk = Chunk(doc_id=doc_id, chunk_no=0, page=1, start=0, end=4, text="text")
        catalog.replace_chunks(
            doc_id,
            [chunk],
            embed_model="testing/hashing",
            stats={"pages": 4, "pages_without_text": 1, "pages_ocr": ocr},
        )
    app.run()
    rows = {r["name"]: r for r in _table(app)}
    assert rows["scan.pdf"]["pages read by OCR"] == 3
    assert rows["text.pdf"]["pages read by OCR"] == 0
