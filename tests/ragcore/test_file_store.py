"""The file store contract on both stores: a local folder, and PostgreSQL shared by several hosts."""

from __future__ import annotations

import hashlib
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragcore.errors import FileTooLarge
from ragcore.files import FileStore, LocalFileStore, put_file
from ragcore.uploads import is_store_key, stored_name

MiB = 1 << 20
# Chunks of the PostgreSQL store in these tests: small, so a few-MB file spans many rows.
CHUNK = 256 * 1024

MakeStore = Callable[[Path], FileStore]


def _random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _blocks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _read_all(files: FileStore, key: str) -> bytes:
    return b"".join(files.read(key))


@pytest.fixture()
def make_local(tmp_path: Path) -> MakeStore:
    """Every "host" of the local store is the same folder: it has no other way to share."""
    return lambda data_dir: LocalFileStore(tmp_path / "uploads")


@pytest.fixture()
def make_postgres(postgres_url: str) -> Iterator[MakeStore]:
    from ragcore.catalog.postgres import PostgresCatalog
    from ragcore.files.postgres import PostgresFileStore

    catalogs: list[PostgresCatalog] = []

    def make(data_dir: Path) -> FileStore:
        # One catalog (pool) per host, as each app or worker process opens its own.
        catalog = PostgresCatalog(postgres_url, startup_timeout=10)
        catalogs.append(catalog)
        return PostgresFileStore(catalog, cache_dir=data_dir / "file-cache", chunk_bytes=CHUNK)

    yield make
    for catalog in catalogs:
        catalog.close()


@pytest.fixture(params=["local", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_store(request: pytest.FixtureRequest) -> MakeStore:
    return request.getfixturevalue(f"make_{request.param}")  # type: ignore[no-any-return]


def test_bytes_round_trip_through_local_path_and_read(
    make_store: MakeStore, tmp_path: Path
) -> None:
    files = make_store(tmp_path / "host-a")
    data = _random_bytes(3 * MiB + 12_345, seed=1)  # several chunks and a partial last one
    stored = files.put("Report.PDF", _blocks(data, 100_000))
    assert stored.doc_id == hashlib.sha256(data).hexdigest()
    assert (stored.name, stored.size) == ("Report.PDF", len(data))
    assert stored_name(stored.key) == f"{stored.doc_id}.pdf"
    local = files.local_path(stored.key)
    assert local.suffix == ".pdf"  # parsers and PDFium get the file's own kind of name
    assert hashlib.sha256(local.read_bytes()).hexdigest() == stored.doc_id
    assert _read_all(files, stored.key) == data
    assert files.exists(stored.key)


def test_an_empty_file_round_trips(make_store: MakeStore, tmp_path: Path) -> None:
    files = make_store(tmp_path / "host-a")
    stored = files.put("empty.txt", [])
    assert stored.size == 0 and stored.doc_id == hashlib.sha256(b"").hexdigest()
    assert files.local_path(stored.key).read_bytes() == b""


def test_the_same_content_twice_is_one_stored_file(make_store: MakeStore, tmp_path: Path) -> None:
    files = make_store(tmp_path / "host-a")
    data = _random_bytes(600_000, seed=2)
    first = files.put("a.txt", _blocks(data, 64_000))
    second = files.put("copy of a.txt", [data])
    assert first.key == second.key and first.doc_id == second.doc_id
    assert second.name == "copy of a.txt"  # the name is the person's; the file is the content's
    assert [e.name for e in files.listing()] == [stored_name(first.key)]
    # Another suffix is another file (a parser reads by kind), as a local upload is.
    other = files.put("a.md", [data])
    assert other.key != first.key and len(files.listing()) == 2


def test_past_max_bytes_nothing_is_kept(make_store: MakeStore, tmp_path: Path) -> None:
    files = make_store(tmp_path / "host-a")
    blocks_read = 0

    def blocks() -> Iterator[bytes]:
        nonlocal blocks_read
        for block in _blocks(_random_bytes(2 * MiB, seed=3), 100_000):
            blocks_read += 1
            yield block

    with pytest.raises(FileTooLarge, match="more than the limit"):
        files.put("big.bin", blocks(), max_bytes=MiB)
    assert blocks_read == 11  # refused as the stream passed the limit, not after reading it all
    assert files.listing() == []
    source = tmp_path / "big.pdf"
    source.write_bytes(_random_bytes(MiB + 1, seed=4))
    with pytest.raises(FileTooLarge):
        put_file(files, source, max_bytes=MiB)
    assert files.listing() == []
    assert put_file(files, source, max_bytes=2 * MiB).size == MiB + 1


def test_delete_removes_the_file_and_this_hosts_copy(make_store: MakeStore, tmp_path: Path) -> None:
    files = make_store(tmp_path / "host-a")
    kept = files.put("kept.txt", [b"kept"])
    gone = files.put("gone.txt", [b"gone"])
    copy = files.local_path(gone.key)
    files.delete(gone.key)
    files.delete(gone.key)  # twice is no error
    assert not copy.exists() and not files.exists(gone.key)
    with pytest.raises(FileNotFoundError):
        files.local_path(gone.key)
    with pytest.raises(FileNotFoundError):
        _read_all(files, gone.key)
    assert [e.key for e in files.listing()] == [kept.key]
    assert files.local_path(kept.key).read_bytes() == b"kept"


def test_listing_gives_names_sizes_and_times(make_store: MakeStore, tmp_path: Path) -> None:
    files = make_store(tmp_path / "host-a")
    before = time.time() - 5
    stored = files.put("notes.md", [b"# Notes\n"])
    (entry,) = files.listing()
    assert (entry.key, entry.name, entry.size) == (stored.key, stored_name(stored.key), 8)
    assert before <= entry.modified <= time.time() + 5


@pytest.mark.postgres
def test_postgres_keys_name_the_store_not_a_path(make_postgres: MakeStore, tmp_path: Path) -> None:
    files = make_postgres(tmp_path / "host-a")
    stored = files.put("a.pdf", [b"%PDF-1.4"])
    assert is_store_key(stored.key) and stored.key == f"pg:{stored.doc_id}.pdf"
    with pytest.raises(FileNotFoundError):
        files.local_path("pg:" + "0" * 64 + ".pdf")  # a key of no stored file
    # A path (a document added with a local uploads folder) is read where it is, on its host.
    local = LocalFileStore(tmp_path / "uploads").put("old.txt", [b"before the move"])
    assert files.local_path(local.key) == Path(local.key) and files.exists(local.key)
    files.delete(local.key)
    assert not Path(local.key).exists()
    with pytest.raises(FileNotFoundError):
        files.local_path(local.key)
    with pytest.raises(FileNotFoundError, match="shared store"):
        LocalFileStore(tmp_path / "uploads").local_path(stored.key)


@pytest.mark.postgres
def test_the_cached_copy_is_reused_and_fetched_again_when_removed(
    make_postgres: MakeStore, tmp_path: Path
) -> None:
    files = make_postgres(tmp_path / "host-a")
    data = _random_bytes(MiB, seed=5)
    stored = files.put("scan.pdf", [data])
    copy = files.local_path(stored.key)
    assert copy.is_relative_to(tmp_path / "host-a" / "file-cache")
    first_fetch = copy.stat().st_ino
    assert files.local_path(stored.key) == copy
    assert copy.stat().st_ino == first_fetch  # reused: a fetch renames a new file into place
    copy.unlink()
    assert files.local_path(stored.key).read_bytes() == data  # fetched again
    # Nothing but finished copies in the cache: the fetch wrote a temporary file, then renamed it.
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]


@pytest.mark.postgres
def test_a_host_reads_a_file_another_host_stored(make_postgres: MakeStore, tmp_path: Path) -> None:
    """Two hosts: their own data dirs, nothing shared but the database."""
    app = make_postgres(tmp_path / "app-host")
    worker = make_postgres(tmp_path / "worker-host")
    data = _random_bytes(2 * MiB + 7, seed=6)
    stored = app.put("manual.pdf", _blocks(data, 300_000))
    assert not (tmp_path / "worker-host").exists()
    copy = worker.local_path(stored.key)
    assert copy.is_relative_to(tmp_path / "worker-host")
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == stored.doc_id
    assert not list((tmp_path / "app-host").rglob("*.pdf"))  # the app kept no file of its own
    worker.delete(stored.key)
    assert not app.exists(stored.key)


@pytest.mark.postgres
def test_writes_stream_in_chunk_rows_never_the_whole_file(
    make_postgres: MakeStore, tmp_path: Path
) -> None:
    from ragcore.files.postgres import PostgresFileStore

    files = make_postgres(tmp_path / "host-a")
    assert isinstance(files, PostgresFileStore)
    total = 5 * MiB + 100
    seen = hashlib.sha256()

    def blocks() -> Iterator[bytes]:
        # Generated as it is read: the store gets a stream, never the file as one object.
        rng = random.Random(7)
        left = total
        while left:
            block = rng.randbytes(min(left, 64_000))
            seen.update(block)
            left -= len(block)
            yield block

    tracemalloc.start()
    try:
        stored = files.put("stream.bin", blocks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MiB, f"{peak} bytes at most for a {total}-byte file"
    assert stored.size == total and stored.doc_id == seen.hexdigest()
    assert files.chunk_count(stored.key) == -(-total // CHUNK)  # one row per chunk, rounded up
    assert hashlib.sha256(files.local_path(stored.key).read_bytes()).hexdigest() == stored.doc_id


@pytest.mark.postgres
def test_a_refused_upload_leaves_no_row_behind(postgres_url: str, tmp_path: Path) -> None:
    import psycopg

    from ragcore.catalog.postgres import PostgresCatalog
    from ragcore.files.postgres import PostgresFileStore

    with PostgresCatalog(postgres_url, startup_timeout=10) as catalog:
        files = PostgresFileStore(catalog, cache_dir=tmp_path / "cache", chunk_bytes=CHUNK)
        with pytest.raises(FileTooLarge):
            files.put("big.bin", _blocks(_random_bytes(MiB, seed=8), 50_000), max_bytes=MiB - 1)

        def broken() -> Iterator[bytes]:
            yield _random_bytes(3 * CHUNK, seed=9)
            raise ConnectionResetError("the browser went away")

        with pytest.raises(ConnectionResetError):
            files.put("cut.bin", broken())
    with psycopg.connect(postgres_url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM file_chunks)"
        ).fetchone()
    assert counts == (0, 0)


@pytest.mark.postgres
def test_the_cache_keeps_the_copies_used_last_within_its_size(
    postgres_url: str, tmp_path: Path
) -> None:
    import os

    from ragcore.catalog.postgres import PostgresCatalog
    from ragcore.files.postgres import PostgresFileStore

    with PostgresCatalog(postgres_url, startup_timeout=10) as catalog:
        files = PostgresFileStore(
            catalog, cache_dir=tmp_path / "cache", cache_max_bytes=2 * MiB + MiB // 2,
            cache_min_age=60,
        )  # fmt: skip
        keys = [files.put(f"{n}.bin", [_random_bytes(MiB, seed=n)]).key for n in range(3)]
        a, b, c = (files.local_path(k) for k in keys)  # 3 MiB: over, but all just used
        assert a.exists() and b.exists() and c.exists()
        hour_ago = time.time() - 3600
        for age, path in enumerate((a, b, c)):  # used an hour ago, a first
            os.utime(path, (hour_ago + age, hour_ago + age))
        assert files.local_path(keys[1]) == b  # b used again now
        assert files.trim_cache() == [a]  # the least recently used goes, until under the size
        assert b.exists() and c.exists()
        assert files.local_path(keys[0]).read_bytes() == _random_bytes(MiB, seed=0)
        assert not c.exists()  # fetching a again pushed out c, now the least recently used


def _check_thumbnails(files: FileStore, doc_id: str) -> None:
    assert files.thumbnail(doc_id, 3) is None
    files.save_thumbnails(doc_id, {3: b"\x89PNG three", 5: b"\x89PNG five"})
    assert files.thumbnail(doc_id, 3) == b"\x89PNG three"
    assert files.thumbnail(doc_id, 5) == b"\x89PNG five"
    files.save_thumbnails(doc_id, {4: b"\x89PNG four"})  # re-indexed: its images moved
    assert [files.thumbnail(doc_id, n) for n in (3, 4, 5)] == [None, b"\x89PNG four", None]
    files.drop_thumbnails(doc_id)
    assert files.thumbnail(doc_id, 4) is None


def test_local_thumbnails_are_files_in_the_thumbs_folder(tmp_path: Path) -> None:
    files = LocalFileStore(tmp_path / "uploads", thumbs_dir=tmp_path / "thumbs")
    files.save_thumbnails("doc-a", {0: b"\x89PNG"})
    assert (tmp_path / "thumbs" / "doc-a" / "0.png").read_bytes() == b"\x89PNG"
    _check_thumbnails(files, "doc-b")


@pytest.mark.postgres
def test_thumbnails_in_postgres_are_read_by_any_host_and_go_with_their_document(
    make_postgres: MakeStore, postgres_url: str, tmp_path: Path
) -> None:
    from ragcore.catalog import DocumentRecord
    from ragcore.catalog.postgres import PostgresCatalog

    worker, app = make_postgres(tmp_path / "worker"), make_postgres(tmp_path / "app")
    with PostgresCatalog(postgres_url, startup_timeout=10) as catalog:
        doc = DocumentRecord(id="doc-a", name="a.png", mime="image/png", size_bytes=1, path="")
        catalog.upsert_document(doc)
        _check_thumbnails(worker, "doc-a")
        worker.save_thumbnails("doc-a", {0: b"\x89PNG zero"})
        assert app.thumbnail("doc-a", 0) == b"\x89PNG zero"  # from the database, not a file
        assert not (tmp_path / "worker").exists() and not (tmp_path / "app").exists()
        catalog.delete_document("doc-a")
        assert app.thumbnail("doc-a", 0) is None
        # An ingestion finishing after its document was deleted keeps none (and does not fail).
        worker.save_thumbnails("doc-a", {0: b"\x89PNG late"})
        assert app.thumbnail("doc-a", 0) is None
