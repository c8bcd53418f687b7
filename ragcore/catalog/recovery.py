"""A damaged catalog file: put it aside (never deleted), read what still reads, restore a backup."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ragcore.catalog.backup import timestamp
from ragcore.catalog.records import DocumentRecord
from ragcore.catalog.spaces import SpaceRecord

log = logging.getLogger(__name__)

# SQLite keeps a WAL catalog in up to three files; they are moved and copied together.
_COMPANIONS = ("", "-wal", "-shm")
T = TypeVar("T")


@dataclass(frozen=True)
class Salvage:
    """The rows of a damaged catalog that could still be read (possibly none)."""

    documents: Mapping[str, DocumentRecord] = field(default_factory=dict)
    active_space: SpaceRecord | None = None


def set_aside(path: Path, now: float) -> Path:
    """Rename the catalog and its -wal/-shm files to ``<name>.damaged-<time>``; returns the new
    main file. The WAL goes with it: it may hold the last commits, which salvage() reads."""
    aside = path.with_name(f"{path.name}.damaged-{timestamp(now)}")
    for suffix in _COMPANIONS:
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{aside}{suffix}"))
    return aside


def salvage(damaged: Path) -> Salvage:
    """Read the document rows and the active model space that the damaged file still yields.

    Works on a copy (with its WAL), so the damaged file stays exactly as it was found; reading
    stops at the first damaged page of each table.
    """
    with tempfile.TemporaryDirectory(prefix="catalog-salvage-") as tmp:
        copy = Path(tmp) / "catalog.sqlite3"
        for suffix in _COMPANIONS[:2]:
            source = Path(f"{damaged}{suffix}")
            if source.exists():
                shutil.copyfile(source, Path(f"{copy}{suffix}"))
        if not copy.exists():
            return Salvage()
        try:
            conn = sqlite3.connect(copy, isolation_level=None)
        except sqlite3.Error:
            return Salvage()
        conn.row_factory = sqlite3.Row
        try:
            documents = {
                doc.id: doc for doc in _records(conn, "documents", DocumentRecord.from_row)
            }
            spaces = _records(conn, "spaces WHERE status = 'active'", SpaceRecord.from_row)
        finally:
            conn.close()
    return Salvage(documents, spaces[0] if spaces else None)


def _records(conn: sqlite3.Connection, table: str, build: Callable[[sqlite3.Row], T]) -> list[T]:
    """The rows of ``table`` read before the first damaged page, as records (a row that a
    damaged page garbled into invalid values is skipped)."""
    out: list[T] = []
    try:
        cursor = conn.execute(f"SELECT * FROM {table}")
        while (row := cursor.fetchone()) is not None:
            try:
                out.append(build(row))
            except (ValueError, TypeError, KeyError, IndexError):
                continue
    except sqlite3.Error as exc:
        log.info("salvage stopped reading %s: %s", table, exc)
    return out


def restore(backup: Path, path: Path) -> None:
    """Put a copy of ``backup`` in place as the catalog ``path`` (whole, or not at all)."""
    # SQLite would replay a WAL left beside the file onto the restored pages: set_aside first.
    leftovers = [f"{path}{s}" for s in _COMPANIONS if Path(f"{path}{s}").exists()]
    if leftovers:
        raise ValueError(f"set the catalog aside before restoring over it: {', '.join(leftovers)}")
    partial = path.with_name(f".{path.name}.restoring")
    try:
        shutil.copyfile(backup, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
