"""Uploaded files as files in a folder of this host: the embedded default (one person, one machine)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ragcore.files.base import StoredEntry, read_blocks
from ragcore.uploads import UPLOAD_NAME, StoredUpload, is_store_key, store_bytes


class LocalFileStore:
    """``uploads_dir/<sha[:2]>/<sha><suffix>``; a key is the file's own path.

    >>> files = LocalFileStore(settings.uploads_dir)
    >>> files.local_path(files.put("a.txt", [b"hi"]).key).read_bytes()
    b'hi'
    """

    kind = "local"

    def __init__(self, uploads_dir: Path) -> None:
        self.uploads_dir = uploads_dir

    def put(
        self, name: str, blocks: Iterable[bytes], *, max_bytes: int | None = None
    ) -> StoredUpload:
        return store_bytes(self.uploads_dir, name, blocks, max_bytes=max_bytes)

    def local_path(self, key: str) -> Path:
        path = _path(key)
        if not path.is_file():
            raise FileNotFoundError(f"the uploaded file {path} is gone")
        return path

    def read(self, key: str) -> Iterator[bytes]:
        yield from read_blocks(self.local_path(key))

    def exists(self, key: str) -> bool:
        return not is_store_key(key) and Path(key).is_file()

    def delete(self, key: str) -> None:
        # Another document cannot share the file: its name is the content's hash.
        _path(key).unlink(missing_ok=True)

    def listing(self) -> list[StoredEntry]:
        """Content-named files, and temporary ``.upload-*`` copies an interrupted add left."""
        if not self.uploads_dir.is_dir():
            return []
        found = [
            p
            for p in self.uploads_dir.glob("*/*")
            if UPLOAD_NAME.match(p.name) and p.parent.name == p.name[:2]
        ]
        found += self.uploads_dir.glob(".upload-*")
        entries = []
        for path in sorted(found):
            try:
                if path.is_file():
                    stat = path.stat()
                    entries.append(StoredEntry(str(path), path.name, stat.st_size, stat.st_mtime))
            except OSError:  # removed meanwhile
                continue
        return entries

    def close(self) -> None:
        return None


def _path(key: str) -> Path:
    if is_store_key(key):
        raise FileNotFoundError(
            f"{key} is a file of a shared store (RAG_CATALOG_URL), not of this host's uploads "
            "folder: open the library with the catalog it was added to"
        )
    return Path(key)
