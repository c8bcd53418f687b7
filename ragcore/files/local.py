"""Uploaded files as files in a folder of this host: the embedded default (one person, one machine)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ragcore.files.base import StoredEntry, read_blocks
from ragcore.uploads import UPLOAD_NAME, StoredUpload, is_store_key, store_bytes


class LocalFileStore:
    """``uploads_dir/<sha[:2]>/<sha><suffix>``; a key is the file's own path. Thumbnails are
    ``thumbs_dir/<doc_id>/<chunk_no>.png`` (default: ``thumbs`` beside ``uploads_dir``).

    >>> files = LocalFileStore(settings.uploads_dir)
    >>> files.local_path(files.put("a.txt", [b"hi"]).key).read_bytes()
    b'hi'
    """

    kind = "local"

    def __init__(self, uploads_dir: Path, *, thumbs_dir: Path | None = None) -> None:
        self.uploads_dir = uploads_dir
        self.thumbs_dir = thumbs_dir if thumbs_dir is not None else uploads_dir.parent / "thumbs"

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

    def save_thumbnails(self, doc_id: str, pngs: Mapping[int, bytes]) -> None:
        folder = self.thumbs_dir / doc_id
        shutil.rmtree(folder, ignore_errors=True)  # a re-indexed document's old ones go
        for chunk_no, png in pngs.items():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{chunk_no}.png").write_bytes(png)

    def thumbnail(self, doc_id: str, chunk_no: int) -> bytes | None:
        path = self.thumbs_dir / doc_id / f"{chunk_no}.png"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def drop_thumbnails(self, doc_id: str) -> None:
        shutil.rmtree(self.thumbs_dir / doc_id, ignore_errors=True)

    def close(self) -> None:
        return None


def _path(key: str) -> Path:
    if is_store_key(key):
        raise FileNotFoundError(
            f"{key} is a file of a shared store (RAG_CATALOG_URL), not of this host's uploads "
            "folder: open the library with the catalog it was added to"
        )
    return Path(key)
