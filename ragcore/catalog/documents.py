"""Documents and their chunks in the catalog, and keyword (BM25) search over the chunks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.fts import sanitize_fts_query
from ragcore.catalog.jobs import cancel_active_jobs
from ragcore.catalog.records import ChunkRow, DocumentRecord, JobKind
from ragcore.catalog.rules import (
    DocumentNotFound,
    check_chunks,
    check_limit,
    chunk_values,
    document_not_found,
    new_document_values,
    ready_updates,
    status_updates,
    tally,
)
from ragcore.catalog.spaces import check_space_active
from ragcore.types import Chunk

# The refusal is shared with the PostgreSQL catalog; still importable from here.
__all__ = ["DocumentNotFound", "DocumentsMixin"]


def _set_clause(columns: Sequence[str]) -> str:
    # Column names come from DocumentRecord's fields (rules.checked_fields), never from the caller, so this is safe.
    return ", ".join(f'"{name}" = ?' for name in columns)


class DocumentsMixin(CatalogDatabase):
    """The documents/chunks half of the Catalog."""

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

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else DocumentRecord.from_row(row)

    def list_documents(self) -> list[DocumentRecord]:
        """Every document, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM documents ORDER BY created_at DESC, rowid DESC"
            ).fetchall()
        return [DocumentRecord.from_row(r) for r in rows]

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

    def replace_chunks(
        self,
        doc_id: str,
        chunks: Sequence[Chunk],
        *,
        embed_model: str,
        stats: Mapping[str, object],
        embed_fingerprint: str = "",
        space: str | None = None,
    ) -> None:
        """Swap the document's chunks for ``chunks`` and mark it ready, all in one transaction.

        Keyword search sees either the old chunks or the new ones, never a mix or neither.
        ``stats`` sets document columns such as pages, pages_without_text, strategy.
        ``space``: the model space the vectors were written to; if it is no longer the active
        one (a re-embed switched meanwhile), nothing is written and ``SpaceChanged`` is raised.
        """
        check_chunks(doc_id, chunks)
        updates = ready_updates(chunks, embed_model=embed_model, stats=stats, now=self._now())
        rows = chunk_values(
            doc_id, chunks, embed_model=embed_model, embed_fingerprint=embed_fingerprint
        )
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

    def chunks(self, doc_id: str | None = None) -> list[ChunkRow]:
        """The chunks of one document, or of all, in document and chunk order."""
        with self._read() as conn:
            if doc_id is None:
                rows = conn.execute("SELECT * FROM chunks ORDER BY doc_id, chunk_no").fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM chunks WHERE doc_id = ? ORDER BY chunk_no", (doc_id,)
                ).fetchall()
        return [ChunkRow.from_row(r) for r in rows]

    def chunks_by_point_ids(self, point_ids: Sequence[str]) -> dict[str, ChunkRow]:
        """The chunks behind vector-store point ids; ids the catalog does not know are left out."""
        if not point_ids:
            return {}
        with self._read() as conn:
            # json_each takes any number of ids as one parameter (no SQL-variable limit).
            rows = conn.execute(
                "SELECT * FROM chunks WHERE point_id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(point_ids)),),
            ).fetchall()
        return {r["point_id"]: ChunkRow.from_row(r) for r in rows}

    def counts(self) -> dict[str, int]:
        """documents, chunks, image_chunks, documents_<status> and jobs_<status> for every status."""
        with self._read() as conn:
            documents = conn.execute("SELECT status, count(*) FROM documents GROUP BY status")
            by_status = [(r[0], r[1]) for r in documents]
            chunks = conn.execute("SELECT kind, count(*) FROM chunks GROUP BY kind")
            by_kind = [(r[0], r[1]) for r in chunks]
            jobs = conn.execute("SELECT status, count(*) FROM jobs GROUP BY status")
            job_states = [(r[0], r[1]) for r in jobs]
        return tally(by_status, by_kind, job_states)

    def bm25_search(
        self,
        query: str,
        *,
        limit: int,
        doc_ids: Sequence[str] | None = None,
        collection: int | None = None,
    ) -> list[tuple[ChunkRow, float]]:
        """Chunks matching any term of ``query``, best first, scored -bm25() (higher is better).

        ``doc_ids`` restricts the search to those documents and ``collection`` to the members of
        that collection (both inside SQL, so ``limit`` counts only their chunks); an empty
        sequence matches nothing.
        """
        check_limit(limit)
        match = sanitize_fts_query(query)
        if match is None or (doc_ids is not None and not doc_ids):
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
        # FTS5's bm25() is lower-is-better; rowid breaks ties so results are deterministic.
        sql += " ORDER BY bm25_score, c.rowid LIMIT ?"
        params.append(limit)
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [(ChunkRow.from_row(r), -float(r["bm25_score"])) for r in rows]
