"""Model spaces in the catalog: which collection and text model answer questions, and re-embed targets."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from enum import StrEnum

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.records import ChunkRow, check_choice
from ragcore.errors import RagError, SpaceMoved


class SpaceStatus(StrEnum):
    """A model space's state; the values are the strings the catalog stores."""

    ACTIVE = "active"
    BUILDING = "building"
    RETIRED = "retired"
    DROPPED = "dropped"
    CANCELLED = "cancelled"
    FAILED = "failed"


SPACE_STATUSES = tuple(SpaceStatus)


class SpaceChanged(SpaceMoved):
    """The model space a write was aimed at is no longer the active one (a switch happened)."""


class SpaceBusy(RagError):
    """Another re-embed is already building a space; cancel it or wait for it."""


@dataclass(frozen=True)
class SpaceRecord:
    """One model space: a collection holding one text model's vectors (and the image vectors).

    ``status``: active (answers questions), building (a re-embed is filling it), retired (was
    active, its collection is about to be dropped), dropped, cancelled, failed.
    """

    name: str  # the collection
    model_id: str
    fingerprint: str
    dim: int
    distance: str = "cosine"
    image_dim: int | None = None
    status: SpaceStatus = SpaceStatus.BUILDING
    job_id: int | None = None
    note: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a model space needs a collection name")
        if self.dim <= 0:
            raise ValueError(f"a model space needs a dimension > 0, got {self.dim}")
        check_choice("space status", self.status, SPACE_STATUSES)
        object.__setattr__(self, "status", SpaceStatus(self.status))

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SpaceRecord:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


def check_space_active(conn: sqlite3.Connection, space: str) -> None:
    """Inside a write transaction: refuse when ``space`` is not (or no longer) the active one."""
    row = conn.execute("SELECT status FROM spaces WHERE name = ?", (space,)).fetchone()
    if row is None or row["status"] != SpaceStatus.ACTIVE:
        state = "unknown" if row is None else row["status"]
        raise SpaceChanged(
            f"the vectors were written to the model space {space!r}, which is {state} now "
            "(the embedding model was switched meanwhile); the document must be embedded again"
        )


class SpacesMixin(CatalogDatabase):
    """The model-space half of the Catalog."""

    def spaces(self) -> list[SpaceRecord]:
        """Every space the catalog knows, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM spaces ORDER BY created_at DESC, rowid DESC"
            ).fetchall()
        return [SpaceRecord.from_row(r) for r in rows]

    def get_space(self, name: str) -> SpaceRecord | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM spaces WHERE name = ?", (name,)).fetchone()
        return None if row is None else SpaceRecord.from_row(row)

    def _space_with_status(self, status: str) -> SpaceRecord | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM spaces WHERE status = ?", (status,)).fetchone()
        return None if row is None else SpaceRecord.from_row(row)

    def active_space(self) -> SpaceRecord | None:
        return self._space_with_status(SpaceStatus.ACTIVE)

    def pending_space(self) -> SpaceRecord | None:
        """The space a re-embed is building, if any."""
        return self._space_with_status(SpaceStatus.BUILDING)

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
                    (
                        space.name,
                        space.model_id,
                        space.fingerprint,
                        space.dim,
                        space.distance,
                        space.image_dim,
                        now,
                        now,
                    ),
                ).fetchall()[0]
        return SpaceRecord.from_row(row)

    def begin_space(self, space: SpaceRecord) -> SpaceRecord:
        """Record ``space`` as the one being built (again, if it was cancelled or failed before).

        Raises SpaceBusy while another space is being built, ValueError if it is the active one.
        """
        now = self._now()
        with self._write() as conn:
            active = conn.execute("SELECT name FROM spaces WHERE status = 'active'").fetchone()
            if active is not None and active["name"] == space.name:
                raise ValueError(
                    f"{space.model_id} already answers questions (space {space.name!r})"
                )
            busy = conn.execute("SELECT * FROM spaces WHERE status = 'building'").fetchone()
            if busy is not None and busy["name"] != space.name:
                raise SpaceBusy(
                    f"a re-embed with {busy['model_id']} is already running (space {busy['name']!r}); "
                    "cancel it first with `python -m ingest reembed --cancel`"
                )
            row = conn.execute(
                "INSERT INTO spaces (name, model_id, fingerprint, dim, distance, image_dim, status, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'building', ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET model_id = excluded.model_id, "
                "fingerprint = excluded.fingerprint, dim = excluded.dim, "
                "distance = excluded.distance, image_dim = excluded.image_dim, "
                "status = 'building', note = NULL, updated_at = excluded.updated_at RETURNING *",
                (
                    space.name,
                    space.model_id,
                    space.fingerprint,
                    space.dim,
                    space.distance,
                    space.image_dim,
                    now,
                    now,
                ),
            ).fetchall()[0]
        return SpaceRecord.from_row(row)

    def update_space(self, name: str, **values: object) -> None:
        """Set ``status``, ``job_id``, ``note`` or ``fingerprint`` of a space."""
        allowed = {"status", "job_id", "note", "fingerprint"}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ValueError(
                f"unknown space field(s) {', '.join(unknown)}; known: {sorted(allowed)}"
            )
        if "status" in values:
            check_choice("space status", str(values["status"]), SPACE_STATUSES)
        values["updated_at"] = self._now()
        sets = ", ".join(f"{k} = ?" for k in values)  # names checked against `allowed` above
        with self._write() as conn:
            conn.execute(f"UPDATE spaces SET {sets} WHERE name = ?", (*values.values(), name))

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
            row = conn.execute("SELECT * FROM spaces WHERE name = ?", (name,)).fetchone()
            if row is None or row["status"] != SpaceStatus.BUILDING:
                state = "unknown" if row is None else row["status"]
                raise SpaceChanged(
                    f"the space {name!r} is {state}, not being built: nothing to switch to"
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
