"""Model spaces in the catalog: which collection and text model answer questions, and re-embed targets."""

from __future__ import annotations

import sqlite3

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.records import ChunkRow, SpaceRecord, SpaceStatus
from ragcore.catalog.rules import (
    SpaceBusy,
    SpaceChanged,
    check_begin,
    check_still_active,
    space_updates,
    space_values,
    switch_target,
)
from ragcore.catalog.steps import SpaceSteps

# The records and refusals are shared with the PostgreSQL catalog; still importable from here.
__all__ = ["SpaceBusy", "SpaceChanged", "SpaceRecord", "SpaceStatus", "SpacesMixin"]


def check_space_active(conn: sqlite3.Connection, space: str) -> None:
    """Inside a write transaction: refuse when ``space`` is not (or no longer) the active one."""
    row = conn.execute("SELECT status FROM spaces WHERE name = ?", (space,)).fetchone()
    check_still_active(space, None if row is None else row["status"])


class SpacesMixin(CatalogDatabase, SpaceSteps):
    """The model-space half of the Catalog."""

    _ALL_SPACES = "SELECT * FROM spaces ORDER BY created_at DESC, rowid DESC"
    _SPACE_NAMED = "SELECT * FROM spaces WHERE name = ?"
    _SPACE_WITH_STATUS = "SELECT * FROM spaces WHERE status = ?"

    def ensure_active_space(self, space: SpaceRecord) -> SpaceRecord:
        """Make ``space`` the active one unless a space already is; return the active space.

        Safe when two processes start at once: one insert wins, both get the same answer.
        """
        now = self._now()
        with self._write() as conn:
            row = conn.execute("SELECT * FROM spaces WHERE status = 'active'").fetchone()
            if row is None:
                conn.execute("DELETE FROM spaces WHERE name = ?", (space.name,))
                row = conn.execute(
                    "INSERT INTO spaces (name, model_id, fingerprint, dim, distance, image_dim, "
                    "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?) "
                    "RETURNING *",
                    space_values(space, now),
                ).fetchall()[0]
        return SpaceRecord.from_row(row)

    def begin_space(self, space: SpaceRecord) -> SpaceRecord:
        """Record ``space`` as the one being built (again, if it was cancelled or failed before).

        Raises SpaceBusy while another space is being built, ValueError if it is the active one.
        """
        now = self._now()
        with self._write() as conn:
            active = conn.execute("SELECT name FROM spaces WHERE status = 'active'").fetchone()
            busy = conn.execute("SELECT * FROM spaces WHERE status = 'building'").fetchone()
            check_begin(space, active, busy)
            row = conn.execute(
                "INSERT INTO spaces (name, model_id, fingerprint, dim, distance, image_dim, status, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'building', ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET model_id = excluded.model_id, "
                "fingerprint = excluded.fingerprint, dim = excluded.dim, "
                "distance = excluded.distance, image_dim = excluded.image_dim, "
                "status = 'building', note = NULL, updated_at = excluded.updated_at RETURNING *",
                space_values(space, now),
            ).fetchall()[0]
        return SpaceRecord.from_row(row)

    def update_space(self, name: str, **values: object) -> None:
        """Set ``status``, ``job_id``, ``note`` or ``fingerprint`` of a space."""
        updates = space_updates(values, self._now())
        sets = ", ".join(f"{k} = ?" for k in updates)  # names checked by space_updates
        with self._write() as conn:
            conn.execute(f"UPDATE spaces SET {sets} WHERE name = ?", (*updates.values(), name))

    def chunks_version(self) -> int:
        """Moves whenever a chunk is added, removed or re-texted anywhere in the catalog."""
        with self._read() as conn:
            return int(
                conn.execute(
                    "SELECT value FROM catalog_meta WHERE key = 'chunks_version'"
                ).fetchone()[0]
            )

    def chunks_snapshot(self) -> tuple[int, list[ChunkRow]]:
        """Every chunk and the change counter, read in one snapshot."""
        with self._read() as conn:
            version = int(
                conn.execute(
                    "SELECT value FROM catalog_meta WHERE key = 'chunks_version'"
                ).fetchone()[0]
            )
            rows = conn.execute("SELECT * FROM chunks ORDER BY doc_id, chunk_no").fetchall()
        return version, [ChunkRow.from_row(r) for r in rows]

    def switch_space(self, name: str, *, expected_version: int) -> bool:
        """Make the space being built the active one, in one transaction.

        Only if no chunk changed since ``expected_version`` (else False and nothing changes):
        the old active space is retired, the new one activated, and every chunk and document
        records the new model and fingerprint, all at once.
        """
        now = self._now()
        with self._write() as conn:
            version = conn.execute(
                "SELECT value FROM catalog_meta WHERE key = 'chunks_version'"
            ).fetchone()[0]
            if int(version) != expected_version:
                return False
            row = switch_target(
                name, conn.execute("SELECT * FROM spaces WHERE name = ?", (name,)).fetchone()
            )
            conn.execute(
                "UPDATE spaces SET status = 'retired', updated_at = ? WHERE status = 'active'",
                (now,),
            )
            conn.execute(
                "UPDATE spaces SET status = 'active', updated_at = ? WHERE name = ?", (now, name)
            )
            conn.execute(
                "UPDATE chunks SET embed_model = ?, embed_fingerprint = ?",
                (row["model_id"], row["fingerprint"]),
            )
            conn.execute(
                "UPDATE documents SET embed_model = ?, updated_at = ? "
                "WHERE id IN (SELECT doc_id FROM chunks)",
                (row["model_id"], now),
            )
        return True

    def embedding_usage(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(model id, fingerprint) -> (documents, chunks) embedded with it."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT embed_model, embed_fingerprint, count(DISTINCT doc_id), count(*) "
                "FROM chunks GROUP BY embed_model, embed_fingerprint"
            ).fetchall()
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}

    def document_embeddings(self) -> list[tuple[str, str, str]]:
        """(document id, model id, fingerprint) for each distinct combination in the chunks."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT doc_id, embed_model, embed_fingerprint FROM chunks ORDER BY doc_id"
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]
