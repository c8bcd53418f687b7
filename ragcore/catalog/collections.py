"""Collections: named sets of documents ("Contracts", "Papers") as catalog rows.

A document may sit in several collections and is still stored and embedded once: membership is
a row per (collection, document). The vector store's payload carries each point's collection
ids so that a scoped question filters inside the store's own query (ragcore.collections keeps
the two in step); the catalog stays the authority.
"""

from __future__ import annotations

import sqlite3

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.records import CollectionRecord
from ragcore.catalog.rules import CollectionExists, CollectionNotFound, collection_name
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
    """Collections and their members (a document's deletion removes its memberships too): the
    SQL; the steps are CollectionSteps'."""

    _NEW_COLLECTION = "INSERT INTO collections (name, created_at) VALUES (?, ?) RETURNING id"
    _COLLECTION_BY_ID = f"{_LIST} WHERE c.id = ? GROUP BY c.id"
    _COLLECTION_BY_NAME = f"{_LIST} WHERE c.name = ? COLLATE NOCASE GROUP BY c.id"
    _ALL_COLLECTIONS = f"{_LIST} GROUP BY c.id ORDER BY c.name COLLATE NOCASE"
    _RENAME_COLLECTION = "UPDATE collections SET name = ? WHERE id = ?"
    # The memberships go with the collection (ON DELETE CASCADE).
    _TAKE_MEMBERS = "SELECT doc_id FROM collection_documents WHERE collection_id = ?"
    _DELETE_COLLECTION = "DELETE FROM collections WHERE id = ?"
    _HOLD_COLLECTION = "SELECT 1 FROM collections WHERE id = ?"
    _ADD_MEMBERS = (
        "INSERT OR IGNORE INTO collection_documents (collection_id, doc_id, added_at) "
        "SELECT ?, id, ? FROM documents WHERE id IN (SELECT value FROM json_each(?)) "
        "RETURNING doc_id"
    )
    _REMOVE_MEMBERS = (
        "DELETE FROM collection_documents WHERE collection_id = ? AND doc_id IN "
        "(SELECT value FROM json_each(?)) RETURNING doc_id"
    )
    _MEMBERSHIPS = (
        "SELECT doc_id, collection_id FROM collection_documents "
        "WHERE ? IS NULL OR doc_id IN (SELECT value FROM json_each(?)) ORDER BY collection_id"
    )
    _NAME_TAKEN = sqlite3.IntegrityError
