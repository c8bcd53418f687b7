"""Collections (named sets of documents) in the PostgreSQL catalog, as in the SQLite one."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from ragcore.catalog.postgres.database import PostgresDatabase
from ragcore.catalog.records import CollectionRecord
from ragcore.catalog.rules import (
    collection_exists,
    collection_key,
    collection_name,
    no_collection_id,
)
from ragcore.catalog.steps import CollectionSteps

# Names compare ignoring case, as SQLite's COLLATE NOCASE does (a unique index on lower(name)).
_LIST = (
    "SELECT c.id, c.name, c.created_at, count(m.doc_id) AS documents FROM collections AS c "
    "LEFT JOIN collection_documents AS m ON m.collection_id = c.id"
)


class CollectionsMixin(PostgresDatabase, CollectionSteps):
    """Collections and their members; a document's deletion removes its memberships too."""

    def create_collection(self, name: str) -> CollectionRecord:
        name = collection_name(name)
        now = self._now()
        try:
            with self._write() as cur:
                row = cur.execute(
                    "INSERT INTO collections (name, created_at) VALUES (%s, %s) RETURNING id",
                    (name, now),
                ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise collection_exists(name) from exc
        assert row is not None
        return CollectionRecord(id=int(row["id"]), name=name, documents=0, created_at=now)

    def get_collection(self, name_or_id: str | int) -> CollectionRecord | None:
        where = "c.id = %s" if isinstance(name_or_id, int) else "lower(c.name) = lower(%s)"
        key = collection_key(name_or_id)
        with self._read() as cur:
            row = cur.execute(f"{_LIST} WHERE {where} GROUP BY c.id".encode(), (key,)).fetchone()
        return CollectionRecord.from_row(row) if row is not None else None

    def collections(self) -> list[CollectionRecord]:
        """Every collection, by name."""
        with self._read() as cur:
            cur.execute(f"{_LIST} GROUP BY c.id ORDER BY lower(c.name)".encode())
            return [CollectionRecord.from_row(r) for r in cur.fetchall()]

    def rename_collection(self, name: str, new_name: str) -> CollectionRecord:
        """Rename; payloads carry ids, so no point changes."""
        found = self.require_collection(name)
        new_name = collection_name(new_name)
        try:
            with self._write() as cur:
                cur.execute("UPDATE collections SET name = %s WHERE id = %s", (new_name, found.id))
        except psycopg.errors.UniqueViolation as exc:
            raise collection_exists(new_name) from exc
        return CollectionRecord(found.id, new_name, found.documents, found.created_at)

    def delete_collection(self, name: str) -> list[str]:
        """Forget the collection; its documents stay in the library. Returns their ids."""
        found = self.require_collection(name)
        with self._write() as cur:
            cur.execute(
                "DELETE FROM collection_documents WHERE collection_id = %s RETURNING doc_id",
                (found.id,),
            )
            members = [r["doc_id"] for r in cur.fetchall()]
            cur.execute("DELETE FROM collections WHERE id = %s", (found.id,))
        return members

    def add_to_collection(self, collection_id: int, doc_ids: Sequence[str]) -> list[str]:
        """Make the documents members; returns those that were not members before.

        Unknown document ids are ignored (a document deleted meanwhile has no membership).
        """
        now = self._now()
        with self._write() as cur:
            # FOR SHARE: the collection cannot be deleted before this transaction ends.
            found = cur.execute(
                "SELECT 1 FROM collections WHERE id = %s FOR SHARE", (collection_id,)
            ).fetchone()
            if found is None:
                raise no_collection_id(collection_id)
            cur.execute(
                "INSERT INTO collection_documents (collection_id, doc_id, added_at) "
                "SELECT %s, id, %s FROM documents WHERE id = ANY(%s) "
                "ON CONFLICT DO NOTHING RETURNING doc_id",
                (collection_id, now, list(doc_ids)),
            )
            return [r["doc_id"] for r in cur.fetchall()]

    def remove_from_collection(self, collection_id: int, doc_ids: Sequence[str]) -> list[str]:
        """End the documents' membership; returns those that were members."""
        with self._write() as cur:
            cur.execute(
                "DELETE FROM collection_documents WHERE collection_id = %s AND doc_id = ANY(%s) "
                "RETURNING doc_id",
                (collection_id, list(doc_ids)),
            )
            return [r["doc_id"] for r in cur.fetchall()]

    def memberships(self, doc_ids: Sequence[str] | None = None) -> dict[str, tuple[int, ...]]:
        """Collection ids per document (documents in none are left out); None: every document."""
        result: dict[str, list[int]] = {}
        with self._read() as cur:
            cur.execute(
                "SELECT doc_id, collection_id FROM collection_documents "
                "WHERE %(ids)s::text[] IS NULL OR doc_id = ANY(%(ids)s::text[]) "
                "ORDER BY collection_id",
                {"ids": None if doc_ids is None else list(doc_ids)},
            )
            for r in cur.fetchall():
                result.setdefault(r["doc_id"], []).append(int(r["collection_id"]))
        return {doc_id: tuple(ids) for doc_id, ids in result.items()}
