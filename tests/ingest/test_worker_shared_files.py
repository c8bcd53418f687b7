"""An upload made on one host is parsed by a worker on another and drawn on the first: the hosts
share the PostgreSQL database (catalog and files), never a folder."""

from __future__ import annotations

import io
from pathlib import Path

import psycopg
import pytest
from PIL import Image

from ingest.service import build_worker
from ragcore import library
from ragcore.catalog import DocumentStatus
from ragcore.files.postgres import PostgresFileStore
from ragcore.runtime import Runtime
from ragcore.sources import SourceKind, render_source
from ragcore.testing.documents import make_png, make_text_pdf
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy
from ragcore.uploads import stored_name

pytestmark = pytest.mark.postgres

PARAMS = ChunkingParams(Strategy.SENTENCE, 40, 0)
PAGE_TWO = "The lighthouse lamp is cleaned every morning before sunrise by the keeper."


def _host(data_dir: Path, postgres_url: str) -> Runtime:
    """One host's runtime: its own data dir (vector store, caches), the shared database."""
    return make_runtime(data_dir, image_model="", parse_sandbox=False, catalog_url=postgres_url)


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_pdf_added_on_one_host_is_ingested_on_another_and_drawn_on_the_first(
    tmp_path: Path, postgres_url: str
) -> None:
    source = make_text_pdf(tmp_path / "guide.pdf", ["Harbour guide for keepers.", PAGE_TWO])
    app, worker = _host(tmp_path / "app", postgres_url), _host(tmp_path / "worker", postgres_url)
    try:
        assert isinstance(app.files, PostgresFileStore)
        added = library.add_file(app.catalog, app.files, source, PARAMS)
        doc_id = added.document.id
        assert added.document.path.startswith("pg:")
        assert _files_under(app.settings.uploads_dir) == []  # no copy on the app's disk

        outcomes = build_worker(worker).run_until_idle()
        assert [o.ok for o in outcomes] == [True]
        doc = app.catalog.get_document(doc_id)
        assert doc is not None and doc.status == DocumentStatus.READY and doc.pages == 2
        # The worker parsed its own copy, fetched from the database into its private cache.
        fetched = _files_under(tmp_path / "worker" / "file-cache")
        assert [p.name for p in fetched] == [f"{doc_id}.pdf"]
        assert fetched[0].read_bytes() == source.read_bytes()

        row = next(r for r in app.catalog.chunks(doc_id) if "lighthouse" in r.text)
        view = render_source(
            app.catalog, row.point_id, data_dir=app.settings.data_dir, files=app.files
        )
        assert view.kind == SourceKind.PAGE and view.shown_page == 2 and view.highlighted
        assert view.image is not None and Image.open(io.BytesIO(view.image)).size[0] > 500
        # The app drew the page from its own copy; the download button offers that file.
        assert view.file_path is not None
        assert view.file_path.is_relative_to(tmp_path / "app" / "file-cache")
        assert view.file_path.read_bytes() == source.read_bytes()

        # Deleting on the app removes the file from the database for every host.
        assert library.delete_document(app.catalog, app.store, doc_id, files=app.files)
        assert not worker.files.exists(added.document.path)
        assert app.files.listing() == []
    finally:
        worker.close()
        app.close()


def test_an_images_thumbnail_made_on_the_worker_is_shown_on_the_app(
    tmp_path: Path, postgres_url: str
) -> None:
    photo = make_png(tmp_path / "photo.png", 400, 240, color=(20, 40, 200))
    app, worker = _host(tmp_path / "app", postgres_url), _host(tmp_path / "worker", postgres_url)
    try:
        added = library.add_file(app.catalog, app.files, photo, PARAMS)
        assert [o.ok for o in build_worker(worker).run_until_idle()] == [True]
        (row,) = app.catalog.chunks(added.document.id)
        assert _files_under(worker.thumbs_dir) == []  # kept in the database, not on the worker
        view = render_source(
            app.catalog, row.point_id, data_dir=app.settings.data_dir, files=app.files
        )
        assert view.kind == SourceKind.IMAGE and view.image is not None
        shown = Image.open(io.BytesIO(view.image)).convert("RGB")
        assert max(shown.size) <= 400 and shown.getpixel((5, 5)) == (20, 40, 200)
        assert library.delete_document(app.catalog, app.store, added.document.id, files=app.files)
        assert worker.files.thumbnail(added.document.id, row.chunk_no) is None
    finally:
        worker.close()
        app.close()


def test_a_text_file_round_trips_and_strays_are_found_in_the_database(
    tmp_path: Path, postgres_url: str
) -> None:
    # check_library compares SQLite's own index too; the stray-file half works on any catalog.
    from ingest.consistency import UPLOAD_GRACE_SECONDS, remove_stray_uploads, stray_upload_problems

    app, worker = _host(tmp_path / "app", postgres_url), _host(tmp_path / "worker", postgres_url)
    try:
        added = library.add_bytes(
            app.catalog, app.files, "notes.txt", [b"Ropes are coiled clockwise on deck."], PARAMS
        )
        # A file stored by an add whose catalog write never happened (the process died).
        stray = app.files.put("lost.txt", [b"Nobody lists me."])
        assert [o.ok for o in build_worker(worker).run_until_idle()] == [True]
        doc = app.catalog.get_document(added.document.id)
        assert doc is not None and doc.status == DocumentStatus.READY

        # Just stored, it may be an add in flight: not called stray yet.
        assert stray_upload_problems(app.catalog, app.files) == []
        with psycopg.connect(postgres_url) as conn:  # ten minutes pass for the stray file
            conn.execute(
                "UPDATE files SET created_at = created_at - %s WHERE name = %s",
                (UPLOAD_GRACE_SECONDS + 60, stored_name(stray.key)),
            )
        (problem,) = stray_upload_problems(worker.catalog, worker.files)  # seen from any host
        assert (problem.kind, problem.count) == ("uploads_without_document", 1)
        assert stray.doc_id[:12] in problem.detail
        assert remove_stray_uploads(app.catalog, app.files) == 1
        assert not worker.files.exists(stray.key) and worker.files.exists(added.document.path)
        assert stray_upload_problems(app.catalog, app.files) == []
    finally:
        worker.close()
        app.close()
