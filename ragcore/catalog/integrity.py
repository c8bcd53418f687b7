"""Read-outs of the catalog's own bookkeeping for `ingest check`: the FTS index against its chunks."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ragcore.catalog.database import CatalogDatabase

# How many example row ids a report carries; the counts are always complete.
SAMPLE = 20


@dataclass(frozen=True)
class FtsState:
    """How the keyword index compares with the chunk rows it indexes.

    ``missing``: chunk rows the index does not hold; ``extra``: index entries whose row is gone
    (both samples, with full counts); ``error``: what FTS5's own integrity check said, if not ok.
    """

    chunk_rows: int
    indexed_rows: int
    missing_count: int
    extra_count: int
    missing: tuple[int, ...]
    extra: tuple[int, ...]
    error: str | None

    @property
    def ok(self) -> bool:
        return not (self.missing_count or self.extra_count or self.error)


@dataclass(frozen=True)
class ChunkRef:
    """Where a vector-store point belongs according to the catalog."""

    doc_id: str
    chunk_no: int


def fts_state(catalog: CatalogDatabase) -> FtsState:
    """Compare the FTS index's rows (its docsize table) with the chunk rows, then run FTS5's
    integrity check, which also compares the index's terms with the chunks' text.
    """
    with catalog._read() as conn:
        chunk_rows = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM chunks_fts_docsize").fetchone()[0]
        missing_count, missing = _difference(
            conn, "SELECT rowid FROM chunks", "SELECT id FROM chunks_fts_docsize"
        )
        extra_count, extra = _difference(
            conn, "SELECT id FROM chunks_fts_docsize", "SELECT rowid FROM chunks"
        )
    error = None
    # 'integrity-check' is written as an INSERT, so it runs in a write transaction; it changes
    # nothing. With rank 1 it also checks the index against the external content (chunks).
    with catalog._write() as conn:
        try:
            conn.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            error = str(exc)
    return FtsState(chunk_rows, indexed, missing_count, extra_count, missing, extra, error)


def _difference(conn: sqlite3.Connection, left: str, right: str) -> tuple[int, tuple[int, ...]]:
    count = conn.execute(f"SELECT count(*) FROM ({left} EXCEPT {right})").fetchone()[0]
    rows = conn.execute(f"{left} EXCEPT {right} ORDER BY 1 LIMIT {SAMPLE}").fetchall()
    return count, tuple(r[0] for r in rows)


def rebuild_fts(catalog: CatalogDatabase) -> None:
    """Rebuild the keyword index from the chunk rows (FTS5's 'rebuild' command)."""
    with catalog._write() as conn:
        conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')")


def chunk_refs(catalog: CatalogDatabase) -> dict[str, ChunkRef]:
    """Every chunk's point id and where it belongs, without loading the chunks' text."""
    with catalog._read() as conn:
        rows = conn.execute("SELECT point_id, doc_id, chunk_no FROM chunks").fetchall()
    return {r["point_id"]: ChunkRef(r["doc_id"], r["chunk_no"]) for r in rows}


def chunk_counts(catalog: CatalogDatabase) -> dict[str, tuple[int, int]]:
    """Per document id: (text chunk rows, image chunk rows)."""
    with catalog._read() as conn:
        rows = conn.execute(
            "SELECT doc_id, sum(kind = 'text') AS texts, sum(kind = 'image') AS images "
            "FROM chunks GROUP BY doc_id"
        ).fetchall()
    return {r["doc_id"]: (int(r["texts"] or 0), int(r["images"] or 0)) for r in rows}


def delete_chunks_without_document(catalog: CatalogDatabase) -> int:
    """Remove chunk rows whose document row is gone (the foreign key prevents it; an old or
    hand-edited file may not). Their keyword entries go with them, by trigger."""
    with catalog._write() as conn:
        cursor = conn.execute("DELETE FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)")
    return cursor.rowcount
