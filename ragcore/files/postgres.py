"""Uploaded files in the PostgreSQL catalog's database, so every host reads what any host stored."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ragcore.catalog.postgres.database import Cursor, PostgresDatabase
from ragcore.errors import disk_full_error
from ragcore.files.base import BLOCK_BYTES, StoredEntry
from ragcore.files.local import LocalFileStore
from ragcore.uploads import (
    UPLOAD_NAME,
    StoredUpload,
    display_name,
    is_store_key,
    too_large,
    upload_suffix,
)

KEY_PREFIX = "pg:"
# This host's copies are trimmed, least recently used first, once they pass this many bytes; a
# copy used in the last CACHE_MIN_AGE seconds stays (a parser or a download may be reading it).
CACHE_MAX_BYTES = 4 << 30
CACHE_MIN_AGE = 600.0


class _AlreadyStored(Exception):
    """The same content was stored meanwhile (or before): roll our copy back, keep that one."""


class PostgresFileStore:
    """Files as rows of the catalog's database (pg_schema), fetched into a private cache.

    Writing streams the upload in ``chunk_bytes`` rows inside one transaction: a refused or
    interrupted upload leaves nothing. ``local_path`` copies a file into ``cache_dir`` (this
    host's own, under its data dir) once, atomically, and hands out that copy while it is there;
    the copy is named by the content's hash, so it can never be stale. Past ``cache_max_bytes``
    the copies least recently used are removed (they are fetched again when next wanted).

    A key that is a path (a document added with a local uploads folder, before the library
    moved to PostgreSQL, or by a tool given a folder) is read, and deleted, where it is: only
    on the host that has it.

    >>> files = PostgresFileStore(catalog, cache_dir=settings.data_dir / "file-cache")
    >>> key = files.put("report.pdf", blocks).key          # "pg:<sha256>.pdf"
    >>> files.local_path(key)                              # a file PDFium can open
    """

    kind = "postgresql"

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        cache_dir: Path,
        chunk_bytes: int = BLOCK_BYTES,
        cache_max_bytes: int = CACHE_MAX_BYTES,
        cache_min_age: float = CACHE_MIN_AGE,
    ) -> None:
        if chunk_bytes <= 0:
            raise ValueError(f"chunk_bytes must be > 0, got {chunk_bytes}")
        if cache_max_bytes <= 0 or cache_min_age < 0:
            raise ValueError(
                f"need cache_max_bytes > 0 and cache_min_age >= 0, got {cache_max_bytes} and "
                f"{cache_min_age}"
            )
        # The catalog's own pool and transactions (its errors become CatalogUnavailable, so a
        # job whose file cannot be fetched is retried, as for any other outage of the server).
        self._db = database
        self._paths = LocalFileStore(cache_dir)  # for keys that are local paths
        self.cache_dir = cache_dir
        self.chunk_bytes = chunk_bytes
        self.cache_max_bytes = cache_max_bytes
        self.cache_min_age = cache_min_age

    def put(
        self, name: str, blocks: Iterable[bytes], *, max_bytes: int | None = None
    ) -> StoredUpload:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        clean = display_name(name)
        digest = hashlib.sha256()
        size = 0
        try:
            with self._db._write() as cur:
                file_id = _one(cur.execute("SELECT nextval('file_ids') AS id").fetchone(), "id")
                pending = bytearray()
                n = 0
                for block in blocks:
                    size += len(block)
                    if max_bytes is not None and size > max_bytes:
                        raise too_large(clean, size, max_bytes)
                    digest.update(block)
                    pending += block
                    while len(pending) >= self.chunk_bytes:
                        _insert_chunk(cur, file_id, n, bytes(pending[: self.chunk_bytes]))
                        del pending[: self.chunk_bytes]
                        n += 1
                if pending or n == 0:  # an empty file is one empty chunk, so it reads back
                    _insert_chunk(cur, file_id, n, bytes(pending))
                    n += 1
                sha = digest.hexdigest()
                stored = f"{sha}{upload_suffix(clean)}"
                # Waits for another transaction storing the same name, then does nothing.
                row = cur.execute(
                    "INSERT INTO files (name, id, sha256, size, chunks, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING id",
                    (stored, file_id, sha, size, n, self._db._now()),
                ).fetchone()
                if row is None:
                    raise _AlreadyStored(stored)
        except _AlreadyStored as kept:
            stored = str(kept)
        return StoredUpload(doc_id=sha, name=clean, key=KEY_PREFIX + stored, size=size)

    def local_path(self, key: str) -> Path:
        if not is_store_key(key):
            return self._paths.local_path(key)
        name = _name(key)
        target = self.cache_dir / name[:2] / name
        if target.is_file():
            with contextlib.suppress(OSError):  # trimmed meanwhile: fetched again below
                os.utime(target)  # recently used: trimmed last
                return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".fetch-")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for block in self.read(key):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != name[:64]:
                raise OSError(
                    f"the stored file {name} reads back with another hash "
                    f"({digest.hexdigest()[:12]}…): its rows in the database are damaged"
                )
            os.replace(tmp, target)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise disk_full_error(self.cache_dir) from exc
            raise
        self.trim_cache()
        return target

    def trim_cache(self, *, now: float | None = None) -> list[Path]:
        """Remove this host's least recently used copies while the cache is over its size;
        returns those removed. Copies used in the last ``cache_min_age`` seconds are kept."""
        copies = []
        for path in self.cache_dir.glob("*/*"):
            with contextlib.suppress(OSError):  # removed meanwhile (another thread trimming)
                if UPLOAD_NAME.match(path.name):
                    stat = path.stat()
                    copies.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in copies)
        cutoff = (time.time() if now is None else now) - self.cache_min_age
        removed = []
        for used, size, path in sorted(copies):
            if total <= self.cache_max_bytes or used > cutoff:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed.append(path)
        return removed

    def read(self, key: str) -> Iterator[bytes]:
        if not is_store_key(key):
            yield from self._paths.read(key)
            return
        name = _name(key)
        # One snapshot: a delete on another host cannot cut the file short halfway through.
        with self._db._read(snapshot=True) as cur:
            found = cur.execute("SELECT id, chunks FROM files WHERE name = %s", (name,)).fetchone()
            if found is None:
                raise FileNotFoundError(f"the database holds no file {name}")
            for n in range(int(found["chunks"])):
                row = cur.execute(
                    "SELECT data FROM file_chunks WHERE file_id = %s AND n = %s",
                    (found["id"], n),
                    binary=True,
                ).fetchone()
                if row is None:
                    raise OSError(f"the stored file {name} lacks its part {n}")
                yield bytes(row["data"])

    def exists(self, key: str) -> bool:
        if not is_store_key(key):
            return self._paths.exists(key)
        name = _name(key)
        with self._db._read() as cur:
            return (
                cur.execute("SELECT 1 FROM files WHERE name = %s", (name,)).fetchone() is not None
            )

    def delete(self, key: str) -> None:
        if not is_store_key(key):
            self._paths.delete(key)
            return
        name = _name(key)
        with self._db._write() as cur:
            cur.execute("DELETE FROM files WHERE name = %s", (name,))
        # Other hosts' copies stay until their cache is cleared: named by content, never wrong.
        (self.cache_dir / name[:2] / name).unlink(missing_ok=True)

    def listing(self) -> list[StoredEntry]:
        with self._db._read() as cur:
            rows = cur.execute("SELECT name, size, created_at FROM files ORDER BY name").fetchall()
        return [
            StoredEntry(KEY_PREFIX + r["name"], r["name"], int(r["size"]), float(r["created_at"]))
            for r in rows
        ]

    def save_thumbnails(self, doc_id: str, pngs: Mapping[int, bytes]) -> None:
        with self._db._write() as cur:
            cur.execute("DELETE FROM thumbnails WHERE doc_id = %s", (doc_id,))
            for chunk_no, png in sorted(pngs.items()):
                # A document deleted meanwhile gets none (and raises no foreign-key error).
                cur.execute(
                    "INSERT INTO thumbnails (doc_id, chunk_no, png) "
                    "SELECT id, %s, %b FROM documents WHERE id = %s",
                    (chunk_no, png, doc_id),
                )

    def thumbnail(self, doc_id: str, chunk_no: int) -> bytes | None:
        with self._db._read() as cur:
            row = cur.execute(
                "SELECT png FROM thumbnails WHERE doc_id = %s AND chunk_no = %s",
                (doc_id, chunk_no),
                binary=True,
            ).fetchone()
        return bytes(row["png"]) if row is not None else None

    def drop_thumbnails(self, doc_id: str) -> None:
        with self._db._write() as cur:
            cur.execute("DELETE FROM thumbnails WHERE doc_id = %s", (doc_id,))

    def chunk_count(self, key: str) -> int:
        """How many rows hold the file's content (0 when it is not stored)."""
        with self._db._read() as cur:
            row = cur.execute(
                "SELECT count(*) AS n FROM file_chunks c JOIN files f ON f.id = c.file_id "
                "WHERE f.name = %s",
                (_name(key),),
            ).fetchone()
        return int(row["n"]) if row is not None else 0

    def close(self) -> None:
        return None  # the pool is the catalog's: closed with it


def _name(key: str) -> str:
    name = key.removeprefix(KEY_PREFIX)
    if name == key or not UPLOAD_NAME.match(name):
        raise FileNotFoundError(
            f"{key!r} is not a key of the PostgreSQL file store (pg:<sha256><suffix>)"
        )
    return name


def _insert_chunk(cur: Cursor, file_id: int, n: int, data: bytes) -> None:
    # %b sends the bytes as they are, not as hex text twice their size.
    cur.execute(
        "INSERT INTO file_chunks (file_id, n, data) VALUES (%s, %s, %b)", (file_id, n, data)
    )


def _one(row: dict[str, Any] | None, column: str) -> int:
    if row is None:
        raise RuntimeError(f"the database returned no {column}")
    return int(row[column])
