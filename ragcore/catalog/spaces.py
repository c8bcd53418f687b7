"""Model spaces in the catalog: which collection and text model answer questions, and re-embed targets."""

from __future__ import annotations

import sqlite3

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.records import ChunkRow, SpaceRecord, SpaceStatus
from ragcore.catalog.rules import (
    SpaceBusy,
    SpaceChanged,
    check_still_active,
    space_updates,
)
from ragcore.catalog.steps import SpaceSteps

# The records and refusals are shared with the PostgreSQL catalog; still importable from here.
__all__ = ["SpaceBusy", "SpaceChanged", "SpaceRecord", "SpaceStatus", "SpacesMixin"]


def check_space_active(conn: sqlite3.Connection, space: str) -> None:
    """Inside a write transaction: refuse when ``space`` is not (or no longer) the active one."""
    row = conn.execute("SELECT status FROM spaces WHERE name = ?", (space,)).fetchone()
    check_still_active(space, None if row is None else row["status"])


class SpacesMixin(CatalogDatabase, SpaceSteps):
    """The model-space half of the Catalog: its SQL; the steps are SpaceSteps'."""

    _ALL_SPACES = "SELECT * FROM spaces ORDER BY created_at DESC, rowid DESC"
    _SPACE_NAMED = "SELECT * FROM spaces WHERE name = ?"
    _SPACE_WITH_STATUS = "SELECT * FROM spaces WHERE status = ?"
    _DROP_SPACE = "DELETE FROM spaces WHERE name = ?"
    _NEW_ACTIVE_SPACE = (
        "INSERT INTO spaces (name, model_id, fingerprint, dim, distance, image_dim, "
        "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?) "
        "RETURNING *"
    )
    _BUILD_SPACE = (
        "INSERT INTO spaces (name, model_id, fingerprint, dim, distance, image_dim, status, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'building', ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET model_id = excluded.model_id, "
        "fingerprint = excluded.fingerprint, dim = excluded.dim, "
        "distance = excluded.distance, image_dim = excluded.image_dim, "
        "status = 'building', note = NULL, updated_at = excluded.updated_at RETURNING *"
    )
    _CHUNKS_VERSION = "SELECT value FROM catalog_meta WHERE key = 'chunks_version'"
    _RETIRE_ACTIVE = "UPDATE spaces SET status = 'retired', updated_at = ? WHERE status = 'active'"
    _ACTIVATE = "UPDATE spaces SET status = 'active', updated_at = ? WHERE name = ?"
    _RELABEL_CHUNKS = "UPDATE chunks SET embed_model = ?, embed_fingerprint = ?"
    _RELABEL_DOCUMENTS = (
        "UPDATE documents SET embed_model = ?, updated_at = ? "
        "WHERE id IN (SELECT doc_id FROM chunks)"
    )
    _EMBEDDING_USAGE = (
        "SELECT embed_model, embed_fingerprint, count(DISTINCT doc_id) AS docs, count(*) AS n "
        "FROM chunks GROUP BY embed_model, embed_fingerprint"
    )
    _DOCUMENT_EMBEDDINGS = (
        "SELECT DISTINCT doc_id, embed_model, embed_fingerprint FROM chunks ORDER BY doc_id"
    )

    def update_space(self, name: str, **values: object) -> None:
        """Set ``status``, ``job_id``, ``note`` or ``fingerprint`` of a space."""
        updates = space_updates(values, self._now())
        sets = ", ".join(f"{k} = ?" for k in updates)  # names checked by space_updates
        with self._write() as conn:
            conn.execute(f"UPDATE spaces SET {sets} WHERE name = ?", (*updates.values(), name))

    def chunks_snapshot(self) -> tuple[int, list[ChunkRow]]:
        """Every chunk and the change counter, read in one snapshot."""
        with self._read() as conn:
            version = int(conn.execute(self._CHUNKS_VERSION).fetchone()["value"])
            rows = conn.execute("SELECT * FROM chunks ORDER BY doc_id, chunk_no").fetchall()
        return version, [ChunkRow.from_row(r) for r in rows]
