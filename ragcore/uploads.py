"""Content-addressed storage of uploaded files: the path never comes from the person's file name."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ragcore.errors import FileTooLarge, disk_full_error

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Python hands over file-name bytes that are not UTF-8 as lone surrogates (surrogateescape);
# SQLite, JSON and terminals refuse those, so they never leave this module.
_SURROGATE = re.compile("[\ud800-\udfff]")
# An upload file is named by its content: ``<sha256><suffix>`` in a folder named by its first
# two hex digits. Anything else in the folder (a temporary ``.upload-*``) is not a stored upload.
UPLOAD_NAME = re.compile(r"^[0-9a-f]{64}(\.[a-z0-9]{1,8})?$")
# A shared store's key is ``<scheme>:<upload name>`` ("pg:ab12….pdf"); a local upload's is its path.
_STORE_KEY = re.compile(r"^([a-z][a-z0-9]*):([0-9a-f]{64}(?:\.[a-z0-9]{1,8})?)$")


@dataclass(frozen=True)
class StoredUpload:
    """A file kept by a file store (ragcore.files); ``key`` is how a document names it."""

    doc_id: str  # sha256 of the content
    name: str  # a display name, cleaned of paths and control characters
    key: str  # a local upload's path, or a shared store's key ("pg:<sha256><suffix>")
    size: int

    @property
    def path(self) -> Path:
        """The file itself, for an upload of the local store (its key is the path)."""
        if is_store_key(self.key):
            raise ValueError(f"{self.key!r} names a file of a shared store, not a local path")
        return Path(self.key)


def is_store_key(key: str) -> bool:
    """Whether a document's ``path`` names a file of a shared store rather than a local file."""
    return _STORE_KEY.match(key) is not None


def stored_name(key: str) -> str:
    """The content-addressed name (``<sha256><suffix>``) of the file a key or path names.

    >>> stored_name("pg:" + "ab" * 32 + ".pdf") == stored_name("/data/uploads/ab/" + "ab" * 32 + ".pdf")
    True
    """
    found = _STORE_KEY.match(key)
    return found.group(2) if found else Path(key).name


def has_undecodable_bytes(raw: str) -> bool:
    """Whether ``raw`` (a name from the command line or the disk) held bytes that are not UTF-8."""
    return _SURROGATE.search(raw) is not None


def readable(raw: str) -> str:
    r"""``raw`` with the bytes that are not UTF-8 replaced by U+FFFD, so it can be stored and shown.

    >>> readable(os.fsdecode(b"caf\xe9.txt")) == "caf\N{REPLACEMENT CHARACTER}.txt"
    True
    """
    return _SURROGATE.sub("\N{REPLACEMENT CHARACTER}", raw)


def display_name(raw: str, *, max_len: int = 200) -> str:
    """What we show and log for a user-supplied file name: its last path part, no control chars."""
    base = readable(raw).replace("\\", "/").rsplit("/", 1)[-1]
    base = _CONTROL.sub("", base).strip() or "unnamed"
    if base in {".", ".."}:
        base = "unnamed"
    if len(base) > max_len:
        _, dot, ext = base.rpartition(".")
        keep = ext if dot and len(ext) <= 8 else ""
        base = base[: max_len - len(keep) - 2] + "…" + ("." + keep if keep else "")
    return base


def human_size(n_bytes: int) -> str:
    """A byte count as a person says it: "512 bytes", "3.4 MB", "300 MB"."""
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    size = float(n_bytes)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}" if size < 10 else f"{size:.0f} {unit}"


def too_large(name: str, size: int, max_bytes: int) -> FileTooLarge:
    """The error for a file over the upload limit; ``size`` is what was seen (at least)."""
    return FileTooLarge(
        f"{name} is {human_size(size)}, more than the limit of {human_size(max_bytes)} "
        "for one file; it was not added."
    )


def upload_suffix(name: str) -> str:
    """The suffix a stored copy of ``name`` keeps (lower case, ``""`` when it is not plain)."""
    suffix = Path(name).suffix.lower()
    return suffix if _SUFFIX.match(suffix) else ""


def store_bytes(
    uploads_dir: Path, name: str, chunks: Iterable[bytes], *, max_bytes: int | None = None
) -> StoredUpload:
    """Stream content into ``uploads_dir/<sha[:2]>/<sha><suffix>``; identical content is kept once.

    More than ``max_bytes`` raises FileTooLarge as soon as the stream passes the limit, and
    nothing of it is kept.
    """
    if max_bytes is not None and max_bytes <= 0:
        raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
    clean = display_name(name)
    uploads_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=uploads_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for block in chunks:
                size += len(block)
                if max_bytes is not None and size > max_bytes:
                    raise too_large(clean, size, max_bytes)
                digest.update(block)
                out.write(block)
        doc_id = digest.hexdigest()
        target = uploads_dir / doc_id[:2] / f"{doc_id}{upload_suffix(clean)}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, target)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise disk_full_error(uploads_dir) from exc
        raise
    return StoredUpload(doc_id=doc_id, name=clean, key=str(target), size=size)


def store_file(
    uploads_dir: Path, source: Path, *, name: str | None = None, max_bytes: int | None = None
) -> StoredUpload:
    """Copy ``source`` in; one over ``max_bytes`` is refused before a byte is copied."""
    shown = display_name(name or source.name)
    if max_bytes is not None and (size := source.stat().st_size) > max_bytes:
        raise too_large(shown, size, max_bytes)

    def blocks() -> Iterator[bytes]:
        with source.open("rb") as handle:
            while block := handle.read(1 << 20):
                yield block

    # The stream is held to the limit too: the file may grow after stat().
    return store_bytes(uploads_dir, shown, blocks(), max_bytes=max_bytes)


def stored_uploads(uploads_dir: Path) -> list[StoredUpload]:
    """Every upload in ``uploads_dir``, found by its content-addressed name, sorted by id.

    The person's file name is not kept there, only its suffix: ``name`` is the stored file's
    own name. Temporary files of unfinished uploads are left out.
    """
    if not uploads_dir.is_dir():
        return []
    found = [
        StoredUpload(doc_id=p.name[:64], name=p.name, key=str(p), size=p.stat().st_size)
        for p in uploads_dir.glob("*/*")
        if UPLOAD_NAME.match(p.name) and p.parent.name == p.name[:2] and p.is_file()
    ]
    return sorted(found, key=lambda u: u.doc_id)
