"""The file store Protocol: where uploaded files are kept, and how a host gets a local copy."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ragcore.uploads import StoredUpload, display_name, too_large

# Files are read and copied in blocks of this size: memory stays flat whatever the file's size.
BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class StoredEntry:
    """One file a store holds, as the stray-upload check sees it.

    ``name`` is its content-addressed name (``<sha256><suffix>``), or for a local copy cut
    short its temporary name; ``modified`` is seconds since the epoch.
    """

    key: str
    name: str
    size: int
    modified: float


class FileStore(Protocol):
    """Uploaded files, content-addressed: the same bytes are kept once, under their sha256.

    A document's ``path`` holds the key ``put`` returned; every reader goes through
    ``local_path`` (parsers and PDFium want a file) or ``read`` (a download), never the key.

    >>> upload = files.put("report.pdf", blocks, max_bytes=100 << 20)
    >>> parse_file(files.local_path(upload.key))
    """

    kind: str  # "local" or "postgresql": for messages and the System view

    def put(
        self, name: str, blocks: Iterable[bytes], *, max_bytes: int | None = None
    ) -> StoredUpload:
        """Stream ``blocks`` in under their sha256; past ``max_bytes`` raises FileTooLarge and
        nothing of it is kept."""
        ...

    def local_path(self, key: str) -> Path:
        """A readable file on this host with the content of ``key``; FileNotFoundError if the
        store does not hold it."""
        ...

    def read(self, key: str) -> Iterator[bytes]:
        """The content of ``key`` in blocks; FileNotFoundError (on the first block) if absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the file (and this host's copy of it); a missing one is no error."""
        ...

    def listing(self) -> list[StoredEntry]:
        """Every file the store holds, for the check that finds files no document reads."""
        ...

    def save_thumbnails(self, doc_id: str, pngs: Mapping[int, bytes]) -> None:
        """Keep the thumbnails of a document's images (PNG by chunk number), replacing those
        it had; none are kept for a document the catalog no longer lists."""
        ...

    def thumbnail(self, doc_id: str, chunk_no: int) -> bytes | None:
        """The PNG of an image chunk, or None when there is none."""
        ...

    def drop_thumbnails(self, doc_id: str) -> None: ...

    def close(self) -> None: ...


def put_file(
    files: FileStore, source: Path, *, name: str | None = None, max_bytes: int | None = None
) -> StoredUpload:
    """Copy ``source`` into ``files``; one over ``max_bytes`` is refused before a byte is read."""
    shown = display_name(name or source.name)
    if max_bytes is not None and (size := source.stat().st_size) > max_bytes:
        raise too_large(shown, size, max_bytes)
    # The stream is held to the limit too: the file may grow after stat().
    return files.put(shown, read_blocks(source), max_bytes=max_bytes)


def read_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(block_bytes):
            yield block
