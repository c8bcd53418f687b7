"""The SQLite catalog's self-checks for `ingest check`: quick_check, and FTS5 against its chunks."""

from __future__ import annotations

import sqlite3

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.integrity import SAMPLE, ChunkRef, KeywordIndexState


class SqliteIntegrity:
    """``CatalogIntegrity`` of one SQLite catalog file.

    >>> SqliteIntegrity(catalog).keyword_index_state().ok
    True
    """

    backend = "sqlite"
    restore_advice = (
        "`python -m ingest check --repair` keeps the damaged file aside, restores the newest "
        "sound backup (or starts a new catalog) and queues the uploaded files it does not list"
    )

    def __init__(self, catalog: CatalogDatabase) -> None:
        self._catalog = catalog

    def check_storage(self) -> None:
        self._catalog.quick_check()

    def keyword_index_state(self) -> KeywordIndexState:
        """Compare the FTS index's rows (its docsize table) with the chunk rows, then run FTS5's
        integrity check, which also compares the index's terms with the chunks' text.
        """
        with self._catalog._read() as conn:
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
        with self._catalog._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)"
                )
            except sqlite3.DatabaseError as exc:
                error = str(exc)
        return KeywordIndexState(
            chunk_rows, indexed, missing_count, extra_count, missing, extra, error
        )

    def rebuild_keyword_index(self) -> None:
        """FTS5's 'rebuild' command: the index and its statistics again from the chunk rows."""
        with self._catalog._write() as conn:
            conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')")

    def chunk_refs(self) -> dict[str, ChunkRef]:
        with self._catalog._read() as conn:
            rows = conn.execute("SELECT point_id, doc_id, chunk_no FROM chunks").fetchall()
        return {r["point_id"]: ChunkRef(r["doc_id"], r["chunk_no"]) for r in rows}

    def chunk_counts(self) -> dict[str, tuple[int, int]]:
        with self._catalog._read() as conn:
            rows = conn.execute(
                "SELECT doc_id, sum(kind = 'text') AS texts, sum(kind = 'image') AS images "
                "FROM chunks GROUP BY doc_id"
            ).fetchall()
        return {r["doc_id"]: (int(r["texts"] or 0), int(r["images"] or 0)) for r in rows}

    def delete_chunks_without_document(self) -> int:
        """The foreign key prevents such rows; an old or hand-edited file may hold some. Their
        keyword entries go with them, by trigger."""
        with self._catalog._write() as conn:
            cursor = conn.execute(
                "DELETE FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)"
            )
        return cursor.rowcount


def _difference(conn: sqlite3.Connection, left: str, right: str) -> tuple[int, tuple[int, ...]]:
    count = conn.execute(f"SELECT count(*) FROM ({left} EXCEPT {right})").fetchone()[0]
    rows = conn.execute(f"{left} EXCEPT {right} ORDER BY 1 LIMIT {SAMPLE}").fetchall()
    return count, tuple(r[0] for r in rows)
