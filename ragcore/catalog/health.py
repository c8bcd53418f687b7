"""Is the catalog file sound: SQLite's quick_check, and its storage errors in words a person reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ragcore.errors import CatalogCorrupt, DiskFull, RagError, disk_full_error, is_disk_full

# SQLite's primary result codes for a damaged file; extended codes keep them in their low byte.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
# How many findings quick_check reports (it reads the whole file either way).
_FINDINGS = 3


def is_corruption(exc: BaseException) -> bool:
    """Whether SQLite refused ``exc``'s statement because the file is damaged or no database."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and (
        (code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB))
        or "malformed" in str(exc)
    )


def quick_check(conn: sqlite3.Connection) -> str | None:
    """None when SQLite finds the file sound, else what it found.

    ``PRAGMA quick_check`` reads every page and checks the b-trees but not that indexes match
    their tables (``integrity_check`` does, at several times the cost): enough to refuse a
    truncated or overwritten file, cheap enough for every open.
    """
    try:
        rows = conn.execute(f"PRAGMA quick_check({_FINDINGS})").fetchall()
    except sqlite3.DatabaseError as exc:
        # A badly damaged file makes the check itself fail rather than report.
        if is_corruption(exc):
            return str(exc)
        raise
    findings = [str(row[0]) for row in rows]
    if findings == ["ok"]:
        return None
    return "; ".join(" ".join(f.split()) for f in findings)[:300]


def open_on_disk(path: Path) -> sqlite3.Connection:
    """A new read-only connection to ``path``: it reads the file as it is on disk now, where a
    connection that has been open a while may answer from its page cache and miss damage done
    to the file since."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)


def quick_check_file(path: Path) -> str | None:
    """quick_check on the file as it is on disk (a catalog, a backup), which it leaves as it is.

    Errors other than damage (the file is missing, locked) are raised, not reported as damage.
    """
    conn = open_on_disk(path)
    try:
        return quick_check(conn)
    finally:
        conn.close()


def catalog_corrupt(path: Path, detail: str) -> CatalogCorrupt:
    """The one wording of a damaged catalog: what happened and what to do."""
    return CatalogCorrupt(
        f"The catalog {path} is damaged (SQLite says: {detail}), so nothing more is written "
        "to it. Stop the app and any ingestion workers, then run "
        "`python -m ingest check --repair`: it keeps the damaged file aside, restores the "
        "newest sound backup (or rebuilds the catalog from the uploaded files) and queues "
        "the documents that need ingesting again."
    )


def storage_error(exc: BaseException, path: Path) -> RagError | None:
    """The readable error for a damaged catalog or a full disk; None for any other error."""
    if isinstance(exc, CatalogCorrupt | DiskFull):
        return exc
    if is_corruption(exc):
        return catalog_corrupt(path, str(exc))
    if is_disk_full(exc):
        return disk_full_error(path.parent)
    return None
