"""Collections: named sets of documents ("Contracts", "Papers") as catalog rows.

A document may sit in several collections and is still stored and embedded once: membership is
a row per (collection, document). The vector store's payload carries each point's collection
ids so that a scoped question filters inside the store's own query (ragcore.collections keeps
the two in step); the catalog stays the authority.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.records import CollectionRecord
from ragcore.catalog.rules import (
    CollectionExists,
    CollectionNotFound,
    collection_exists,
    collection_key,
    collection_name,
    no_collection_id,
)
from ragcore.catalog.steps import CollectionSteps

# The record and refusals are shared with the PostgreSQL catalog; still importable from here.
__all__ = [
    "CollectionExists",
    "CollectionNotFound",
    "CollectionRecord",
    "CollectionsMixin",
    "collection_name",
]

_LIST = (
    "SELECT c.id, c.name, c.created_at, count(m.doc_id) AS documents FROM collections AS c "
    "LEFT JOIN collection_documents AS m ON m.collection_id = c.id"
)


class CollectionsMixin(CatalogDatabase, CollectionSteps):
    """Collections and their members; a document's deletion removes its memberships too."""

    def create_collection(self, name: str) -> CollectionRecord:
        name = collection_name(name)
        now = self._now()
        with self._write() as conn:
            try:
                cursor = conn.execute(
                    "INSERT INTO collections (name, created_at) VALUES (?, ?)", (name, now)
                )
            except sqlite3.IntegrityError as exc:
                raise collection_exists(name) from exc
            new_id = cursor.lastrowid
        assert new_id is not None  # an INSERT into a rowid table always sets it
        return CollectionRecord(id=new_id, name=name, documents=0, created_at=now)

    def get_collection(self, name_or_id: str | int) -> CollectionRecord | None:
        column = "c.id" if isinstance(name_or_id, int) else "c.name"
        key = collection_key(name_or_id)
        with self._read() as conn:
            row = conn.execute(
                f"{_LIST} WHERE {column} = ? COLLATE NOCASE GROUP BY c.id", (key,)
            ).fetchone()
        return CollectionRecord.from_row(row) if row is not None else None

    def collections(self) -> list[CollectionRecord]:
        """Every collection, by name."""
        with self._read() as conn:
            rows = conn.execute(f"{_LIST} GROUP BY c.id ORDER BY c.name COLLATE NOCASE").fetchall()
        return [CollectionRecord.from_row(r) for r in rows]

    def rename_collection(self, name: str, new_name: str) -> CollectionRecord:
        """Rename; payloads carry ids, so no point changes."""
        found = self.require_collection(name)
        new_name = collection_name(new_name)
        with self._write() as conn:
            try:
                conn.execute("UPDATE collections SET name = ? WHERE id = ?", (new_name, found.id))
            except sqlite3.IntegrityError as exc:
                raise collection_exists(new_name) from exc
        return CollectionRecord(found.id, new_name, found.documents, found.created_at)

    def delete_collection(self, name: str) -> list[str]:
        """Forget the collection; its documents stay in the library. Returns their ids."""
        found = self.require_collection(name)
        with self._write() as conn:
            members = [
                r[0]
                for r in conn.execute(
                    "SELECT doc_id FROM collection_documents WHERE collection_id = ?", (found.id,)
                )
            ]
            conn.execute("DELETE FROM collections WHERE id = ?", (found.id,))
        return members

    def add_to_collection(self, collection_id: int, doc_ids: Sequence[str]) -> list[str]:
        """Make the documents members; returns those that were not members before.

        Unknown document ids are ignored (a document deleted meanwhile has no membership).
        """
        now = self._now()
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM collections WHERE id = ?", (collection_id,)).fetchone():
                added = [
                    r[0]
                    for r in conn.execute(
                        "INSERT OR IGNORE INTO collection_documents (collection_id, doc_id, "
                        "added_at) SELECT ?, id, ? FROM documents WHERE id IN "
                        "(SELECT value FROM json_each(?)) RETURNING doc_id",
                        (collection_id, now, json.dumps(list(doc_ids))),
                    )
                ]
            else:
                raise no_collection_id(collection_id)
        return added

    def remove_from_collection(self, collection_id: int, doc_ids: Sequence[str]) -> list[str]:
        """End the documents' membership; returns those that were members."""
        with self._write() as conn:
            return [
                r[0]
                for r in conn.execute(
                    "DELETE FROM collection_documents WHERE collection_id = ? AND doc_id IN "
                    "(SELECT value FROM json_each(?)) RETURNING doc_id",
                    (collection_id, json.dumps(list(doc_ids))),
                )
            ]

    def memberships(self, doc_ids: Sequence[str] | None = None) -> dict[str, tuple[int, ...]]:
        """Collection ids per document (documents in none are left out); None: every document."""
        sql = "SELECT doc_id, collection_id FROM collection_documents"
        params: tuple[str, ...] = ()
        if doc_ids is not None:
            sql += " WHERE doc_id IN (SELECT value FROM json_each(?))"
            params = (json.dumps(list(doc_ids)),)
        result: dict[str, list[int]] = {}
        with self._read() as conn:
            for doc_id, collection_id in conn.execute(sql + " ORDER BY collection_id", params):
                result.setdefault(doc_id, []).append(collection_id)
        return {doc_id: tuple(ids) for doc_id, ids in result.items()}
