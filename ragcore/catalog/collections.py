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
from dataclasses import dataclass

from ragcore.catalog.database import CatalogDatabase
from ragcore.errors import RagError

# A name is a line in a picker; longer ones are refused rather than cut, so two never collide.
MAX_NAME_CHARS = 80


class CollectionNotFound(RagError, LookupError):
    """No collection of that name (never made, or deleted)."""


class CollectionExists(RagError, ValueError):
    """A collection of that name already exists (names are compared ignoring case)."""


@dataclass(frozen=True)
class CollectionRecord:
    """A collection and how many documents it holds now."""

    id: int  # never reused, so a deleted collection's id left in a payload matches nothing
    name: str
    documents: int
    created_at: float


def collection_name(name: str) -> str:
    """``name`` as stored: trimmed; ValueError for an empty or over-long one."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValueError("a collection needs a name")
    if len(cleaned) > MAX_NAME_CHARS:
        raise ValueError(
            f"a collection name has at most {MAX_NAME_CHARS} characters, got {len(cleaned)}"
        )
    return cleaned


_LIST = (
    "SELECT c.id, c.name, c.created_at, count(m.doc_id) AS documents FROM collections AS c "
    "LEFT JOIN collection_documents AS m ON m.collection_id = c.id"
)


class CollectionsMixin(CatalogDatabase):
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
                raise CollectionExists(f"a collection named {name!r} already exists") from exc
            new_id = cursor.lastrowid
        assert new_id is not None  # an INSERT into a rowid table always sets it
        return CollectionRecord(id=new_id, name=name, documents=0, created_at=now)

    def ensure_collection(self, name: str) -> CollectionRecord:
        """The collection called ``name``, made now if there is none."""
        found = self.get_collection(name)
        if found is not None:
            return found
        try:
            return self.create_collection(name)
        except CollectionExists:  # another process made it in between
            found = self.get_collection(name)
            assert found is not None
            return found

    def get_collection(self, name_or_id: str | int) -> CollectionRecord | None:
        column = "c.id" if isinstance(name_or_id, int) else "c.name"
        key = name_or_id if isinstance(name_or_id, int) else " ".join(name_or_id.split())
        with self._read() as conn:
            row = conn.execute(
                f"{_LIST} WHERE {column} = ? COLLATE NOCASE GROUP BY c.id", (key,)
            ).fetchone()
        return _record(row) if row is not None else None

    def require_collection(self, name_or_id: str | int) -> CollectionRecord:
        found = self.get_collection(name_or_id)
        if found is None:
            raise CollectionNotFound(f"no collection named {name_or_id!r}")
        return found

    def collections(self) -> list[CollectionRecord]:
        """Every collection, by name."""
        with self._read() as conn:
            rows = conn.execute(f"{_LIST} GROUP BY c.id ORDER BY c.name COLLATE NOCASE").fetchall()
        return [_record(r) for r in rows]

    def rename_collection(self, name: str, new_name: str) -> CollectionRecord:
        """Rename; payloads carry ids, so no point changes."""
        found = self.require_collection(name)
        new_name = collection_name(new_name)
        with self._write() as conn:
            try:
                conn.execute("UPDATE collections SET name = ? WHERE id = ?", (new_name, found.id))
            except sqlite3.IntegrityError as exc:
                raise CollectionExists(f"a collection named {new_name!r} already exists") from exc
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
                raise CollectionNotFound(f"no collection with id {collection_id}")
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

    def collection_ids_of(self, doc_id: str) -> tuple[int, ...]:
        """The ids of the collections ``doc_id`` is in, ascending (what its payload carries)."""
        return self.memberships([doc_id]).get(doc_id, ())

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


def _record(row: sqlite3.Row) -> CollectionRecord:
    return CollectionRecord(
        id=row["id"], name=row["name"], documents=row["documents"], created_at=row["created_at"]
    )
