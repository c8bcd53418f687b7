"""Documents and their chunks in the PostgreSQL catalog, and keyword (BM25) search over them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ragcore.catalog import pg_keyword
from ragcore.catalog.postgres.database import Cursor, PostgresDatabase
from ragcore.catalog.postgres.jobs import cancel_active_jobs
from ragcore.catalog.postgres.rows import CHUNK_COLUMNS
from ragcore.catalog.postgres.spaces import check_space_active, lock_chunks_version
from ragcore.catalog.records import ChunkRow, DocumentRecord, JobKind
from ragcore.catalog.rules import (
    document_not_found,
    new_document_values,
    status_updates,
)
from ragcore.catalog.steps import DocumentSteps
from ragcore.types import Chunk


def _set_clause(columns: Sequence[str]) -> sql.Composed:
    # Column names come from DocumentRecord's fields (rules.checked_fields refuses others).
    return sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in columns)


def keyword_cursor(cur: Cursor) -> psycopg.Cursor[Any]:
    """A cursor in the same transaction with plain tuple rows, as pg_keyword reads its rows."""
    return cur.connection.cursor(row_factory=tuple_row)


def delete_chunks(cur: Cursor, doc_id: str) -> int:
    """Remove the document's chunks and their keyword entries; returns how many went."""
    cur.execute("DELETE FROM chunks WHERE doc_id = %s RETURNING id", (doc_id,))
    ids = [int(r["id"]) for r in cur.fetchall()]
    if ids:
        pg_keyword.remove_chunks(keyword_cursor(cur), ids)
    return len(ids)


def bump_chunks_version(cur: Cursor, changed: int) -> None:
    """Move the counter by the number of chunk rows changed, as SQLite's triggers do."""
    if changed:
        cur.execute(
            "UPDATE catalog_meta SET value = value + %s WHERE key = 'chunks_version'", (changed,)
        )


class DocumentsMixin(PostgresDatabase, DocumentSteps):
    """The documents/chunks half of the PostgresCatalog (its reads: DocumentSteps)."""

    _DOCUMENT = "SELECT * FROM documents WHERE id = %s"
    _ALL_DOCUMENTS = "SELECT * FROM documents ORDER BY created_at DESC, seq DESC"
    _ALL_CHUNKS = f"SELECT {CHUNK_COLUMNS} FROM chunks ORDER BY doc_id, chunk_no"
    _DOC_CHUNKS = f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE doc_id = %s ORDER BY chunk_no"
    _CHUNKS_AT_POINTS = f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE point_id = ANY(%s)"
    _DOCUMENT_NAMES = "SELECT id, name FROM documents WHERE id = ANY(%s)"
    _COUNT_DOCUMENTS = "SELECT status AS grp, count(*) AS n FROM documents GROUP BY status"
    _COUNT_CHUNKS = "SELECT kind AS grp, count(*) AS n FROM chunks GROUP BY kind"
    _COUNT_JOBS = "SELECT status AS grp, count(*) AS n FROM jobs GROUP BY status"

    def upsert_document(self, doc: DocumentRecord) -> tuple[DocumentRecord, bool]:
        """Add ``doc``; if its id (content hash) exists, return the stored row unchanged and False."""
        values = new_document_values(doc, self._now())
        query = sql.SQL(
            "INSERT INTO documents ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING"
        ).format(
            sql.SQL(", ").join(sql.Identifier(n) for n in values),
            sql.SQL(", ").join(sql.Placeholder() for _ in values),
        )
        with self._write() as cur:
            cur.execute(query, tuple(values.values()))
            created = cur.rowcount == 1
            row = cur.execute("SELECT * FROM documents WHERE id = %s", (doc.id,)).fetchone()
        assert row is not None
        return DocumentRecord.from_row(row), created

    def set_document_status(
        self, doc_id: str, status: str, *, error: str | None = None, **fields: object
    ) -> None:
        """Set status and error (None clears it), plus known columns such as pages or strategy."""
        updates = status_updates(status, error, fields, self._now())
        query = sql.SQL("UPDATE documents SET {} WHERE id = %s").format(_set_clause(list(updates)))
        with self._write() as cur:
            cur.execute(query, (*updates.values(), doc_id))
            if cur.rowcount == 0:
                raise document_not_found(doc_id)

    def _store_chunks(
        self,
        doc_id: str,
        chunks: Sequence[Chunk],
        rows: list[tuple[object, ...]],
        updates: dict[str, object],
        space: str | None,
    ) -> None:
        update = sql.SQL("UPDATE documents SET {} WHERE id = %s").format(_set_clause(list(updates)))
        with self._write() as cur:
            # First: a model switch waits for this write, or this one sees the switch (spaces.py).
            lock_chunks_version(cur)
            found = cur.execute(
                "SELECT 1 FROM documents WHERE id = %s FOR UPDATE", (doc_id,)
            ).fetchone()
            if found is None:
                raise document_not_found(doc_id, while_indexing=True)
            if space is not None:
                check_space_active(cur, space)
            changed = delete_chunks(cur, doc_id)
            new_ids: list[int] = []
            if rows:
                cur.executemany(
                    'INSERT INTO chunks (doc_id, chunk_no, point_id, page, start, "end", kind, '
                    "section, image_index, text, embed_model, embed_fingerprint, location, "
                    "ocr_confidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s) RETURNING id",
                    rows,
                    returning=True,
                )
                while True:
                    row = cur.fetchone()
                    assert row is not None
                    new_ids.append(int(row["id"]))
                    if not cur.nextset():
                        break
                pg_keyword.add_chunks(
                    keyword_cursor(cur),
                    [
                        pg_keyword.KeywordChunk(chunk_id=i, doc_id=doc_id, text=c.text)
                        for i, c in zip(new_ids, chunks, strict=True)
                    ],
                )
            bump_chunks_version(cur, changed + len(new_ids))
            cur.execute(update, (*updates.values(), doc_id))

    def delete_document(self, doc_id: str) -> bool:
        """Remove the document, its chunks and their keyword index at once; cancel its jobs.

        A running 'delete' job of the document is left alone: it is the one calling this.
        Returns whether the document existed.
        """
        with self._write() as cur:
            lock_chunks_version(cur)
            changed = delete_chunks(cur, doc_id)
            bump_chunks_version(cur, changed)
            cur.execute("DELETE FROM documents WHERE id = %s", (doc_id,))
            existed = cur.rowcount == 1
            cancel_active_jobs(cur, doc_id, self._now(), except_kind=JobKind.DELETE)
        return existed

    def _keyword_search(
        self, query: str, limit: int, doc_ids: Sequence[str] | None, collection: int | None
    ) -> list[tuple[ChunkRow, float]]:
        only = None if doc_ids is None else list(doc_ids)
        with self._read(snapshot=True) as cur:
            if collection is not None:
                # The members, read in the same snapshot as the search, narrow the documents.
                cur.execute(
                    "SELECT doc_id FROM collection_documents WHERE collection_id = %s "
                    "AND (%s::text[] IS NULL OR doc_id = ANY(%s::text[]))",
                    (collection, only, only),
                )
                only = [r["doc_id"] for r in cur.fetchall()]
                if not only:
                    return []
            scored = pg_keyword.search(keyword_cursor(cur), query, limit=limit, doc_ids=only)
            if not scored:
                return []
            cur.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id = ANY(%s)",
                ([chunk_id for chunk_id, _ in scored],),
            )
            by_id = {int(r["rowid"]): ChunkRow.from_row(r) for r in cur.fetchall()}
        return [(by_id[i], float(score)) for i, score in scored if i in by_id]
