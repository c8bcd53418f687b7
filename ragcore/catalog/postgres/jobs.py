"""The job queue on PostgreSQL: claimed with FOR UPDATE SKIP LOCKED, leased, retried on expiry."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from psycopg.types.json import Jsonb

from ragcore.catalog.postgres.database import ENQUEUE_LOCK_SALT, Cursor, PostgresDatabase
from ragcore.catalog.postgres.rows import Row
from ragcore.catalog.records import JobKind, JobRecord
from ragcore.catalog.rules import (
    check_limit,
    claim_filter,
    first_claimable,
    given_up,
    job_params,
)
from ragcore.catalog.steps import JobSteps


def cancel_active_jobs(
    cur: Cursor, doc_id: str, now: float, *, except_kind: str | None = None
) -> int:
    """Cancel the document's queued and running jobs inside the caller's transaction."""
    cur.execute(
        "UPDATE jobs SET status = 'cancelled', lease_until = NULL, updated_at = %s "
        "WHERE doc_id = %s AND status IN ('queued', 'running') AND kind IS DISTINCT FROM %s",
        (now, doc_id, except_kind),
    )
    return cur.rowcount


class JobsMixin(PostgresDatabase, JobSteps):
    """The job-queue half of the PostgresCatalog: the same leases and attempts as SQLite's
    (heartbeat, finish, fail, get: JobSteps)."""

    _HEARTBEAT = (
        "UPDATE jobs SET stage = %s, progress = %s, lease_until = %s, updated_at = %s "
        "WHERE id = %s AND worker_id = %s AND status = 'running'"
    )
    _FINISH = (
        "UPDATE jobs SET status = 'done', stage = 'done', progress = 1, "
        "lease_until = NULL, error = NULL, updated_at = %s "
        "WHERE id = %s AND worker_id = %s AND status = 'running'"
    )
    _FAIL = (
        "UPDATE jobs SET status = 'failed', error = %s, lease_until = NULL, updated_at = %s "
        "WHERE id = %s AND worker_id = %s AND status = 'running'"
    )
    _GET_JOB = "SELECT * FROM jobs WHERE id = %s"

    def enqueue(
        self, doc_id: str, kind: str = JobKind.INGEST, params: Mapping[str, object] | None = None
    ) -> JobRecord:
        """Queue a job, unless the document already has a queued or running one of this kind."""
        plain = job_params(kind, params)
        with self._write() as cur:
            # Two processes enqueueing the same document's job at once: one inserts, the other
            # waits here and then finds that job (SQLite's write lock does this for it).
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))",
                (f"{kind}:{doc_id}", ENQUEUE_LOCK_SALT),
            )
            now = self._now()
            row = cur.execute(
                "SELECT * FROM jobs WHERE doc_id = %s AND kind = %s "
                "AND status IN ('queued', 'running') ORDER BY id LIMIT 1",
                (doc_id, kind),
            ).fetchone()
            if row is None:
                row = cur.execute(
                    "INSERT INTO jobs (doc_id, kind, params, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING *",
                    (doc_id, str(kind), Jsonb(plain), now, now),
                ).fetchone()
        assert row is not None
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

        Same choice as the SQLite catalog's (see there for ``ids`` and ``max_doc_bytes``); the
        row is locked with SKIP LOCKED, so workers on any number of hosts claiming at once each
        get a different job and never wait for each other. Every claim counts as an attempt; a
        job whose lease expired after ``max_attempts`` claims is failed with its document.
        """
        wanted, only = claim_filter(lease_seconds, kinds, ids, max_doc_bytes)
        query = (
            "SELECT jobs.* FROM jobs LEFT JOIN documents ON documents.id = jobs.doc_id "
            "WHERE jobs.kind = ANY(%(kinds)s) "
            "AND (%(ids)s::bigint[] IS NULL OR jobs.id = ANY(%(ids)s::bigint[])) "
            "AND (jobs.status = 'queued' OR (jobs.status = 'running' AND jobs.lease_until < %(now)s)) "
        )
        if max_doc_bytes is None:
            query += "ORDER BY jobs.id "
        else:
            query += (
                "AND documents.size_bytes <= %(max_bytes)s ORDER BY documents.size_bytes, jobs.id "
            )
        query += "LIMIT 1 FOR UPDATE OF jobs SKIP LOCKED"
        with self._write() as cur:
            now = self._now()
            args = {"kinds": wanted, "ids": only, "now": now, "max_bytes": max_doc_bytes}
            row = first_claimable(
                lambda: cur.execute(query.encode(), args).fetchone(),
                lambda job: _give_up(cur, job, now),
                self.max_attempts,
            )
            if row is None:
                return None
            claimed = cur.execute(
                "UPDATE jobs SET status = 'running', worker_id = %s, lease_until = %s, "
                "attempts = attempts + 1, updated_at = %s WHERE id = %s RETURNING *",
                (worker_id, now + lease_seconds, now, row["id"]),
            ).fetchone()
        assert claimed is not None
        return JobRecord.from_row(claimed)

    def cancel_jobs(self, doc_id: str) -> int:
        """Cancel the document's queued and running jobs; a running one's worker learns it at
        its next heartbeat. Returns how many were cancelled."""
        with self._write() as cur:
            return cancel_active_jobs(cur, doc_id, self._now())

    def jobs(
        self, *, doc_id: str | None = None, active_only: bool = False, limit: int = 200
    ) -> list[JobRecord]:
        """Jobs newest first, optionally of one document and only queued or running ones."""
        check_limit(limit)
        query = "SELECT * FROM jobs WHERE (%(doc)s::text IS NULL OR doc_id = %(doc)s)"
        if active_only:
            query += " AND status IN ('queued', 'running')"
        query += " ORDER BY id DESC LIMIT %(limit)s"
        with self._read() as cur:
            cur.execute(query.encode(), {"doc": doc_id, "limit": limit})
            return [JobRecord.from_row(r) for r in cur.fetchall()]


def _give_up(cur: Cursor, job: Row, now: float) -> None:
    error, fails_document = given_up(job)
    cur.execute(
        "UPDATE jobs SET status = 'failed', error = %s, lease_until = NULL, updated_at = %s "
        "WHERE id = %s",
        (error, now, job["id"]),
    )
    if fails_document:
        cur.execute(
            "UPDATE documents SET status = 'failed', error = %s, updated_at = %s "
            "WHERE id = %s AND status IN ('queued', 'processing')",
            (error, now, job["doc_id"]),
        )
