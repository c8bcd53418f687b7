"""The PostgreSQL catalog's self-checks for `ingest check`: the keyword tables against the chunks."""

from __future__ import annotations

from collections.abc import Iterator

from psycopg.rows import tuple_row

from ragcore.catalog import pg_keyword
from ragcore.catalog.integrity import SAMPLE, ChunkRef, KeywordIndexState
from ragcore.catalog.postgres.database import Cursor, PostgresDatabase
from ragcore.catalog.postgres.documents import bump_chunks_version, keyword_cursor
from ragcore.catalog.postgres.spaces import lock_chunks_version

# Chunks read, tokenized and compared (or indexed) per round trip: memory stays flat.
BATCH = 500

_MISSING = "SELECT id FROM chunks EXCEPT SELECT chunk_id FROM keyword_chunks"
_EXTRA = "SELECT chunk_id AS id FROM keyword_chunks EXCEPT SELECT id FROM chunks"
# Entries whose document, terms or length are not what indexing their chunk's text gives.
_STALE = """
SELECT e.id FROM unnest(%s::bigint[], %s::text[], %s::tsvector[], %s::integer[])
    AS e (id, doc_id, terms, length)
JOIN keyword_chunks AS k ON k.chunk_id = e.id
WHERE k.doc_id <> e.doc_id OR k.terms <> e.terms OR k.length <> e.length
ORDER BY e.id
"""


class PostgresIntegrity:
    """``CatalogIntegrity`` of a PostgreSQL catalog.

    The keyword index is three tables kept by ``pg_keyword`` in the chunks' transactions: the
    check compares its per-chunk rows with the chunk rows (ids, and terms against the chunk's
    text, as FTS5's own integrity check does) and its corpus statistics with a recount of those
    rows; a rebuild recomputes all of it from the chunk rows in one transaction.

    >>> PostgresIntegrity(catalog).keyword_index_state().ok
    True
    """

    backend = "postgresql"
    restore_advice = (
        "restore the database from the PostgreSQL server's own backups (pg_dump, or "
        "point-in-time recovery from its WAL archive); `ingest check --repair` restores only "
        "a SQLite catalog file"
    )

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    def check_storage(self) -> None:
        """Nothing to do up front: the server checks each page as it reads it (with data
        checksums on), and a damaged one fails the read that meets it with CatalogCorrupt."""

    def keyword_index_state(self) -> KeywordIndexState:
        # One snapshot: a writer changes chunks and keyword rows in one transaction, so within
        # it they agree unless something is wrong.
        with self._db._read(snapshot=True) as cur:
            chunk_rows = _count(cur, "SELECT count(*) AS n FROM chunks")
            indexed = _count(cur, "SELECT count(*) AS n FROM keyword_chunks")
            missing_count, missing = _difference(cur, _MISSING)
            extra_count, extra = _difference(cur, _EXTRA)
            stale_count, stale = _stale(cur)
            statistics = pg_keyword.statistics_drift(keyword_cursor(cur))
        return KeywordIndexState(
            chunk_rows=chunk_rows,
            indexed_rows=indexed,
            missing_count=missing_count,
            extra_count=extra_count,
            missing=missing,
            extra=extra,
            stale_count=stale_count,
            stale=stale,
            statistics=tuple(statistics),
        )

    def rebuild_keyword_index(self) -> None:
        """Empty the keyword tables and index every chunk row again, in one transaction: keyword
        search sees the old index or the new one, and writers wait for the corpus row's lock."""
        with self._db._write() as cur:
            keywords = keyword_cursor(cur)
            pg_keyword.clear(keywords)  # takes the corpus row's lock first, as writers do
            # Read after the lock: a writer that held it has committed, and one that waits for
            # it adds (or removes) its own chunks' entries after this transaction.
            for batch in _chunk_batches(cur):
                pg_keyword.add_chunks(
                    keywords,
                    [pg_keyword.KeywordChunk(i, doc_id, text) for i, doc_id, text in batch],
                )

    def chunk_refs(self) -> dict[str, ChunkRef]:
        with self._db._read() as cur:
            rows = cur.execute("SELECT point_id, doc_id, chunk_no FROM chunks").fetchall()
        return {r["point_id"]: ChunkRef(r["doc_id"], int(r["chunk_no"])) for r in rows}

    def chunk_counts(self) -> dict[str, tuple[int, int]]:
        with self._db._read() as cur:
            rows = cur.execute(
                "SELECT doc_id, count(*) FILTER (WHERE kind = 'text') AS texts, "
                "count(*) FILTER (WHERE kind = 'image') AS images FROM chunks GROUP BY doc_id"
            ).fetchall()
        return {r["doc_id"]: (int(r["texts"]), int(r["images"])) for r in rows}

    def delete_chunks_without_document(self) -> int:
        """Normally finds none: ``chunks.doc_id`` references ``documents`` ON DELETE CASCADE. Rows
        without a document appear only where the foreign key was bypassed (a restore run with
        triggers disabled, ``session_replication_role = replica``); they go with their keyword
        entries and move the chunk counter, as any chunk write does."""
        with self._db._write() as cur:
            lock_chunks_version(cur)
            cur.execute(
                "DELETE FROM chunks AS c "
                "WHERE NOT EXISTS (SELECT 1 FROM documents AS d WHERE d.id = c.doc_id) "
                "RETURNING id"
            )
            ids = [int(r["id"]) for r in cur.fetchall()]
            pg_keyword.remove_chunks(keyword_cursor(cur), ids)
            bump_chunks_version(cur, len(ids))
        return len(ids)


def _count(cur: Cursor, query: str) -> int:
    row = cur.execute(query).fetchone()
    assert row is not None
    return int(row["n"])


def _difference(cur: Cursor, query: str) -> tuple[int, tuple[int, ...]]:
    count = _count(cur, f"SELECT count(*) AS n FROM ({query}) AS d")
    rows = cur.execute(f"{query} ORDER BY 1 LIMIT {SAMPLE}").fetchall()
    return count, tuple(int(r["id"]) for r in rows)


def _stale(cur: Cursor) -> tuple[int, tuple[int, ...]]:
    """Keyword rows that differ from indexing their chunk's text now (ids: count and sample)."""
    count = 0
    sample: list[int] = []
    for batch in _chunk_batches(cur):
        indexed = pg_keyword.index_terms([text for _, _, text in batch])
        cur.execute(
            _STALE,
            (
                [i for i, _, _ in batch],
                [doc_id for _, doc_id, _ in batch],
                [pg_keyword.tsvector_literal(counts) for counts, _ in indexed],
                [length for _, length in indexed],
            ),
        )
        found = [int(r["id"]) for r in cur.fetchall()]
        count += len(found)
        sample.extend(found[: SAMPLE - len(sample)])
    return count, tuple(sample)


def _chunk_batches(cur: Cursor) -> Iterator[list[tuple[int, str, str]]]:
    """Every chunk row's (id, doc_id, text), BATCH at a time, from a server-side cursor in the
    caller's transaction (so the texts are never all in memory at once)."""
    with cur.connection.cursor(name="ingest_check_chunks", row_factory=tuple_row) as named:
        named.execute("SELECT id, doc_id, text FROM chunks ORDER BY id")
        while rows := named.fetchmany(BATCH):
            yield [(int(i), str(doc_id), str(text)) for i, doc_id, text in rows]
