"""Catalog methods whose steps are the same on SQLite and PostgreSQL; each backend gives the SQL.

A backend's mixin inherits one of these classes and sets its statements as class attributes
(``?`` placeholders for SQLite, ``%s`` for PostgreSQL, each in its own dialect); the steps
around them (the transaction, the checks, what a missing row means, how rows become records)
are written once here. Methods whose steps differ (locks PostgreSQL takes where SQLite has one
write lock, the keyword index PostgreSQL keeps itself) stay in the backend's own module.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ragcore.catalog.records import (
    CollectionRecord,
    Conversation,
    JobRecord,
    SpaceRecord,
    SpaceStatus,
    TurnRow,
)
from ragcore.catalog.rules import (
    CollectionExists,
    CollectionNotFound,
    check_feedback,
    check_heartbeat,
    check_session,
    new_title,
    no_turn,
    not_found,
    short_title,
    turn_values,
)


class Result(Protocol):
    """What a statement returns: a sqlite3 cursor, or a psycopg one."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Statements(Protocol):
    """What a transaction runs statements on: a sqlite3 connection, or a psycopg cursor."""

    def execute(self, query: str, params: Sequence[Any], /) -> Result: ...


class CatalogSteps:
    """The three things the shared steps need of a backend (CatalogDatabase, PostgresDatabase)."""

    def _now(self) -> float:
        raise NotImplementedError

    def _read(self, *, snapshot: bool = False) -> AbstractContextManager[Statements]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Statements]:
        raise NotImplementedError


# ── jobs ─────────────────────────────────────────────────────────


class JobSteps(CatalogSteps):
    """heartbeat, finish_job, fail_job and get_job; a backend sets the statements below."""

    # (stage, progress, lease_until, updated_at, job id, worker id); only a running job's holder.
    _HEARTBEAT: str
    # (updated_at, job id, worker id)
    _FINISH: str
    # (error, updated_at, job id, worker id)
    _FAIL: str
    # (job id)
    _GET_JOB: str

    def heartbeat(
        self, job_id: int, worker_id: str, *, stage: str, progress: float, lease_seconds: float
    ) -> bool:
        """Report progress and extend the lease; False means the job is no longer this worker's
        (reclaimed after the lease expired, or cancelled) and the worker must stop working on it.
        """
        check_heartbeat(stage, progress, lease_seconds)
        with self._write() as db:
            now = self._now()
            values = (str(stage), progress, now + lease_seconds, now, job_id, worker_id)
            return db.execute(self._HEARTBEAT, values).rowcount == 1

    def finish_job(self, job_id: int, worker_id: str) -> bool:
        """Mark the job done; False (and no change) if this worker no longer holds it."""
        with self._write() as db:
            return db.execute(self._FINISH, (self._now(), job_id, worker_id)).rowcount == 1

    def fail_job(self, job_id: int, worker_id: str, error: str) -> bool:
        """Mark the job failed with ``error``; False (and no change) if this worker lost it.

        The document's own status is the worker's to set (set_document_status).
        """
        with self._write() as db:
            return db.execute(self._FAIL, (error, self._now(), job_id, worker_id)).rowcount == 1

    def get_job(self, job_id: int) -> JobRecord | None:
        with self._read() as db:
            row = db.execute(self._GET_JOB, (job_id,)).fetchone()
        return None if row is None else JobRecord.from_row(row)


# ── model spaces ─────────────────────────────────────────────────


class SpaceSteps(CatalogSteps):
    """spaces, get_space, active_space and pending_space; a backend sets the statements below."""

    # Every space, newest first (the later insert first when two share a time).
    _ALL_SPACES: str
    # (name)
    _SPACE_NAMED: str
    # (status)
    _SPACE_WITH_STATUS: str

    def spaces(self) -> list[SpaceRecord]:
        """Every space the catalog knows, newest first."""
        with self._read() as db:
            rows = db.execute(self._ALL_SPACES, ()).fetchall()
        return [SpaceRecord.from_row(r) for r in rows]

    def get_space(self, name: str) -> SpaceRecord | None:
        with self._read() as db:
            row = db.execute(self._SPACE_NAMED, (name,)).fetchone()
        return None if row is None else SpaceRecord.from_row(row)

    def _space_with_status(self, status: str) -> SpaceRecord | None:
        with self._read() as db:
            row = db.execute(self._SPACE_WITH_STATUS, (str(status),)).fetchone()
        return None if row is None else SpaceRecord.from_row(row)

    def active_space(self) -> SpaceRecord | None:
        return self._space_with_status(SpaceStatus.ACTIVE)

    def pending_space(self) -> SpaceRecord | None:
        """The space a re-embed is building, if any."""
        return self._space_with_status(SpaceStatus.BUILDING)


# ── collections ──────────────────────────────────────────────────


class CollectionSteps(CatalogSteps):
    """The collection calls both catalogs make of their own get, create and memberships."""

    def get_collection(self, name_or_id: str | int) -> CollectionRecord | None:
        raise NotImplementedError

    def create_collection(self, name: str) -> CollectionRecord:
        raise NotImplementedError

    def memberships(self, doc_ids: Sequence[str] | None = None) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

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

    def require_collection(self, name_or_id: str | int) -> CollectionRecord:
        found = self.get_collection(name_or_id)
        if found is None:
            raise CollectionNotFound(f"no collection named {name_or_id!r}")
        return found

    def collection_ids_of(self, doc_id: str) -> tuple[int, ...]:
        """The ids of the collections ``doc_id`` is in, ascending (what its payload carries)."""
        return self.memberships([doc_id]).get(doc_id, ())


# ── conversations ────────────────────────────────────────────────


class ConversationSteps(CatalogSteps):
    """Every conversation call; a backend sets the statements below and how it writes JSON.

    Every call names the session: a conversation of another session is not found, so one
    browser cannot open, rename or delete another's.
    """

    # (session id, user id, title, created_at, updated_at) RETURNING *
    _NEW_CONVERSATION: str
    # (session id): its conversations, the most recently used first
    _SESSION_CONVERSATIONS: str
    # (conversation id, session id)
    _CONVERSATION: str
    # (title, updated_at, conversation id, session id) RETURNING *
    _RENAME: str
    # (conversation id, session id)
    _DELETE: str
    # (updated_at, title if untitled, conversation id, session id)
    _TOUCH: str
    # (conversation id, *turn_values(...)) RETURNING *: the position after the last
    _NEW_TURN: str
    # (conversation id)
    _TURNS: str
    # (feedback, conversation id, position, session id)
    _FEEDBACK: str

    def _json(self, value: Any) -> object:
        """A JSON column's value as this backend's driver writes it."""
        raise NotImplementedError

    def create_conversation(
        self, session_id: str, title: str = "", *, user_id: str | None = None
    ) -> Conversation:
        check_session(session_id)
        with self._write() as db:
            now = self._now()
            values = (session_id, user_id, short_title(title), now, now)
            # fetchall: SQLite runs a RETURNING statement to its end only when asked for all.
            row = db.execute(self._NEW_CONVERSATION, values).fetchall()[0]
        return Conversation.from_row(row)

    def conversations(self, session_id: str) -> list[Conversation]:
        """The session's conversations, the most recently used first."""
        with self._read() as db:
            rows = db.execute(self._SESSION_CONVERSATIONS, (session_id,)).fetchall()
        return [Conversation.from_row(r) for r in rows]

    def get_conversation(self, session_id: str, conversation_id: int) -> Conversation:
        with self._read() as db:
            row = db.execute(self._CONVERSATION, (conversation_id, session_id)).fetchone()
        if row is None:
            raise not_found(conversation_id)
        return Conversation.from_row(row)

    def rename_conversation(
        self, session_id: str, conversation_id: int, title: str
    ) -> Conversation:
        title = new_title(title)
        with self._write() as db:
            values = (title, self._now(), conversation_id, session_id)
            rows = db.execute(self._RENAME, values).fetchall()
        if not rows:
            raise not_found(conversation_id)
        return Conversation.from_row(rows[0])

    def delete_conversation(self, session_id: str, conversation_id: int) -> bool:
        """Delete it with its turns; False when the session has no such conversation."""
        with self._write() as db:
            return db.execute(self._DELETE, (conversation_id, session_id)).rowcount > 0

    def append_turn(self, session_id: str, conversation_id: int, turn: TurnRow) -> TurnRow:
        """Store ``turn`` after the conversation's last; an untitled conversation takes its
        first question as title. Returns the turn with its position."""
        with self._write() as db:
            now = self._now()
            # The UPDATE also makes two turns appended at once take turns (PostgreSQL locks the
            # conversation's row; SQLite's write lock covers the transaction), so each gets its
            # own position.
            touched = db.execute(
                self._TOUCH, (now, short_title(turn.question), conversation_id, session_id)
            )
            if touched.rowcount == 0:
                raise not_found(conversation_id)
            values = (conversation_id, *turn_values(turn, conversation_id, now, self._json))
            row = db.execute(self._NEW_TURN, values).fetchall()[0]
        return TurnRow.from_row(row)

    def turns(self, session_id: str, conversation_id: int) -> list[TurnRow]:
        with self._read(snapshot=True) as db:
            owned = db.execute(self._CONVERSATION, (conversation_id, session_id)).fetchone()
            rows = db.execute(self._TURNS, (conversation_id,)).fetchall()
        if owned is None:
            raise not_found(conversation_id)
        return [TurnRow.from_row(r) for r in rows]

    def set_turn_feedback(
        self, session_id: str, conversation_id: int, position: int, feedback: int | None
    ) -> None:
        """Thumbs up (1), down (-1), or neither (None) for one turn."""
        check_feedback(feedback)
        with self._write() as db:
            values = (feedback, conversation_id, position, session_id)
            changed = db.execute(self._FEEDBACK, values).rowcount
        if changed == 0:
            raise no_turn(conversation_id, position)
