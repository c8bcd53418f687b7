"""The job worker: claims queued jobs atomically, runs them with a heartbeat, survives bad files."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass

from ingest.pipeline import Ingestor, IngestReport, JobLost
from ingest.reembed import Reembedder, ReembedReport
from ragcore.catalog import DocumentNotFound, DocumentStatus, JobKind, JobRecord
from ragcore.catalog.backend import CatalogBackend
from ragcore.catalog.backup import CatalogBackups
from ragcore.catalog.database import CatalogDatabase
from ragcore.errors import RagError, disk_full_error, is_disk_full
from ragcore.types import ChunkingParams, Strategy

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 1.0  # seconds between lease renewals while a stage reports progress
# A step of progress this large is written at once, however soon after the last one: without
# it a fast batch went unrecorded, so a small document's progress jumped 15% -> 90% -> done and
# nobody watching (a person, or a test waiting for "embedding 30%") ever saw it in between.
PROGRESS_STEP = 0.05


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def job_params(job: JobRecord, default: ChunkingParams) -> ChunkingParams:
    raw = job.params
    return ChunkingParams(
        strategy=Strategy(str(raw.get("strategy", default.strategy))),
        chunk_size=int(str(raw.get("chunk_size", default.chunk_size))),
        overlap=int(str(raw.get("overlap", default.overlap))),
    )


@dataclass(frozen=True)
class JobOutcome:
    job_id: int
    doc_id: str
    ok: bool
    error: str | None = None
    report: IngestReport | None = None
    reembed: ReembedReport | None = None  # for a 'reembed' job


class Worker:
    """Runs ingestion jobs from the catalog's queue, one at a time.

    >>> worker = Worker(catalog, ingestor, default_params=ChunkingParams())
    >>> worker.run_until_idle()   # or worker.run_forever(stop_event) in a thread or process
    """

    def __init__(
        self,
        catalog: CatalogBackend,
        ingestor: Ingestor,
        *,
        default_params: ChunkingParams,
        worker_id: str | None = None,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.5,
        on_outcome: Callable[[JobOutcome], None] | None = None,
        reembedder: Reembedder | None = None,
        backups: CatalogBackups | None = None,
        max_doc_bytes: int | None = None,
    ) -> None:
        if lease_seconds <= HEARTBEAT_EVERY:
            raise ValueError(f"lease_seconds must be > {HEARTBEAT_EVERY}, got {lease_seconds}")
        if max_doc_bytes is not None and max_doc_bytes <= 0:
            raise ValueError(f"max_doc_bytes must be > 0, got {max_doc_bytes}")
        self.catalog = catalog
        self.ingestor = ingestor
        self.default_params = default_params
        self.worker_id = worker_id or new_worker_id()
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.on_outcome = on_outcome
        # Runs 'reembed' jobs (switching the embedding model) when given; else they wait.
        self.reembedder = reembedder
        # Copies of the catalog for `ingest check --repair`, taken after jobs changed it.
        self.backups = backups
        self._unsaved = False
        # Set for a worker kept for small files: it takes only documents up to this size,
        # smallest first, so a small file is indexed beside a long one instead of after it.
        self.max_doc_bytes = max_doc_bytes

    def run_once(self, job_ids: Collection[int] | None = None) -> JobOutcome | None:
        """Claim and run one job (one of ``job_ids`` when given); None when there is none to run."""
        kinds = (JobKind.INGEST, JobKind.REINDEX) + (
            (JobKind.REEMBED,) if self.reembedder is not None else ()
        )
        job = self.catalog.claim_job(
            self.worker_id,
            lease_seconds=self.lease_seconds,
            kinds=kinds,
            ids=job_ids,
            max_doc_bytes=self.max_doc_bytes,
        )
        if job is None:
            self._back_up(idle=True)
            return None
        outcome = self._run(job)
        self._unsaved = True
        self._back_up(idle=False)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    def _run(self, job: JobRecord) -> JobOutcome:
        last_beat = 0.0
        stage_now = ""
        fraction_now = 0.0

        def progress(stage: str, fraction: float) -> None:
            nonlocal last_beat, stage_now, fraction_now
            now = time.monotonic()
            if (
                stage != stage_now
                or now - last_beat >= HEARTBEAT_EVERY
                or fraction - fraction_now >= PROGRESS_STEP
            ):
                stage_now, last_beat, fraction_now = stage, now, fraction
                held = self.catalog.heartbeat(
                    job.id,
                    self.worker_id,
                    stage=stage,
                    progress=fraction,
                    lease_seconds=self.lease_seconds,
                )
                if not held:
                    raise JobLost(f"job {job.id} was taken over or cancelled")

        if job.kind == JobKind.REEMBED and self.reembedder is not None:
            return self._run_reembed(job, self.reembedder, progress)
        try:
            params = job_params(job, self.default_params)
            self.catalog.set_document_status(job.doc_id, DocumentStatus.PROCESSING)
            report = self.ingestor.ingest(job.doc_id, params, progress)
        except JobLost as exc:
            log.warning("%s", exc)
            self._discard_if_deleted(job.doc_id)
            return JobOutcome(job.id, job.doc_id, ok=False, error=str(exc))
        except DocumentNotFound as exc:
            self._discard_if_deleted(job.doc_id)
            return self._fail(job, str(exc))
        except RagError as exc:
            return self._fail(job, str(exc))
        except MemoryError:
            return self._fail(job, "the document needed more memory than this machine allows")
        except Exception as exc:  # a bug must fail this job only, never the worker
            if is_disk_full(exc):  # the store or a thumbnail ran out of room
                return self._fail(job, str(self._disk_full()))
            log.exception("job %s crashed", job.id)
            return self._fail(job, f"internal error while ingesting: {type(exc).__name__}: {exc}")
        self.catalog.finish_job(job.id, self.worker_id)
        return JobOutcome(job.id, job.doc_id, ok=True, report=report)

    def _discard_if_deleted(self, doc_id: str) -> None:
        """A document deleted mid-ingestion may have points we wrote after its delete swept them."""
        try:
            if self.catalog.get_document(doc_id) is None:
                self.ingestor.discard(doc_id)
        except Exception:  # `ingest check --repair` finds what is left; the worker carries on
            log.exception("could not remove the points of deleted document %s", doc_id[:12])

    def _run_reembed(
        self, job: JobRecord, reembedder: Reembedder, progress: Callable[[str, float], None]
    ) -> JobOutcome:
        """A re-embed job: its doc_id names a model space, not a document."""
        try:
            result = reembedder.run(job, progress)
        except JobLost as exc:
            log.warning("%s", exc)
            reembedder.after_lost(job)
            return JobOutcome(job.id, job.doc_id, ok=False, error=str(exc))
        except Exception as exc:  # a bug or a store error fails this job, never the worker
            if is_disk_full(exc):
                exc = self._disk_full()
            if not isinstance(exc, RagError):
                log.exception("re-embed job %s crashed", job.id)
            message = (
                str(exc)
                if isinstance(exc, RagError)
                else (f"internal error while re-embedding: {type(exc).__name__}: {exc}")
            )
            self.catalog.fail_job(job.id, self.worker_id, message)
            reembedder.fail(job, message)
            return JobOutcome(job.id, job.doc_id, ok=False, error=message)
        self.catalog.finish_job(job.id, self.worker_id)
        return JobOutcome(job.id, job.doc_id, ok=True, reembed=result)

    def _disk_full(self) -> RagError:
        # The SQLite catalog lives in the data folder; a PostgreSQL one is on its server, and a
        # full disk here is this worker's own folder (store, thumbnails).
        if isinstance(self.catalog, CatalogDatabase):
            return disk_full_error(self.catalog.path.parent)
        return disk_full_error("this worker's data folder")

    def _back_up(self, *, idle: bool) -> None:
        """Copy the catalog once jobs changed it: when the queue empties, and while it is busy
        at most every ``backups.min_interval`` seconds (a large catalog takes a while to copy)."""
        catalog = self.catalog
        # Only a SQLite file is copied here: a PostgreSQL server keeps its own backups.
        if not isinstance(catalog, CatalogDatabase) or self.backups is None:
            return
        if not self._unsaved or not (idle or self.backups.due()):
            return
        self._unsaved = False
        try:
            self.backups.take(catalog)
        except (RagError, OSError, sqlite3.Error) as exc:  # the jobs are done; a backup is spare
            log.warning("no catalog backup this time: %s", exc)

    def _fail(self, job: JobRecord, message: str) -> JobOutcome:
        self.catalog.fail_job(job.id, self.worker_id, message)
        if self.catalog.get_document(job.doc_id) is not None:
            self.catalog.set_document_status(job.doc_id, DocumentStatus.FAILED, error=message)
        return JobOutcome(job.id, job.doc_id, ok=False, error=message)

    def run_until_idle(self, job_ids: Collection[int] | None = None) -> list[JobOutcome]:
        """Run jobs until none is queued; given ids, run only those, until they are all finished.

        A command waiting for its own files passes their jobs' ids: another command's job (one
        left behind by a killed ``add --wait``, say) is the worker's or the app's to run, not a
        reason to keep this one waiting.
        """
        outcomes: list[JobOutcome] = []
        while True:
            outcome = self.run_once(job_ids)
            if outcome is not None:
                outcomes.append(outcome)
                continue
            if job_ids is None:
                return outcomes
            pending = [j for j in job_ids if _active(self.catalog.get_job(j))]
            if not pending:
                return outcomes
            time.sleep(self.poll_seconds)  # another worker holds them: wait for it

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self.run_once() is None:
                    stop.wait(self.poll_seconds)
            except RagError as exc:  # a full disk, a damaged catalog: say so, keep serving
                log.warning("worker: %s", exc)
                stop.wait(max(self.poll_seconds, 5.0))
            except Exception:  # the catalog briefly locked, a store hiccup: keep serving
                log.exception("worker loop error")
                stop.wait(max(self.poll_seconds, 1.0))


def _active(job: JobRecord | None) -> bool:
    return job is not None and job.active
