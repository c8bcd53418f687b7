"""Rendered pages and OCR word boxes kept on disk, per document and per version of its index."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from ragcore.catalog import DocumentRecord


def pages_dir(data_dir: Path) -> Path:
    """Where rendered pages are cached under the data folder."""
    return data_dir / "pages"


class PageCache:
    """Files under ``root/<doc id>/<version>/``: the doc id is the content's hash and the
    version the time the document was last (re-)indexed, so no entry of an older index is ever
    read; writing under a new version removes the older ones, and :meth:`forget` the document's.

    >>> cache = PageCache(pages_dir(settings.data_dir))
    >>> cache.path(doc, "p3-x1.50.png")
    PosixPath('data/pages/9f2c…/1733216400123/p3-x1.50.png')
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, doc: DocumentRecord) -> Path:
        return self.root / doc.id / str(round(doc.updated_at * 1000))

    def path(self, doc: DocumentRecord, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise ValueError(f"a cache entry is a plain file name, got {name!r}")
        return self.folder(doc) / name

    def read(self, doc: DocumentRecord, name: str) -> bytes | None:
        try:
            return self.path(doc, name).read_bytes()
        except OSError:
            return None

    def write(self, doc: DocumentRecord, name: str, data: bytes) -> None:
        """Store ``data``; a full disk or a read-only folder costs the cache, never the view."""
        folder = self.folder(doc)
        tmp: str | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for other in folder.parent.iterdir():
                if other != folder:
                    shutil.rmtree(other, ignore_errors=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, folder / name)  # readers see the whole file or none
        except OSError:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    Path(tmp).unlink(missing_ok=True)

    def forget(self, doc_id: str) -> None:
        """Remove everything cached for a document (it was deleted)."""
        if not doc_id or "/" in doc_id or doc_id.startswith("."):
            raise ValueError(f"not a document id: {doc_id!r}")
        shutil.rmtree(self.root / doc_id, ignore_errors=True)
