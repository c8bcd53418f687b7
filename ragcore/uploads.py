"""Content-addressed storage of uploaded files: the path never comes from the person's file name."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class StoredUpload:
    doc_id: str  # sha256 of the content
    name: str  # a display name, cleaned of paths and control characters
    path: Path
    size: int


def display_name(raw: str, *, max_len: int = 200) -> str:
    """What we show and log for a user-supplied file name: its last path part, no control chars."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    base = _CONTROL.sub("", base).strip() or "unnamed"
    if base in {".", ".."}:
        base = "unnamed"
    if len(base) > max_len:
        _, dot, ext = base.rpartition(".")
        keep = ext if dot and len(ext) <= 8 else ""
        base = base[: max_len - len(keep) - 2] + "…" + ("." + keep if keep else "")
    return base


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if _SUFFIX.match(suffix) else ""


def store_bytes(uploads_dir: Path, name: str, chunks: Iterable[bytes]) -> StoredUpload:
    """Stream content into ``uploads_dir/<sha[:2]>/<sha><suffix>``; identical content is kept once."""
    uploads_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=uploads_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for block in chunks:
                digest.update(block)
                size += len(block)
                out.write(block)
        doc_id = digest.hexdigest()
        clean = display_name(name)
        target = uploads_dir / doc_id[:2] / f"{doc_id}{_suffix(clean)}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return StoredUpload(doc_id=doc_id, name=clean, path=target, size=size)


def store_file(uploads_dir: Path, source: Path, *, name: str | None = None) -> StoredUpload:
    def blocks() -> Iterable[bytes]:
        with source.open("rb") as handle:
            while block := handle.read(1 << 20):
                yield block

    return store_bytes(uploads_dir, name or source.name, blocks())
