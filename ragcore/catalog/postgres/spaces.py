"""Model spaces in the PostgreSQL catalog, and the chunk counter a model switch relies on."""

from __future__ import annotations

from ragcore.catalog.postgres.database import SPACES_LOCK, Cursor, PostgresDatabase
from ragcore.catalog.postgres.rows import CHUNK_COLUMNS
from ragcore.catalog.records import ChunkRow
from ragcore.catalog.rules import (
    check_still_active,
    space_updates,
)
from ragcore.catalog.steps import SpaceSteps, Statements

_VERSION = "SELECT value FROM catalog_meta WHERE key = 'chunks_version'"


def lock_chunks_version(cur: Statements) -> int:
    """Lock the chunk counter's row for this transaction and return its value.

    Every transaction that changes chunk rows takes this lock before anything else, and so does
    switch_space: a switch either waits for a chunk write and then sees its count move (and
    refuses), or goes first and the chunk write then finds its space no longer active. SQLite
    gets the same order from its one write lock.
    """
    row = cur.execute(_VERSION + " FOR UPDATE", ()).fetchone()
    assert row is not None
    return int(row["value"])


def check_space_active(cur: Cursor, space: str) -> None:
    """Inside a write transaction: refuse when ``space`` is not (or no longer) the active one."""
    row = cur.execute("SELECT status FROM spaces WHERE name = %s", (space,)).fetchone()
    check_still_active(space, None if row is None else row["status"])


class SpacesMixin(PostgresDatabase, SpaceSteps):
    """The model-space half of the PostgresCatalog: its SQL and locks; the steps are
    SpaceSteps', as in the SQLite catalog."""

    _ALL_SPACES = "SELECT * FROM spaces ORDER BY created_at DESC, seq DESC"
    _SPACE_NAMED = "SELECT * FROM spaces WHERE name = %s"
    _SPACE_WITH_STATUS = "SELECT * FROM spaces WHERE status = %s"
    _DROP_SPACE = "DELETE FROM spaces WHERE name = %s"
    _NEW_ACTIVE_SPACE = (
        "INSERT INTO spaces (name, model_id, fingerprint, dim, distance, image_dim, "
        "status, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, 'active', %s, %s) RETURNING *"
    )
    _BUILD_SPACE = (
        "INSERT INTO spaces (name, model_id, fingerprint, dim, distance, image_dim, status, "
        "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, 'building', %s, %s) "
        "ON CONFLICT (name) DO UPDATE SET model_id = excluded.model_id, "
        "fingerprint = excluded.fingerprint, dim = excluded.dim, "
        "distance = excluded.distance, image_dim = excluded.image_dim, "
        "status = 'building', note = NULL, updated_at = excluded.updated_at RETURNING *"
    )
    _CHUNKS_VERSION = _VERSION
    _RETIRE_ACTIVE = "UPDATE spaces SET status = 'retired', updated_at = %s WHERE status = 'active'"
    _ACTIVATE = "UPDATE spaces SET status = 'active', updated_at = %s WHERE name = %s"
    _RELABEL_CHUNKS = "UPDATE chunks SET embed_model = %s, embed_fingerprint = %s"
    _RELABEL_DOCUMENTS = (
        "UPDATE documents SET embed_model = %s, updated_at = %s "
        "WHERE id IN (SELECT doc_id FROM chunks)"
    )
    _EMBEDDING_USAGE = (
        "SELECT embed_model, embed_fingerprint, count(DISTINCT doc_id) AS docs, count(*) AS n "
        "FROM chunks GROUP BY embed_model, embed_fingerprint"
    )
    _DOCUMENT_EMBEDDINGS = (
        "SELECT DISTINCT doc_id, embed_model, embed_fingerprint FROM chunks "
        "ORDER BY doc_id, embed_model, embed_fingerprint"
    )

    def _lock_spaces(self, db: Statements) -> None:
        # Space changes take turns, as under SQLite's write lock.
        db.execute("SELECT pg_advisory_xact_lock(%s)", (SPACES_LOCK,))

    def _lock_chunks_version(self, db: Statements) -> int:
        return lock_chunks_version(db)

    def update_space(self, name: str, **values: object) -> None:
        """Set ``status``, ``job_id``, ``note`` or ``fingerprint`` of a space."""
        updates = space_updates(values, self._now())
        sets = ", ".join(f"{k} = %s" for k in updates)  # names checked by space_updates
        with self._write() as cur:
            self._lock_spaces(cur)
            cur.execute(
                f"UPDATE spaces SET {sets} WHERE name = %s".encode(), (*updates.values(), name)
            )

    def chunks_snapshot(self) -> tuple[int, list[ChunkRow]]:
        """Every chunk and the change counter, read in one snapshot."""
        with self._read(snapshot=True) as cur:
            version = _version(cur)
            cur.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks ORDER BY doc_id, chunk_no")
            return version, [ChunkRow.from_row(r) for r in cur.fetchall()]


def _version(cur: Cursor) -> int:
    row = cur.execute(_VERSION).fetchone()
    assert row is not None
    return int(row["value"])
