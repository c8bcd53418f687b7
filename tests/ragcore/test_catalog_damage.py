"""A damaged catalog file or a full disk: found, said in words, never written into; backups."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragcore.catalog import Catalog, DocumentRecord
from ragcore.catalog.backup import CatalogBackups
from ragcore.catalog.health import quick_check_file
from ragcore.catalog.recovery import restore, salvage, set_aside
from ragcore.errors import CatalogCorrupt, DiskFull, is_disk_full
from ragcore.types import Chunk
from ragcore.uploads import store_bytes, stored_uploads

REPAIR = "python -m ingest check --repair"


def make_doc(n: int, name: str | None = None) -> DocumentRecord:
    doc_id = f"{n:064x}"
    return DocumentRecord(
        id=doc_id, name=name or f"doc{n}.txt", mime="text/plain", size_bytes=1, path=f"/u/{doc_id}"
    )


def fill(catalog: Catalog, docs: int = 20, chunks: int = 20) -> None:
    """Enough rows that the file's middle pages are b-tree pages of chunks and their index."""
    for n in range(docs):
        doc = make_doc(n)
        catalog.upsert_document(doc)
        rows = [
            Chunk(
                doc_id=doc.id, chunk_no=i, page=1, start=0, end=40, text=f"lighthouse {n} {i} " * 8
            )
            for i in range(chunks)
        ]
        catalog.replace_chunks(doc.id, rows, embed_model="m", stats={"strategy": "fixed"})


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def overwrite_middle(path: Path, size: int = 4096) -> None:
    """Overwrite one page-aligned 4 KB block in the middle of the file with noise."""
    middle = path.stat().st_size // 2 // 4096 * 4096
    with path.open("r+b") as handle:
        handle.seek(middle)
        handle.write(random.Random(0).randbytes(size))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "catalog.sqlite3"
    with Catalog(path) as catalog:  # closing the last connection checkpoints the WAL into it
        fill(catalog)
    return path


def test_a_sound_catalog_passes_quick_check(db_path: Path) -> None:
    assert quick_check_file(db_path) is None
    with Catalog(db_path) as catalog:
        catalog.quick_check()
        assert len(catalog.list_documents()) == 20


def test_a_truncated_catalog_is_refused_at_open_with_what_to_do(db_path: Path) -> None:
    truncate_half(db_path)
    with pytest.raises(CatalogCorrupt) as caught:
        Catalog(db_path)
    message = str(caught.value)
    assert str(db_path) in message and "damaged" in message and REPAIR in message


def test_an_overwritten_block_is_found_by_quick_check_and_nothing_is_written(
    db_path: Path,
) -> None:
    overwrite_middle(db_path)
    before = db_path.read_bytes()
    assert quick_check_file(db_path) is not None
    with pytest.raises(CatalogCorrupt, match="damaged"):
        Catalog(db_path)
    assert db_path.read_bytes() == before  # the schema step never ran on the damaged file


def test_damage_done_while_open_is_found_and_every_write_is_refused_after(db_path: Path) -> None:
    catalog = Catalog(db_path)
    try:
        assert len(catalog.list_documents()) == 20  # the pages are in its cache now
        overwrite_middle(db_path)
        # The check reads the file on disk, not the connection's cache of it.
        with pytest.raises(CatalogCorrupt):
            catalog.quick_check()
        with pytest.raises(CatalogCorrupt, match=REPAIR):
            catalog.upsert_document(make_doc(99))
        with pytest.raises(CatalogCorrupt):
            catalog.enqueue(make_doc(1).id, "reindex")
    finally:
        catalog.close()


def test_a_damaged_page_met_by_a_statement_refuses_writes_from_then_on(db_path: Path) -> None:
    catalog = Catalog(db_path)
    try:
        real = catalog._conn

        class Damaged:
            """The connection as SQLite answers once it meets a damaged page."""

            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
                if sql.startswith("SELECT"):
                    raise sqlite3.DatabaseError("database disk image is malformed")
                assert real is not None
                return real.execute(sql, *args)

            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

        catalog._conn = Damaged()  # type: ignore[assignment]
        with pytest.raises(CatalogCorrupt):
            catalog.list_documents()
        catalog._conn = real
        with pytest.raises(CatalogCorrupt):
            catalog.upsert_document(make_doc(99))
    finally:
        catalog.close()


# --- backups ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.5
        return self.now


def test_backups_are_sound_single_files_and_rotated(db_path: Path) -> None:
    folder = db_path.parent / "backups"
    backups = CatalogBackups(folder, keep=3, clock=Clock())
    with Catalog(db_path) as catalog:
        taken = [backups.take(catalog) for _ in range(5)]
    kept = backups.backups()
    assert kept == taken[:1:-1]  # the newest three, newest first
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in kept)  # no -wal
    for path in kept:
        assert quick_check_file(path) is None
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 20
        finally:
            conn.close()


def test_backups_are_taken_at_most_every_interval(db_path: Path) -> None:
    clock = Clock()
    backups = CatalogBackups(db_path.parent / "backups", keep=5, min_interval=10, clock=clock)
    with Catalog(db_path) as catalog:
        assert backups.take_if_due(catalog) is not None
        assert backups.take_if_due(catalog) is None
        clock.now += 10
        assert backups.take_if_due(catalog) is not None
    assert len(backups.backups()) == 2


def test_a_damaged_catalog_never_pushes_a_sound_backup_out(db_path: Path) -> None:
    backups = CatalogBackups(db_path.parent / "backups", keep=2, clock=Clock())
    catalog = Catalog(db_path)
    try:
        sound = [backups.take(catalog) for _ in range(2)]
        overwrite_middle(db_path)
        with pytest.raises(CatalogCorrupt):
            backups.take(catalog)
        with pytest.raises(CatalogCorrupt):  # and the catalog knows it now
            catalog.set_document_status(make_doc(1).id, "failed", error="x")
    finally:
        catalog.close()
    assert backups.backups() == sound[::-1]
    assert sorted(p.name for p in backups.folder.iterdir()) == sorted(p.name for p in sound)


def test_the_newest_sound_backup_is_chosen_over_a_damaged_newer_one(db_path: Path) -> None:
    backups = CatalogBackups(db_path.parent / "backups", keep=3, clock=Clock())
    with Catalog(db_path) as catalog:
        older, newer = backups.take(catalog), backups.take(catalog)
    truncate_half(newer)
    assert backups.newest_sound() == older


# --- setting a damaged catalog aside ------------------------------------------------------------


def test_a_damaged_catalog_is_set_aside_whole_and_its_rows_salvaged(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    fill(catalog, docs=3, chunks=2)
    catalog.upsert_document(make_doc(7, name="late.pdf"))  # only in the WAL so far
    assert Path(f"{path}-wal").exists()
    aside = set_aside(path, 1_700_000_000.0)
    catalog.close()
    assert not path.exists() and aside.name.startswith("catalog.sqlite3.damaged-2023")
    assert Path(f"{aside}-wal").exists()  # the last commits went with it
    found = salvage(aside)
    assert {d.name for d in found.documents.values()} == {
        "doc0.txt",
        "doc1.txt",
        "doc2.txt",
        "late.pdf",
    }
    assert found.documents[make_doc(0).id].strategy == "fixed"


def test_salvage_of_an_unreadable_file_finds_nothing(tmp_path: Path) -> None:
    junk = tmp_path / "catalog.sqlite3.damaged-x"
    junk.write_bytes(random.Random(1).randbytes(8192))
    assert salvage(junk).documents == {}


def test_restore_refuses_to_put_a_backup_beside_a_leftover_wal(db_path: Path) -> None:
    backups = CatalogBackups(db_path.parent / "backups", clock=Clock())
    with Catalog(db_path) as catalog:
        backup = backups.take(catalog)
        with pytest.raises(ValueError, match="set the catalog aside"):
            restore(backup, db_path)


# --- a full disk ------------------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(size: str) -> Iterator[Path]:
    """A real, small file system (root only); the test is skipped where it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="docqa-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        # Lazy: a file a failed assertion left open must not keep the mount behind.
        subprocess.run(["umount", "--lazy", str(folder)], check=False)
        folder.rmdir()


def fill_disk(folder: Path) -> Path:
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as handle:
        while True:
            handle.write(b"\0" * 4096)
    return filler


@pytest.mark.integration  # starts a process
def test_a_real_full_disk_refuses_writes_in_words_and_reads_go_on() -> None:
    with small_tmpfs("1m") as folder:
        path = folder / "catalog.sqlite3"
        with Catalog(path) as catalog:
            catalog.upsert_document(make_doc(1))
        filler = fill_disk(folder)
        # Opened on a full disk, SQLite cannot even map its shared-memory file.
        with pytest.raises(DiskFull, match=REPAIR):
            Catalog(path)
        with pytest.raises(DiskFull, match="is full"):
            store_bytes(folder / "uploads", "a.txt", [b"hello" * 1000])

        filler.unlink()
        catalog = Catalog(path)
        try:
            fill_disk(folder)
            with pytest.raises(DiskFull) as caught:
                catalog.upsert_document(make_doc(2, name="x" * 200_000))
            assert str(folder) in str(caught.value)
            assert [d.id for d in catalog.list_documents()] == [make_doc(1).id]
        finally:
            catalog.close()


def test_a_full_disk_at_the_os_boundary_leaves_no_partial_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_room(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("ragcore.uploads.os.replace", no_room)
    with pytest.raises(DiskFull, match="is full"):
        store_bytes(tmp_path / "uploads", "a.txt", [b"hello"])
    assert [p for p in (tmp_path / "uploads").rglob("*") if p.is_file()] == []


def test_disk_full_is_recognised_through_wrapping_libraries() -> None:
    inner = sqlite3.OperationalError("database or disk is full")
    try:
        try:
            raise inner
        except sqlite3.Error as exc:
            raise RuntimeError("persist failed") from exc
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))


def test_stored_uploads_are_found_by_their_content_addressed_names(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    first = store_bytes(uploads, "report.PDF", [b"%PDF-1.4 one"])
    second = store_bytes(uploads, "notes", [b"two"])
    (uploads / ".upload-partial").write_bytes(b"half")
    found = stored_uploads(uploads)
    assert {u.doc_id for u in found} == {first.doc_id, second.doc_id}
    by_id = {u.doc_id: u for u in found}
    assert by_id[first.doc_id].path == first.path and by_id[first.doc_id].size == 12
