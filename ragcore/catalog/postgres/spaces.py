"""Model spaces in the PostgreSQL catalog, and the chunk counter a model switch relies on."""

from __future__ import annotations

from ragcore.catalog.postgres.database import SPACES_LOCK, Cursor, PostgresDatabase
from ragcore.catalog.postgres.rows import CHUNK_COLUMNS
from ragcore.catalog.records import ChunkRow, SpaceRecord
from ragcore.catalog.rules import (
    check_begin,
    check_still_active,
    space_updates,
    space_values,
    switch_target,
)
from ragcore.catalog.steps import SpaceSteps


def lock_chunks_version(cur: Cursor) -> int:
    """Lock the chunk counter's row for this transaction and return its value.

    Every transaction that changes chunk rows takes this lock before anything else, and so does
    switch_space: a switch either waits for a chunk write and then sees its count move (and
    refuses), or goes first and the chunk write then finds its space no longer active. SQLite
    gets the same order from its one write lock.
    """
    row = cur.execute(
        "SELECT value FROM catalog_meta WHERE key = 'chunks_version' FOR UPDATE"
    ).fetchone()
    assert row is not None
    return int(row["value"])


def check_space_active(cur: Cursor, space: str) -> None:
    """Inside a write transaction: refuse when ``space`` is not (or no longer) the active one."""
    row = cur.execute("SELECT status FROM spaces WHERE name = %s", (space,)).fetchone()
    check_still_active(space, None if row is None else row["status"])


def _lock_spaces(cur: Cursor) -> None:
    # Space changes take turns, as under SQLite's write lock: "is one active?" then "insert"
    # must not interleave with another process doing the same.
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (SPACES_LOCK,))


class SpacesMixin(PostgresDatabase, SpaceSteps):
    """The model-space half of the PostgresCatalog."""

    _ALL_SPACES = "SELECT * FROM spaces ORDER BY created_at DESC, seq DESC"
    _SPACE_NAMED = "SELECT * FROM spaces WHERE name = %s"
    _SPACE_WITH_STATUS = "SELECT * FROM spaces WHERE status = %s"

    def ensure_active_space(self, space: SpaceRecord) -> SpaceRecord:
        """Make ``space`` the active one unless a space already is; return the active space.

        Safe when two processes start at once: one insert wins, both get the same answer.
        """
        now = self._now()
        with self._write() as cur:
            _lock_spaces(cur)
            row = cur.execute("SELECT * FROM spaces WHERE status = 'active'").fetchone()
            if row is None:
                cur.execute("DELETE FROM spaces WHERE name = %s", (space.name,))
                row = cur.execute(
                    "INSERT INTO spaces (name, model_id, fingerprint, dim, distance, image_dim, "
                    "status, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, 'active', %s, %s) RETURNING *",
                    space_values(space, now),
                ).fetchone()
        assert row is not None
        return SpaceRecord.from_row(row)

    def begin_space(self, space: SpaceRecord) -> SpaceRecord:
        """Record ``space`` as the one being built (again, if it was cancelled or failed before).

        Raises SpaceBusy while another space is being built, ValueError if it is the active one.
        """
        now = self._now()
        with self._write() as cur:
            _lock_spaces(cur)
            active = cur.execute("SELECT name FROM spaces WHERE status = 'active'").fetchone()
            busy = cur.execute("SELECT * FROM spaces WHERE status = 'building'").fetchone()
            check_begin(space, active, busy)
            row = cur.execute(
                "INSERT INTO spaces (name, model_id, fingerprint, dim, distance, image_dim, status, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, 'building', %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET model_id = excluded.model_id, "
                "fingerprint = excluded.fingerprint, dim = excluded.dim, "
                "distance = excluded.distance, image_dim = excluded.image_dim, "
                "status = 'building', note = NULL, updated_at = excluded.updated_at RETURNING *",
                space_values(space, now),
            ).fetchone()
        assert row is not None
        return SpaceRecord.from_row(row)

    def update_space(self, name: str, **values: object) -> None:
        """Set ``status``, ``job_id``, ``note`` or ``fingerprint`` of a space."""
        updates = space_updates(values, self._now())
        sets = ", ".join(f"{k} = %s" for k in updates)  # names checked by space_updates
        with self._write() as cur:
            _lock_spaces(cur)
            cur.execute(
                f"UPDATE spaces SET {sets} WHERE name = %s".encode(), (*updates.values(), name)
            )

    def chunks_version(self) -> int:
        """Moves whenever a chunk is added, removed or re-texted anywhere in the catalog."""
        with self._read() as cur:
            return _version(cur)

    def chunks_snapshot(self) -> tuple[int, list[ChunkRow]]:
        """Every chunk and the change counter, read in one snapshot."""
        with self._read(snapshot=True) as cur:
            version = _version(cur)
            cur.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks ORDER BY doc_id, chunk_no")
            return version, [ChunkRow.from_row(r) for r in cur.fetchall()]

    def switch_space(self, name: str, *, expected_version: int) -> bool:
        """Make the space being built the active one, in one transaction.

        Only if no chunk changed since ``expected_version`` (else False and nothing changes):
        the old active space is retired, the new one activated, and every chunk and document
        records the new model and fingerprint, all at once.
        """
        now = self._now()
        with self._write() as cur:
            if lock_chunks_version(cur) != expected_version:
                return False
            _lock_spaces(cur)
            row = switch_target(
                name, cur.execute("SELECT * FROM spaces WHERE name = %s", (name,)).fetchone()
            )
            cur.execute(
                "UPDATE spaces SET status = 'retired', updated_at = %s WHERE status = 'active'",
                (now,),
            )
            cur.execute(
                "UPDATE spaces SET status = 'active', updated_at = %s WHERE name = %s", (now, name)
            )
            # Not a text change: the counter stays, as SQLite's triggers watch only text.
            cur.execute(
                "UPDATE chunks SET embed_model = %s, embed_fingerprint = %s",
                (row["model_id"], row["fingerprint"]),
            )
            cur.execute(
                "UPDATE documents SET embed_model = %s, updated_at = %s "
                "WHERE id IN (SELECT doc_id FROM chunks)",
                (row["model_id"], now),
            )
        return True

    def embedding_usage(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(model id, fingerprint) -> (documents, chunks) embedded with it."""
        with self._read() as cur:
            cur.execute(
                "SELECT embed_model, embed_fingerprint, count(DISTINCT doc_id) AS docs, "
                "count(*) AS n FROM chunks GROUP BY embed_model, embed_fingerprint"
            )
            return {
                (r["embed_model"], r["embed_fingerprint"]): (int(r["docs"]), int(r["n"]))
                for r in cur.fetchall()
            }

    def document_embeddings(self) -> list[tuple[str, str, str]]:
        """(document id, model id, fingerprint) for each distinct combination in the chunks."""
        with self._read() as cur:
            cur.execute(
                "SELECT DISTINCT doc_id, embed_model, embed_fingerprint FROM chunks "
                "ORDER BY doc_id, embed_model, embed_fingerprint"
            )
            return [(r["doc_id"], r["embed_model"], r["embed_fingerprint"]) for r in cur.fetchall()]


def _version(cur: Cursor) -> int:
    row = cur.execute("SELECT value FROM catalog_meta WHERE key = 'chunks_version'").fetchone()
    assert row is not None
    return int(row["value"])
