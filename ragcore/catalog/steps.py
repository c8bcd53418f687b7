"""Catalog methods whose steps are the same on SQLite and PostgreSQL; each backend gives the SQL.

A backend's mixin inherits one of these classes and sets its statements as class attributes
(``?`` placeholders for SQLite, ``%s`` for PostgreSQL, each in its own dialect); the steps
around them (the transaction, the checks, what a missing row means, how rows become records)
are written once here. Methods whose steps differ (locks PostgreSQL takes where SQLite has one
write lock, the keyword index PostgreSQL keeps itself) stay in the backend's own module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ragcore.catalog.records import (
    CollectionRecord,
    Conversation,
    JobKind,
    JobRecord,
    Row,
    SpaceRecord,
    SpaceStatus,
    TurnRow,
)
from ragcore.catalog.rules import (
    CollectionExists,
    CollectionNotFound,
    check_feedback,
    check_heartbeat,
    check_limit,
    check_session,
    claim_filter,
    first_claimable,
    given_up,
    job_params,
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

    def _json(self, value: Any) -> object:
        """A JSON column's value as this backend's driver writes it."""
        raise NotImplementedError


# ── jobs ─────────────────────────────────────────────────────────


class JobSteps(CatalogSteps):
    """The job queue's calls but cancel_jobs; a backend sets the statements below."""

    # (doc id, kind): its queued or running job of that kind, the oldest
    _ACTIVE_JOB: str
    # (doc id, kind, params, created_at, updated_at) RETURNING *
    _NEW_JOB: str
    # (kinds, ids, ids, now): the oldest claimable job (queued, or its lease expired)
    _CLAIMABLE: str
    # (kinds, ids, ids, now, max bytes): the same on the smallest documents first
    _CLAIMABLE_SMALL: str
    # (worker id, lease_until, updated_at, job id) RETURNING *: one more attempt
    _CLAIM: str
    # (error, updated_at, job id) / (error, updated_at, doc id): a job given up on
    _GIVE_UP_JOB: str
    _GIVE_UP_DOCUMENT: str
    # (stage, progress, lease_until, updated_at, job id, worker id); only a running job's holder.
    _HEARTBEAT: str
    # (updated_at, job id, worker id)
    _FINISH: str
    # (error, updated_at, job id, worker id)
    _FAIL: str
    # (job id)
    _GET_JOB: str
    # (doc id or None, doc id or None, limit): newest first; _ACTIVE_JOBS only queued or running
    _JOBS: str
    _ACTIVE_JOBS: str

    max_attempts: int

    def _array(self, values: list[Any] | None) -> object:
        """A list as one statement parameter (None stays None)."""
        raise NotImplementedError

    def _lock_enqueue(self, db: Statements, doc_id: str, kind: str) -> None:
        """Make two enqueues of the same document's job of one kind take turns.

        SQLite's write lock already does; PostgreSQL takes a lock for it.
        """

    def enqueue(
        self, doc_id: str, kind: str = JobKind.INGEST, params: Mapping[str, object] | None = None
    ) -> JobRecord:
        """Queue a job, unless the document already has a queued or running one of this kind."""
        plain = job_params(kind, params)
        with self._write() as db:
            self._lock_enqueue(db, doc_id, kind)
            now = self._now()
            row = db.execute(self._ACTIVE_JOB, (doc_id, str(kind))).fetchone()
            if row is None:
                values = (doc_id, str(kind), self._json(plain), now, now)
                # fetchall: SQLite runs a RETURNING statement to its end only when asked for all.
                row = db.execute(self._NEW_JOB, values).fetchall()[0]
        return JobRecord.from_row(row)

    def claim_job(
        self,
        worker_id: str,
        *,
        lease_seconds: float,
        kinds: Sequence[str] | None = None,
        ids: Collection[int] | None = None,
        max_doc_bytes: int | None = None,
    ) -> JobRecord | None:
        """Take the oldest queued job, or a running one whose worker let its lease expire.

        ``ids`` limits the choice to those jobs (a command waiting for its own files).
        ``max_doc_bytes`` limits it to jobs on documents of at most that size, smallest first
        (a worker kept for small files, so they need not wait behind large ones); jobs that
        are not on a document (re-embedding) are left to the other workers.

        Every claim counts as an attempt; a job whose lease expired after ``max_attempts``
        claims is failed with its document (rules.first_claimable). On PostgreSQL the row is
        locked with SKIP LOCKED, so workers on any number of hosts claiming at once each get
        a different job and never wait for each other.
        """
        wanted, only = claim_filter(lease_seconds, kinds, ids, max_doc_bytes)
        query = self._CLAIMABLE if max_doc_bytes is None else self._CLAIMABLE_SMALL
        sizes = () if max_doc_bytes is None else (max_doc_bytes,)
        with self._write() as db:
            now = self._now()
            args = (self._array(wanted), self._array(only), self._array(only), now, *sizes)
            row = first_claimable(
                lambda: db.execute(query, args).fetchone(),
                lambda job: self._give_up(db, job, now),
                self.max_attempts,
            )
            if row is None:
                return None
            values = (worker_id, now + lease_seconds, now, row["id"])
            claimed = db.execute(self._CLAIM, values).fetchall()[0]
        return JobRecord.from_row(claimed)

    def _give_up(self, db: Statements, job: Row, now: float) -> None:
        error, fails_document = given_up(job)
        db.execute(self._GIVE_UP_JOB, (error, now, job["id"]))
        if fails_document:
            db.execute(self._GIVE_UP_DOCUMENT, (error, now, job["doc_id"]))

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

    def jobs(
        self, *, doc_id: str | None = None, active_only: bool = False, limit: int = 200
    ) -> list[JobRecord]:
        """Jobs newest first, optionally of one document and only queued or running ones."""
        check_limit(limit)
        query = self._ACTIVE_JOBS if active_only else self._JOBS
        with self._read() as db:
            rows = db.execute(query, (doc_id, doc_id, limit)).fetchall()
        return [JobRecord.from_row(r) for r in rows]


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
