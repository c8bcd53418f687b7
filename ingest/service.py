"""Ingestion's one entry point for the app: wires a worker from a Runtime, and names what else of
ingest the app and the evaluations use (import-linter holds app to this module)."""

from __future__ import annotations

import os
import threading

from ingest.batch import ingest_texts
from ingest.parsers import ParseLimits
from ingest.parsers.detect import EXTENSIONS, HEAD_BYTES, IMAGE_TYPES, detect_type
from ingest.parsers.ocr import OcrOptions, ocr_status
from ingest.pipeline import Ingestor, JobLimits, thumbnail_path
from ingest.reembed import Reembedder, cancel_reembed, start_reembed
from ingest.sandbox import ParseSandbox, SandboxLimits
from ingest.worker import Worker
from ragcore.runtime import Runtime, catalog_backups, chunking_params
from ragcore.settings import Settings

__all__ = [
    "EXTENSIONS",
    "HEAD_BYTES",
    "IMAGE_TYPES",
    "BackgroundWorker",
    "app_workers",
    "build_reembedder",
    "build_worker",
    "cancel_reembed",
    "detect_type",
    "ingest_texts",
    "job_limits",
    "ocr_status",
    "parse_limits",
    "parse_sandbox",
    "start_reembed",
    "thumbnail_path",
]


def parse_limits(settings: Settings) -> ParseLimits:
    return ParseLimits(
        max_file_bytes=int(settings.max_file_mb * 1024 * 1024),
        max_pages=settings.max_pages,
        max_image_pixels=settings.max_image_pixels,
        max_text_chars=settings.max_text_chars,
        max_chars_per_byte=settings.max_chars_per_byte,
        min_text_chars=settings.min_text_chars,
        max_images_per_page=settings.max_images_per_page,
        min_image_side=settings.min_image_side,
        timeout_seconds=settings.parse_timeout_seconds,
        max_archive_entries=settings.max_archive_entries,
        max_unpacked_bytes=int(settings.max_unpacked_mb * 1024 * 1024),
        ocr=OcrOptions(enabled=settings.ocr, language=settings.ocr_language, dpi=settings.ocr_dpi),
    )


def job_limits(settings: Settings) -> JobLimits:
    return JobLimits(
        max_chunks=settings.max_chunks_per_document, timeout_seconds=settings.job_timeout_seconds
    )


def parse_sandbox(settings: Settings) -> ParseSandbox | None:
    """The child-process parser with the configured limits, or None to parse in this process."""
    if not settings.parse_sandbox:
        return None
    return ParseSandbox(
        SandboxLimits(
            timeout_seconds=settings.parse_timeout_seconds, memory_mb=settings.parse_memory_mb
        )
    )


# Files up to this size may be taken by the app's second worker thread, so a photo or a note
# is indexed beside a long PDF rather than after it (a 240 KB image once waited 87 s).
SMALL_FILE_BYTES = 2 * 1024 * 1024


def build_worker(
    runtime: Runtime, *, worker_id: str | None = None, small_files_only: bool = False
) -> Worker:
    """The worker for ``runtime``; ``small_files_only``: one that takes only files up to
    SMALL_FILE_BYTES, smallest first, and leaves re-embedding and backups to the main one."""
    settings = runtime.settings
    ingestor = Ingestor(
        runtime.catalog,
        runtime.store,
        runtime.models,
        thumbs_dir=runtime.thumbs_dir,
        limits=parse_limits(settings),
        job_limits=job_limits(settings),
        image_model_id=settings.image_model or None,
        sandbox=parse_sandbox(settings),
        files=runtime.files,
    )
    return Worker(
        runtime.catalog,
        ingestor,
        default_params=chunking_params(settings),
        worker_id=worker_id,
        lease_seconds=settings.lease_seconds,
        poll_seconds=settings.worker_poll_seconds,
        reembedder=None if small_files_only else build_reembedder(runtime),
        backups=None if small_files_only else catalog_backups(settings),
        max_doc_bytes=SMALL_FILE_BYTES if small_files_only else None,
    )


def build_reembedder(runtime: Runtime) -> Reembedder:
    """Runs model-switch jobs on the runtime's model spaces."""
    return Reembedder(
        runtime.catalog,
        runtime.spaces,
        runtime.models,
        image_model_id=runtime.settings.image_model or None,
        batch_size=runtime.settings.reembed_batch_size,
        drop_grace_seconds=runtime.settings.reembed_drop_grace_seconds,
        pause_seconds=runtime.settings.reembed_pause_seconds,
    )


def app_workers(runtime: Runtime, cores: int | None = None) -> list[Worker]:
    """The app's workers: the main one, and on a machine of two or more cores a second one for
    small files (``cores``: how many the machine has, os.cpu_count() when None)."""
    workers = [build_worker(runtime, worker_id="app")]
    if (cores if cores is not None else os.cpu_count() or 1) >= 2:
        workers.append(build_worker(runtime, worker_id="app-small", small_files_only=True))
    return workers


class BackgroundWorker:
    """The app's own worker threads (embedded mode: the app is the one process owning the store).

    >>> BackgroundWorker(*app_workers(runtime)).start()
    """

    def __init__(self, worker: Worker, *helpers: Worker) -> None:
        self.worker = worker
        self.helpers = helpers
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=w.run_forever, args=(self._stop,), name=f"ingest-{w.worker_id}", daemon=True
            )
            for w in (worker, *helpers)
        ]

    def start(self) -> BackgroundWorker:
        for thread in self._threads:
            thread.start()
        return self

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
