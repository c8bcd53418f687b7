"""Catalog methods whose steps are the same on SQLite and PostgreSQL; each backend gives the SQL.

A backend's mixin inherits one of these classes and sets its statements as class attributes
(``?`` placeholders for SQLite, ``%s`` for PostgreSQL, each in its own dialect); the steps
around them (the transaction, the checks, what a missing row means, how rows become records)
are written once here. Methods whose steps differ (locks PostgreSQL takes where SQLite has one
write lock, the keyword index PostgreSQL keeps itself) stay in the backend's own module, or
are a hook (``_store_chunks``, ``_keyword_search``, ``_lock_spaces``) the steps call.

Example (SQLite's jobs)::

    class JobsMixin(CatalogDatabase, JobSteps):
        _GET_JOB = "SELECT * FROM jobs WHERE id = ?"
        ...  # the other statements JobSteps lists
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ragcore.catalog.records import (
    ChunkRow,
    CollectionRecord,
    Conversation,
    DocumentRecord,
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
    check_begin,
    check_chunks,
    check_feedback,
    check_heartbeat,
    check_limit,
    check_session,
    chunk_values,
    claim_filter,
    collection_exists,
    collection_key,
    collection_name,
    first_claimable,
    given_up,
    job_params,
    new_title,
    no_collection_id,
    no_turn,
    not_found,
    ready_updates,
    short_title,
    space_values,
    switch_target,
    tally,
    turn_values,
)
from ragcore.types import Chunk


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
    """What the shared steps need of a backend's database class (CatalogDatabase,
    PostgresDatabase): its clock, its transactions, and how its driver takes JSON and lists."""

    def _now(self) -> float:
        raise NotImplementedError

    def _read(self, *, snapshot: bool = False) -> AbstractContextManager[Statements]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Statements]:
        raise NotImplementedError

    def _json(self, value: Any) -> object:
        """A JSON column's value as this backend's driver writes it."""
        raise NotImplementedError

    def _array(self, values: list[Any] | None) -> object:
        """A list as one statement parameter (None stays None)."""
        raise NotImplementedError


# ── documents and chunks ─────────────────────────────────────────


class DocumentSteps(CatalogSteps):
    """The document and chunk reads, and the checks before a chunk write or a keyword search;
    a backend sets the statements below and does the write and the search itself."""

    # (document id)
    _DOCUMENT: str
    # Every document, newest first (the later insert first when two share a time).
    _ALL_DOCUMENTS: str
    # Every chunk in document and chunk order / (document id): its chunks in order.
    _ALL_CHUNKS: str
    _DOC_CHUNKS: str
    # (point ids as one array) / (document ids as one array): rows of id and name
    _CHUNKS_AT_POINTS: str
    _DOCUMENT_NAMES: str
    # Rows of ``grp`` (the status or kind) and ``n`` (its count), one per group.
    _COUNT_DOCUMENTS: str
    _COUNT_CHUNKS: str
    _COUNT_JOBS: str

    def replace_chunks(
        self,
        doc_id: str,
        chunks: Sequence[Chunk],
        *,
        embed_model: str,
        stats: Mapping[str, object],
        embed_fingerprint: str = "",
        space: str | None = None,
    ) -> None:
        """Swap the document's chunks for ``chunks`` and mark it ready, all in one transaction.

        Keyword search sees either the old chunks or the new ones, never a mix or neither.
        ``stats`` sets document columns such as pages, pages_without_text, strategy.
        ``space``: the model space the vectors were written to; if it is no longer the active
        one (a re-embed switched meanwhile), nothing is written and ``SpaceChanged`` is raised.
        """
        check_chunks(doc_id, chunks)
        updates = ready_updates(chunks, embed_model=embed_model, stats=stats, now=self._now())
        rows = chunk_values(
            doc_id, chunks, embed_model=embed_model, embed_fingerprint=embed_fingerprint
        )
        self._store_chunks(doc_id, chunks, rows, updates, space)

    def _store_chunks(
        self,
        doc_id: str,
        chunks: Sequence[Chunk],
        rows: list[tuple[object, ...]],
        updates: dict[str, object],
        space: str | None,
    ) -> None:
        """replace_chunks' transaction: ``rows`` (chunk_values) in place of the document's
        chunks, its keyword index kept in step, then ``updates`` on its row."""
        raise NotImplementedError

    def bm25_search(
        self,
        query: str,
        *,
        limit: int,
        doc_ids: Sequence[str] | None = None,
        collection: int | None = None,
    ) -> list[tuple[ChunkRow, float]]:
        """Chunks matching any term of ``query``, best first, scored by BM25 (higher is better).

        ``doc_ids`` restricts the search to those documents and ``collection`` to the members of
        that collection (both inside the search, so ``limit`` counts only their chunks); an
        empty sequence matches nothing. Both backends give the same scores (FTS5's bm25()).
        """
        check_limit(limit)
        if doc_ids is not None and not doc_ids:
            return []
        return self._keyword_search(query, limit, doc_ids, collection)

    def _keyword_search(
        self, query: str, limit: int, doc_ids: Sequence[str] | None, collection: int | None
    ) -> list[tuple[ChunkRow, float]]:
        raise NotImplementedError

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        with self._read() as db:
            row = db.execute(self._DOCUMENT, (doc_id,)).fetchone()
        return None if row is None else DocumentRecord.from_row(row)

    def list_documents(self) -> list[DocumentRecord]:
        """Every document, newest first."""
        with self._read() as db:
            rows = db.execute(self._ALL_DOCUMENTS, ()).fetchall()
        return [DocumentRecord.from_row(r) for r in rows]

    def chunks(self, doc_id: str | None = None) -> list[ChunkRow]:
        """The chunks of one document, or of all, in document and chunk order."""
        with self._read() as db:
            if doc_id is None:
                rows = db.execute(self._ALL_CHUNKS, ()).fetchall()
            else:
                rows = db.execute(self._DOC_CHUNKS, (doc_id,)).fetchall()
        return [ChunkRow.from_row(r) for r in rows]

    def chunks_by_point_ids(self, point_ids: Sequence[str]) -> dict[str, ChunkRow]:
        """The chunks behind vector-store point ids; ids the catalog does not know are left out."""
        if not point_ids:
            return {}
        with self._read() as db:
            rows = db.execute(self._CHUNKS_AT_POINTS, (self._array(list(point_ids)),)).fetchall()
        return {r["point_id"]: ChunkRow.from_row(r) for r in rows}

    def document_names(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """The names of the documents ``doc_ids`` in one round trip; unknown ids are left out."""
        if not doc_ids:
            return {}
        with self._read() as db:
            rows = db.execute(self._DOCUMENT_NAMES, (self._array(list(doc_ids)),)).fetchall()
        return {r["id"]: r["name"] for r in rows}

    def counts(self) -> dict[str, int]:
        """documents, chunks, image_chunks, documents_<status> and jobs_<status> for every status."""
        with self._read(snapshot=True) as db:
            groups = [
                [(r["grp"], r["n"]) for r in db.execute(query, ()).fetchall()]
                for query in (self._COUNT_DOCUMENTS, self._COUNT_CHUNKS, self._COUNT_JOBS)
            ]
        return tally(*groups)


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
    """The model-space calls but update_space and chunks_snapshot; a backend sets the
    statements below, and where PostgreSQL must lock what SQLite's write lock covers."""

    # Every space, newest first (the later insert first when two share a time).
    _ALL_SPACES: str
    # (name) / (status)
    _SPACE_NAMED: str
    _SPACE_WITH_STATUS: str
    # (name): forget a space of that name before it is made the active one
    _DROP_SPACE: str
    # space_values(...) RETURNING *: the space as active / as building (again)
    _NEW_ACTIVE_SPACE: str
    _BUILD_SPACE: str
    # The chunk counter, as ``value``.
    _CHUNKS_VERSION: str
    # (updated_at): the active space retired / (updated_at, name): that space activated
    _RETIRE_ACTIVE: str
    _ACTIVATE: str
    # (model id, fingerprint) / (model id, updated_at): every chunk and document relabelled
    _RELABEL_CHUNKS: str
    _RELABEL_DOCUMENTS: str
    # Rows of embed_model, embed_fingerprint, docs, n / of doc_id, embed_model, embed_fingerprint.
    _EMBEDDING_USAGE: str
    _DOCUMENT_EMBEDDINGS: str

    def _lock_spaces(self, db: Statements) -> None:
        """Make space changes take turns ("is one active?" then "insert" must not interleave
        with another process doing the same). SQLite's write lock already does."""

    def _lock_chunks_version(self, db: Statements) -> int:
        """The chunk counter, held until the transaction ends (SQLite's write lock holds it)."""
        return int(db.execute(self._CHUNKS_VERSION, ()).fetchone()["value"])

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

    def ensure_active_space(self, space: SpaceRecord) -> SpaceRecord:
        """Make ``space`` the active one unless a space already is; return the active space.

        Safe when two processes start at once: one insert wins, both get the same answer.
        """
        now = self._now()
        with self._write() as db:
            self._lock_spaces(db)
            row = db.execute(self._SPACE_WITH_STATUS, (SpaceStatus.ACTIVE.value,)).fetchone()
            if row is None:
                db.execute(self._DROP_SPACE, (space.name,))
                # fetchall: SQLite runs a RETURNING statement to its end only when asked for all.
                row = db.execute(self._NEW_ACTIVE_SPACE, space_values(space, now)).fetchall()[0]
        return SpaceRecord.from_row(row)

    def begin_space(self, space: SpaceRecord) -> SpaceRecord:
        """Record ``space`` as the one being built (again, if it was cancelled or failed before).

        Raises SpaceBusy while another space is being built, ValueError if it is the active one.
        """
        now = self._now()
        with self._write() as db:
            self._lock_spaces(db)
            active = db.execute(self._SPACE_WITH_STATUS, (SpaceStatus.ACTIVE.value,)).fetchone()
            busy = db.execute(self._SPACE_WITH_STATUS, (SpaceStatus.BUILDING.value,)).fetchone()
            check_begin(space, active, busy)
            row = db.execute(self._BUILD_SPACE, space_values(space, now)).fetchall()[0]
        return SpaceRecord.from_row(row)

    def chunks_version(self) -> int:
        """Moves whenever a chunk is added, removed or re-texted anywhere in the catalog."""
        with self._read() as db:
            return int(db.execute(self._CHUNKS_VERSION, ()).fetchone()["value"])

    def switch_space(self, name: str, *, expected_version: int) -> bool:
        """Make the space being built the active one, in one transaction.

        Only if no chunk changed since ``expected_version`` (else False and nothing changes):
        the old active space is retired, the new one activated, and every chunk and document
        records the new model and fingerprint, all at once.
        """
        now = self._now()
        with self._write() as db:
            # The counter first: a chunk write either ends before (and the count moved) or
            # finds its space no longer active (rules.check_still_active).
            if self._lock_chunks_version(db) != expected_version:
                return False
            self._lock_spaces(db)
            row = switch_target(name, db.execute(self._SPACE_NAMED, (name,)).fetchone())
            db.execute(self._RETIRE_ACTIVE, (now,))
            db.execute(self._ACTIVATE, (now, name))
            # Not a text change: the counter stays (SQLite's triggers watch only text).
            db.execute(self._RELABEL_CHUNKS, (row["model_id"], row["fingerprint"]))
            db.execute(self._RELABEL_DOCUMENTS, (row["model_id"], now))
        return True

    def embedding_usage(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(model id, fingerprint) -> (documents, chunks) embedded with it."""
        with self._read() as db:
            rows = db.execute(self._EMBEDDING_USAGE, ()).fetchall()
        return {
            (r["embed_model"], r["embed_fingerprint"]): (int(r["docs"]), int(r["n"])) for r in rows
        }

    def document_embeddings(self) -> list[tuple[str, str, str]]:
        """(document id, model id, fingerprint) for each distinct combination in the chunks."""
        with self._read() as db:
            rows = db.execute(self._DOCUMENT_EMBEDDINGS, ()).fetchall()
        return [(r["doc_id"], r["embed_model"], r["embed_fingerprint"]) for r in rows]


# ── collections ──────────────────────────────────────────────────


class CollectionSteps(CatalogSteps):
    """Every collection call; a backend sets the statements below and names the error its
    driver raises when a unique index refuses a row (a name taken, ignoring case)."""

    # (name, created_at) RETURNING id
    _NEW_COLLECTION: str
    # (id) / (name, compared ignoring case): id, name, created_at and ``documents`` (its count)
    _COLLECTION_BY_ID: str
    _COLLECTION_BY_NAME: str
    # Every collection with its count, by name ignoring case.
    _ALL_COLLECTIONS: str
    # (new name, id)
    _RENAME_COLLECTION: str
    # (id): its members' doc_id rows, taken before (id) _DELETE_COLLECTION forgets it
    _TAKE_MEMBERS: str
    _DELETE_COLLECTION: str
    # (id): a row while the collection exists (and, on PostgreSQL, until the transaction ends)
    _HOLD_COLLECTION: str
    # (id, added_at, doc ids) RETURNING doc_id: the documents that exist and were not members
    _ADD_MEMBERS: str
    # (id, doc ids) RETURNING doc_id: those that were members
    _REMOVE_MEMBERS: str
    # (doc ids or None, the same again): rows of doc_id and collection_id by collection id
    _MEMBERSHIPS: str

    _NAME_TAKEN: type[Exception]

    def create_collection(self, name: str) -> CollectionRecord:
        name = collection_name(name)
        now = self._now()
        try:
            with self._write() as db:
                row = db.execute(self._NEW_COLLECTION, (name, now)).fetchall()[0]
        except self._NAME_TAKEN as exc:
            raise collection_exists(name) from exc
        return CollectionRecord(id=int(row["id"]), name=name, documents=0, created_at=now)

    def get_collection(self, name_or_id: str | int) -> CollectionRecord | None:
        by_id = isinstance(name_or_id, int)
        query = self._COLLECTION_BY_ID if by_id else self._COLLECTION_BY_NAME
        with self._read() as db:
            row = db.execute(query, (collection_key(name_or_id),)).fetchone()
        return None if row is None else CollectionRecord.from_row(row)

    def require_collection(self, name_or_id: str | int) -> CollectionRecord:
        found = self.get_collection(name_or_id)
        if found is None:
            raise CollectionNotFound(f"no collection named {name_or_id!r}")
        return found

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

    def collections(self) -> list[CollectionRecord]:
        """Every collection, by name."""
        with self._read() as db:
            rows = db.execute(self._ALL_COLLECTIONS, ()).fetchall()
        return [CollectionRecord.from_row(r) for r in rows]

    def rename_collection(self, name: str, new_name: str) -> CollectionRecord:
        """Rename; payloads carry ids, so no point changes."""
        found = self.require_collection(name)
        new_name = collection_name(new_name)
        try:
            with self._write() as db:
                db.execute(self._RENAME_COLLECTION, (new_name, found.id))
        except self._NAME_TAKEN as exc:
            raise collection_exists(new_name) from exc
        return CollectionRecord(found.id, new_name, found.documents, found.created_at)

    def delete_collection(self, name: str) -> list[str]:
        """Forget the collection; its documents stay in the library. Returns their ids."""
        found = self.require_collection(name)
        with self._write() as db:
            members = [r["doc_id"] for r in db.execute(self._TAKE_MEMBERS, (found.id,)).fetchall()]
            db.execute(self._DELETE_COLLECTION, (found.id,))
        return members

    def add_to_collection(self, collection_id: int, doc_ids: Sequence[str]) -> list[str]:
        """Make the documents members; returns those that were not members before.

        Unknown document ids are ignored (a document deleted meanwhile has no membership).
        """
        now = self._now()
        with self._write() as db:
            if db.execute(self._HOLD_COLLECTION, (collection_id,)).fetchone() is None:
                raise no_collection_id(collection_id)
            values = (collection_id, now, self._array(list(doc_ids)))
            return [r["doc_id"] for r in db.execute(self._ADD_MEMBERS, values).fetchall()]

    def remove_from_collection(self, collection_id: int, doc_ids: Sequence[str]) -> list[str]:
        """End the documents' membership; returns those that were members."""
        with self._write() as db:
            values = (collection_id, self._array(list(doc_ids)))
            return [r["doc_id"] for r in db.execute(self._REMOVE_MEMBERS, values).fetchall()]

    def collection_ids_of(self, doc_id: str) -> tuple[int, ...]:
        """The ids of the collections ``doc_id`` is in, ascending (what its payload carries)."""
        return self.memberships([doc_id]).get(doc_id, ())

    def memberships(self, doc_ids: Sequence[str] | None = None) -> dict[str, tuple[int, ...]]:
        """Collection ids per document (documents in none are left out); None: every document."""
        only = self._array(None if doc_ids is None else list(doc_ids))
        result: dict[str, list[int]] = {}
        with self._read() as db:
            for r in db.execute(self._MEMBERSHIPS, (only, only)).fetchall():
                result.setdefault(r["doc_id"], []).append(int(r["collection_id"]))
        return {doc_id: tuple(ids) for doc_id, ids in result.items()}


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
