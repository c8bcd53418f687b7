"""The job queue: workers claim jobs atomically under a lease; expired leases are retried."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence

from ragcore.catalog.database import CatalogDatabase
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
    conn: sqlite3.Connection, doc_id: str, now: float, *, except_kind: str | None = None
) -> int:
    """Cancel the document's queued and running jobs inside the caller's transaction."""
    cursor = conn.execute(
        "UPDATE jobs SET status = 'cancelled', lease_until = NULL, updated_at = ? "
        "WHERE doc_id = ? AND status IN ('queued', 'running') AND kind IS NOT ?",
        (now, doc_id, except_kind),
    )
    return cursor.rowcount


class JobsMixin(CatalogDatabase, JobSteps):
    """The job-queue half of the Catalog (heartbeat, finish, fail, get: JobSteps)."""

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

    def enqueue(
        self, doc_id: str, kind: str = JobKind.INGEST, params: Mapping[str, object] | None = None
    ) -> JobRecord:
        """Queue a job, unless the document already has a queued or running one of this kind."""
        params_json = json.dumps(job_params(kind, params), sort_keys=True)
        with self._write() as conn:
            now = self._now()
            row = conn.execute(
                "SELECT * FROM jobs WHERE doc_id = ? AND kind = ? "
                "AND status IN ('queued', 'running') ORDER BY id LIMIT 1",
                (doc_id, kind),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "INSERT INTO jobs (doc_id, kind, params, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?) RETURNING *",
                    (doc_id, kind, params_json, now, now),
                ).fetchall()[0]  # fetchall: a RETURNING statement must run to completion
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
        claims is failed with its document (rules.first_claimable).
        """
        wanted, allowed = claim_filter(lease_seconds, kinds, ids, max_doc_bytes)
        only = None if allowed is None else json.dumps(allowed)
        sql = (
            "SELECT jobs.* FROM jobs LEFT JOIN documents ON documents.id = jobs.doc_id "
            "WHERE jobs.kind IN (SELECT value FROM json_each(?)) AND "
            "(? IS NULL OR jobs.id IN (SELECT value FROM json_each(?))) AND "
            "(jobs.status = 'queued' OR (jobs.status = 'running' AND jobs.lease_until < ?)) "
        )
        if max_doc_bytes is None:
            sql += "ORDER BY jobs.id LIMIT 1"
        else:
            sql += "AND documents.size_bytes <= ? ORDER BY documents.size_bytes, jobs.id LIMIT 1"
        size_args = () if max_doc_bytes is None else (max_doc_bytes,)
        with self._write() as conn:
            now = self._now()
            args = (json.dumps(wanted), only, only, now, *size_args)
            row = first_claimable(
                lambda: conn.execute(sql, args).fetchone(),
                lambda job: _give_up(conn, job, now),
                self.max_attempts,
            )
            if row is None:
                return None
            claimed = conn.execute(
                "UPDATE jobs SET status = 'running', worker_id = ?, lease_until = ?, "
                "attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING *",
                (worker_id, now + lease_seconds, now, row["id"]),
            ).fetchall()[0]
        return JobRecord.from_row(claimed)

    def cancel_jobs(self, doc_id: str) -> int:
        """Cancel the document's queued and running jobs; a running one's worker learns it at
        its next heartbeat. Returns how many were cancelled."""
        with self._write() as conn:
            return cancel_active_jobs(conn, doc_id, self._now())

    def jobs(
        self, *, doc_id: str | None = None, active_only: bool = False, limit: int = 200
    ) -> list[JobRecord]:
        """Jobs newest first, optionally of one document and only queued or running ones."""
        check_limit(limit)
        sql = "SELECT * FROM jobs WHERE (? IS NULL OR doc_id = ?)"
        if active_only:
            sql += " AND status IN ('queued', 'running')"
        sql += " ORDER BY id DESC LIMIT ?"
        with self._read() as conn:
            rows = conn.execute(sql, (doc_id, doc_id, limit)).fetchall()
        return [JobRecord.from_row(r) for r in rows]


def _give_up(conn: sqlite3.Connection, job: sqlite3.Row, now: float) -> None:
    error, fails_document = given_up(job)
    conn.execute(
        "UPDATE jobs SET status = 'failed', error = ?, lease_until = NULL, updated_at = ? "
        "WHERE id = ?",
        (error, now, job["id"]),
    )
    if fails_document:
        conn.execute(
            "UPDATE documents SET status = 'failed', error = ?, updated_at = ? "
            "WHERE id = ? AND status IN ('queued', 'processing')",
            (error, now, job["doc_id"]),
        )
