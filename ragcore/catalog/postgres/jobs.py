"""The job queue on PostgreSQL: claimed with FOR UPDATE SKIP LOCKED, leased, retried on expiry."""

from __future__ import annotations

from ragcore.catalog.postgres.database import ENQUEUE_LOCK_SALT, Cursor, PostgresDatabase
from ragcore.catalog.steps import JobSteps, Statements


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


# The row is locked with SKIP LOCKED: workers on any number of hosts claiming at once each get
# a different job and never wait for each other.
_CLAIMABLE_WHERE = (
    "SELECT jobs.* FROM jobs LEFT JOIN documents ON documents.id = jobs.doc_id "
    "WHERE jobs.kind = ANY(%s) "
    "AND (%s::bigint[] IS NULL OR jobs.id = ANY(%s::bigint[])) "
    "AND (jobs.status = 'queued' OR (jobs.status = 'running' AND jobs.lease_until < %s)) "
)
_JOBS_OF = "SELECT * FROM jobs WHERE (%s::text IS NULL OR doc_id = %s)"


class JobsMixin(PostgresDatabase, JobSteps):
    """The job-queue half of the PostgresCatalog: its SQL; the steps are JobSteps', the same
    leases and attempts as SQLite's."""

    _ACTIVE_JOB = (
        "SELECT * FROM jobs WHERE doc_id = %s AND kind = %s "
        "AND status IN ('queued', 'running') ORDER BY id LIMIT 1"
    )
    _NEW_JOB = (
        "INSERT INTO jobs (doc_id, kind, params, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING *"
    )
    _CLAIMABLE = _CLAIMABLE_WHERE + "ORDER BY jobs.id LIMIT 1 FOR UPDATE OF jobs SKIP LOCKED"
    _CLAIMABLE_SMALL = (
        _CLAIMABLE_WHERE + "AND documents.size_bytes <= %s ORDER BY documents.size_bytes, "
        "jobs.id LIMIT 1 FOR UPDATE OF jobs SKIP LOCKED"
    )
    _CLAIM = (
        "UPDATE jobs SET status = 'running', worker_id = %s, lease_until = %s, "
        "attempts = attempts + 1, updated_at = %s WHERE id = %s RETURNING *"
    )
    _GIVE_UP_JOB = (
        "UPDATE jobs SET status = 'failed', error = %s, lease_until = NULL, updated_at = %s "
        "WHERE id = %s"
    )
    _GIVE_UP_DOCUMENT = (
        "UPDATE documents SET status = 'failed', error = %s, updated_at = %s "
        "WHERE id = %s AND status IN ('queued', 'processing')"
    )
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
    _JOBS = _JOBS_OF + " ORDER BY id DESC LIMIT %s"
    _ACTIVE_JOBS = _JOBS_OF + " AND status IN ('queued', 'running') ORDER BY id DESC LIMIT %s"

    def _lock_enqueue(self, db: Statements, doc_id: str, kind: str) -> None:
        # Two processes enqueueing the same document's job at once: one inserts, the other
        # waits here and then finds that job (SQLite's write lock does this for it).
        db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))",
            (f"{kind}:{doc_id}", ENQUEUE_LOCK_SALT),
        )

    def cancel_jobs(self, doc_id: str) -> int:
        """Cancel the document's queued and running jobs; a running one's worker learns it at
        its next heartbeat. Returns how many were cancelled."""
        with self._write() as cur:
            return cancel_active_jobs(cur, doc_id, self._now())
