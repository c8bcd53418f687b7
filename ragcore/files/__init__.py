"""Uploaded files behind one Protocol: a local folder, or the PostgreSQL catalog's database."""

from __future__ import annotations

from pathlib import Path

from ragcore.catalog.backend import CatalogBackend
from ragcore.files.base import BLOCK_BYTES, FileStore, StoredEntry, put_file, read_blocks
from ragcore.files.local import LocalFileStore

__all__ = [
    "BLOCK_BYTES",
    "FileStore",
    "LocalFileStore",
    "StoredEntry",
    "open_file_store",
    "put_file",
    "read_blocks",
]


def open_file_store(
    catalog: CatalogBackend, *, uploads_dir: Path, thumbs_dir: Path, cache_dir: Path
) -> FileStore:
    """Where uploads go with this catalog: its PostgreSQL database, so every host reads them,
    with copies fetched into ``cache_dir`` (this host's); else the folders ``uploads_dir`` and
    ``thumbs_dir`` (for images' thumbnails).

    >>> files = open_file_store(catalog, uploads_dir=..., thumbs_dir=..., cache_dir=...)
    """
    if getattr(catalog, "backend", "") == "postgresql":
        # Imported here: the embedded default never loads the PostgreSQL driver.
        from ragcore.catalog.postgres.database import PostgresDatabase
        from ragcore.files.postgres import PostgresFileStore

        if not isinstance(catalog, PostgresDatabase):
            raise TypeError(f"a PostgreSQL catalog is a PostgresDatabase, got {type(catalog)}")
        return PostgresFileStore(catalog, cache_dir=cache_dir)
    return LocalFileStore(uploads_dir, thumbs_dir=thumbs_dir)
