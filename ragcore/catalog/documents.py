"""Documents and their chunks in the catalog, and keyword (BM25) search over the chunks."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.fts import sanitize_fts_query
from ragcore.catalog.jobs import cancel_active_jobs
from ragcore.catalog.records import ChunkRow, DocumentRecord, JobKind
from ragcore.catalog.rules import (
    DocumentNotFound,
    document_not_found,
    new_document_values,
    status_updates,
)
from ragcore.catalog.spaces import check_space_active
from ragcore.catalog.steps import DocumentSteps
from ragcore.types import Chunk

# The refusal is shared with the PostgreSQL catalog; still importable from here.
__all__ = ["DocumentNotFound", "DocumentsMixin"]


def _set_clause(columns: Sequence[str]) -> str:
    # Column names come from DocumentRecord's fields (rules.checked_fields), never from the caller, so this is safe.
    return ", ".join(f'"{name}" = ?' for name in columns)


class DocumentsMixin(CatalogDatabase, DocumentSteps):
    """The documents/chunks half of the Catalog (its reads: DocumentSteps)."""

    _DOCUMENT = "SELECT * FROM documents WHERE id = ?"
    _ALL_DOCUMENTS = "SELECT * FROM documents ORDER BY created_at DESC, rowid DESC"
    _ALL_CHUNKS = "SELECT * FROM chunks ORDER BY doc_id, chunk_no"
    _DOC_CHUNKS = "SELECT * FROM chunks WHERE doc_id = ? ORDER BY chunk_no"
    _CHUNKS_AT_POINTS = "SELECT * FROM chunks WHERE point_id IN (SELECT value FROM json_each(?))"
    _DOCUMENT_NAMES = "SELECT id, name FROM documents WHERE id IN (SELECT value FROM json_each(?))"
    _COUNT_DOCUMENTS = "SELECT status AS grp, count(*) AS n FROM documents GROUP BY status"
    _COUNT_CHUNKS = "SELECT kind AS grp, count(*) AS n FROM chunks GROUP BY kind"
    _COUNT_JOBS = "SELECT status AS grp, count(*) AS n FROM jobs GROUP BY status"

    def upsert_document(self, doc: DocumentRecord) -> tuple[DocumentRecord, bool]:
        """Add ``doc``; if its id (content hash) exists, return the stored row unchanged and False."""
        values = new_document_values(doc, self._now())
        names = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        with self._write() as conn:
            created = (
                conn.execute(
                    f"INSERT INTO documents ({names}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING",
                    tuple(values.values()),
                ).rowcount
                == 1
            )
            row = conn.execute("SELECT * FROM documents WHERE id = ?", (doc.id,)).fetchone()
        return DocumentRecord.from_row(row), created

    def set_document_status(
        self, doc_id: str, status: str, *, error: str | None = None, **fields: object
    ) -> None:
        """Set status and error (None clears it), plus known columns such as pages or strategy."""
        updates = status_updates(status, error, fields, self._now())
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE documents SET {_set_clause(list(updates))} WHERE id = ?",
                (*updates.values(), doc_id),
            )
            if cursor.rowcount == 0:
                raise document_not_found(doc_id)

    def _store_chunks(
        self,
        doc_id: str,
        chunks: Sequence[Chunk],
        rows: list[tuple[object, ...]],
        updates: dict[str, object],
        space: str | None,
    ) -> None:
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is None:
                raise document_not_found(doc_id, while_indexing=True)
            if space is not None:
                check_space_active(conn, space)
            # The triggers on chunks remove and add the FTS entries in this same transaction.
            conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            conn.executemany(
                'INSERT INTO chunks (doc_id, chunk_no, point_id, page, start, "end", kind, '
                "section, image_index, text, embed_model, embed_fingerprint, location, "
                "ocr_confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute(
                f"UPDATE documents SET {_set_clause(list(updates))} WHERE id = ?",
                (*updates.values(), doc_id),
            )

    def delete_document(self, doc_id: str) -> bool:
        """Remove the document, its chunks and their keyword index at once; cancel its jobs.

        A running 'delete' job of the document is left alone: it is the one calling this.
        Returns whether the document existed.
        """
        with self._write() as conn:
            conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            existed = conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount == 1
            cancel_active_jobs(conn, doc_id, self._now(), except_kind=JobKind.DELETE)
        return existed

    def _keyword_search(
        self, query: str, limit: int, doc_ids: Sequence[str] | None, collection: int | None
    ) -> list[tuple[ChunkRow, float]]:
        match = sanitize_fts_query(query)
        if match is None:
            return []
        sql = (
            "SELECT c.*, bm25(chunks_fts) AS bm25_score FROM chunks_fts "
            "JOIN chunks AS c ON c.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ?"
        )
        params: list[object] = [match]
        if doc_ids is not None:
            sql += " AND c.doc_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(doc_ids)))
        if collection is not None:
            sql += (
                " AND c.doc_id IN (SELECT doc_id FROM collection_documents WHERE collection_id = ?)"
            )
            params.append(collection)
        # FTS5's bm25() is lower-is-better (so the score is its negation); rowid breaks ties so
        # results are deterministic.
        sql += " ORDER BY bm25_score, c.rowid LIMIT ?"
        params.append(limit)
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [(ChunkRow.from_row(r), -float(r["bm25_score"])) for r in rows]
