"""Collections (named sets of documents) in the PostgreSQL catalog, as in the SQLite one."""

from __future__ import annotations

import psycopg

from ragcore.catalog.postgres.database import PostgresDatabase
from ragcore.catalog.steps import CollectionSteps

# Names compare ignoring case, as SQLite's COLLATE NOCASE does (a unique index on lower(name)).
_LIST = (
    "SELECT c.id, c.name, c.created_at, count(m.doc_id) AS documents FROM collections AS c "
    "LEFT JOIN collection_documents AS m ON m.collection_id = c.id"
)


class CollectionsMixin(PostgresDatabase, CollectionSteps):
    """Collections and their members (a document's deletion removes its memberships too): the
    SQL; the steps are CollectionSteps', as in the SQLite catalog."""

    _NEW_COLLECTION = "INSERT INTO collections (name, created_at) VALUES (%s, %s) RETURNING id"
    _COLLECTION_BY_ID = f"{_LIST} WHERE c.id = %s GROUP BY c.id"
    _COLLECTION_BY_NAME = f"{_LIST} WHERE lower(c.name) = lower(%s) GROUP BY c.id"
    _ALL_COLLECTIONS = f"{_LIST} GROUP BY c.id ORDER BY lower(c.name)"
    _RENAME_COLLECTION = "UPDATE collections SET name = %s WHERE id = %s"
    _TAKE_MEMBERS = "DELETE FROM collection_documents WHERE collection_id = %s RETURNING doc_id"
    _DELETE_COLLECTION = "DELETE FROM collections WHERE id = %s"
    # FOR SHARE: the collection cannot be deleted before this transaction ends.
    _HOLD_COLLECTION = "SELECT 1 FROM collections WHERE id = %s FOR SHARE"
    _ADD_MEMBERS = (
        "INSERT INTO collection_documents (collection_id, doc_id, added_at) "
        "SELECT %s, id, %s FROM documents WHERE id = ANY(%s) "
        "ON CONFLICT DO NOTHING RETURNING doc_id"
    )
    _REMOVE_MEMBERS = (
        "DELETE FROM collection_documents WHERE collection_id = %s AND doc_id = ANY(%s) "
        "RETURNING doc_id"
    )
    _MEMBERSHIPS = (
        "SELECT doc_id, collection_id FROM collection_documents "
        "WHERE %s::text[] IS NULL OR doc_id = ANY(%s::text[]) ORDER BY collection_id"
    )
    _NAME_TAKEN = psycopg.errors.UniqueViolation
