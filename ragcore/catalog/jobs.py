"""The job queue: workers claim jobs atomically under a lease; expired leases are retried."""

from __future__ import annotations

import sqlite3

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.steps import JobSteps


def cancel_active_jobs(
    conn: sqlite3.Connection, doc_id: str, now: float, *, except_kind: str | None = None
) -> int:
    """Cancel the document's queued and running jobs inside the caller's transaction."""
    cursor = conn.execute(
        "UPDATE jobs SET status = 'cancelled', lease_until = NULL, updated_at = ? "
        "WHERE doc_id = ? AND status IN ('queued', 'running') AND kind IS NOT ?",
        (now, doc_id, except_kind),
    )
    return cursor.rowcount


_CLAIMABLE_WHERE = (
    "SELECT jobs.* FROM jobs LEFT JOIN documents ON documents.id = jobs.doc_id "
    "WHERE jobs.kind IN (SELECT value FROM json_each(?)) AND "
    "(? IS NULL OR jobs.id IN (SELECT value FROM json_each(?))) AND "
    "(jobs.status = 'queued' OR (jobs.status = 'running' AND jobs.lease_until < ?)) "
)
_JOBS_OF = "SELECT * FROM jobs WHERE (? IS NULL OR doc_id = ?)"


class JobsMixin(CatalogDatabase, JobSteps):
    """The job-queue half of the Catalog: its SQL; the steps are JobSteps'."""

    _ACTIVE_JOB = (
        "SELECT * FROM jobs WHERE doc_id = ? AND kind = ? "
        "AND status IN ('queued', 'running') ORDER BY id LIMIT 1"
    )
    _NEW_JOB = (
        "INSERT INTO jobs (doc_id, kind, params, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) RETURNING *"
    )
    _CLAIMABLE = _CLAIMABLE_WHERE + "ORDER BY jobs.id LIMIT 1"
    _CLAIMABLE_SMALL = (
        _CLAIMABLE_WHERE
        + "AND documents.size_bytes <= ? ORDER BY documents.size_bytes, jobs.id LIMIT 1"
    )
    _CLAIM = (
        "UPDATE jobs SET status = 'running', worker_id = ?, lease_until = ?, "
        "attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING *"
    )
    _GIVE_UP_JOB = (
        "UPDATE jobs SET status = 'failed', error = ?, lease_until = NULL, updated_at = ? "
        "WHERE id = ?"
    )
    _GIVE_UP_DOCUMENT = (
        "UPDATE documents SET status = 'failed', error = ?, updated_at = ? "
        "WHERE id = ? AND status IN ('queued', 'processing')"
    )
    _HEARTBEAT = (
        "UPDATE jobs SET stage = ?, progress = ?, lease_until = ?, updated_at = ? "
        "WHERE id = ? AND worker_id = ? AND status = 'running'"
    )
    _FINISH = (
        "UPDATE jobs SET status = 'done', stage = 'done', progress = 1, "
        "lease_until = NULL, error = NULL, updated_at = ? "
        "WHERE id = ? AND worker_id = ? AND status = 'running'"
    )
    _FAIL = (
        "UPDATE jobs SET status = 'failed', error = ?, lease_until = NULL, updated_at = ? "
        "WHERE id = ? AND worker_id = ? AND status = 'running'"
    )
    _GET_JOB = "SELECT * FROM jobs WHERE id = ?"
    _JOBS = _JOBS_OF + " ORDER BY id DESC LIMIT ?"
    _ACTIVE_JOBS = _JOBS_OF + " AND status IN ('queued', 'running') ORDER BY id DESC LIMIT ?"

    def cancel_jobs(self, doc_id: str) -> int:
        """Cancel the document's queued and running jobs; a running one's worker learns it at
        its next heartbeat. Returns how many were cancelled."""
        with self._write() as conn:
            return cancel_active_jobs(conn, doc_id, self._now())
