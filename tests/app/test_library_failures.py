"""The Library page with bad files: refused at upload with one message, failures shown once
with their whole reason and a retry and a remove button, deleted files listed by name."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from ragcore import library
from ragcore.catalog import DocumentStatus
from ragcore.runtime import Runtime
from ragcore.testing.documents import make_text_pdf
from ragcore.types import ChunkingParams

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

# app.views.library.FINISHED_SEEN; importing the view here would run it outside AppTest.
FINISHED_SEEN = "library_finished_seen"


def shown(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def _button(at: AppTest, label: str, key: str | None = None) -> Button:
    return next(b for b in at.button if b.label == label and (key is None or b.key == key))


def _messages(at: AppTest) -> list[str]:
    elements = [*at.error, *at.warning, *at.info, *at.success]
    return [shown(str(e.value)) for e in elements]


def _upload(at: AppTest, files: list[tuple[str, bytes, str]]) -> None:
    at.file_uploader[0].set_value(files)
    _button(at, "Add to library").click()
    at.run()


def test_a_program_an_empty_file_and_a_mislabelled_one_are_refused_with_one_message_each(
    app: AppTest, runtime: Runtime
) -> None:
    app.run()
    _upload(
        app,
        [
            ("setup.exe", b"MZ\x90\x00" + b"\x00" * 60, "application/octet-stream"),
            ("empty.txt", b"", "text/plain"),
            ("photo.pdf", PNG, "application/pdf"),
            ("fine.txt", b"Fine words.", "text/plain"),
        ],
    )
    assert not app.exception
    messages = _messages(app)
    for name in ("setup.exe", "empty.txt", "photo.pdf"):
        about = [m for m in messages if name in m]
        assert len(about) == 1, (name, messages)
    assert any("setup.exe was not added: .exe files are not read here" in m for m in messages)
    assert any("empty.txt is empty (0 bytes)" in m for m in messages)
    assert any("photo.pdf is named like a PDF document" in m and "PNG" in m for m in messages)
    assert [shown(s.value) for s in app.success] == ["Added fine.txt; indexing starts shortly."]
    # Nothing of the refused files was kept or queued.
    assert [d.name for d in runtime.catalog.list_documents()] == ["fine.txt"]
    assert len(runtime.catalog.jobs()) == 1


def test_images_are_said_to_be_found_by_name_only_when_the_image_model_is_off(
    app: AppTest,
) -> None:
    app.run()
    _upload(app, [("chart.png", PNG, "image/png")])
    notes = [shown(i.value) for i in app.info]
    assert any(
        "found only by their file name" in n and "turned off in settings" in n for n in notes
    )
    _upload(app, [("words.txt", b"Only words.", "text/plain")])
    assert not any("found only by their file name" in shown(i.value) for i in app.info)


def test_a_failure_is_shown_once_in_full_and_can_be_retried_or_removed(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    app.run()
    _upload(app, [("broken.pdf", b"%PDF-1.4\n" + b"this is not really a pdf " * 20, "x")])
    ingest_all()
    app.run()
    doc = runtime.catalog.list_documents()[0]
    assert doc.status == DocumentStatus.FAILED and doc.error
    errors = [shown(e.value) for e in app.error]
    # The whole reason, once; no full "finished-looking" bar for the failed job.
    assert errors == [f"broken.pdf failed: {doc.error}"]
    assert not [p for p in app.get("progress") if "broken.pdf" in str(p.proto.text)]

    _button(app, "Retry", key=f"retry_{doc.id}").click()
    app.run()
    assert not app.exception
    requeued = runtime.catalog.get_document(doc.id)
    assert requeued is not None and requeued.status == DocumentStatus.QUEUED
    assert any("queued" in str(p.proto.text) for p in app.get("progress"))
    assert not app.error  # queued again: no longer listed as failed
    ingest_all()
    app.run()

    _button(app, "Remove", key=f"remove_{doc.id}").click()
    app.run()
    assert runtime.catalog.list_documents() == []
    assert [shown(s.value) for s in app.success] == ["broken.pdf removed."]
    assert not app.error  # its failed job is not reported again
    # The note is shown once: the next rerun starts from a clean page.
    app.run()
    assert not app.success


def test_a_deleted_documents_job_is_listed_by_its_name(
    app: AppTest, runtime: Runtime, tmp_path: Path
) -> None:
    pdf = make_text_pdf(tmp_path / "manual.pdf", ["A page of text."]).read_bytes()
    added = library.add_bytes(
        runtime.catalog, runtime.settings.uploads_dir, "manual.pdf", [pdf], ChunkingParams()
    )
    assert added.job is not None
    app.run()
    app.session_state["tracked_jobs"] = [added.job.id]
    library.delete_document(runtime.catalog, runtime.store, added.document.id)
    app.run()
    bars = [str(p.proto.text) for p in app.get("progress")]
    assert any("manual.pdf (deleted)" in shown(b) for b in bars), bars
    assert not any(added.document.id[:12] in b for b in bars)


def test_finished_bars_make_room_after_a_while(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    app.run()
    _upload(app, [("a.txt", b"Alpha words.", "text/plain")])
    ingest_all()
    app.run()
    assert any("ready" in str(p.proto.text) for p in app.get("progress"))
    job = runtime.catalog.jobs()[0]
    seen = app.session_state[FINISHED_SEEN]  # this session showed it a minute ago
    app.session_state[FINISHED_SEEN] = {**seen, job.id: seen[job.id] - 60}
    app.run()
    assert not app.get("progress")
    assert app.session_state["tracked_jobs"] == []


def test_a_job_that_ended_before_the_page_was_redrawn_still_shows_ready(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    """On a busy machine the redraw after a job can come long after it ended: the person must
    still see it ready once, not a bar that vanished unseen."""
    app.run()
    _upload(app, [("a.txt", b"Alpha words.", "text/plain")])
    ingest_all()
    job = runtime.catalog.jobs()[0]
    with runtime.catalog._write() as conn:  # it finished a minute before this redraw
        conn.execute("UPDATE jobs SET updated_at = updated_at - 60 WHERE id = ?", (job.id,))
    app.run()
    assert any("ready" in str(p.proto.text) for p in app.get("progress"))
