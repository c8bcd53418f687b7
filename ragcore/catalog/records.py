"""Rows of the catalog as frozen dataclasses, and the values their status columns may take."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from enum import StrEnum

from ragcore.types import Chunk, ChunkKind

# The values are the strings the catalog stores: renaming one needs a migration.


class DocumentStatus(StrEnum):
    """Where a document is: waiting for the worker, being ingested, searchable, or not."""

    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class JobKind(StrEnum):
    """What a job does: ingest a new document, ingest one again, delete one, re-embed all."""

    INGEST = "ingest"
    REINDEX = "reindex"
    DELETE = "delete"
    REEMBED = "reembed"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobStage(StrEnum):
    """The step a running job reports, in order."""

    QUEUED = "queued"
    PARSING = "parsing"
    CHUNKING = "chunking"
    EMBEDDING = "embedding"
    WRITING = "writing"
    DONE = "done"


DOCUMENT_STATUSES = tuple(DocumentStatus)
JOB_KINDS = tuple(JobKind)
JOB_STATUSES = tuple(JobStatus)
ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
JOB_STAGES = tuple(JobStage)


def check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    """Raise ValueError naming the bad value and the allowed ones."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


@dataclass(frozen=True)
class DocumentRecord:
    """One uploaded document; ``id`` is the sha256 hex of its content, so re-uploads dedupe.

    Example::

        DocumentRecord(id=sha256_hex, name="report.pdf", mime="application/pdf",
                       size_bytes=1234, path=f"/data/uploads/{sha256_hex}.pdf")
    """

    id: str
    name: str
    mime: str
    size_bytes: int
    path: str
    pages: int = 0
    pages_without_text: int = 0
    chunks: int = 0
    images: int = 0
    status: DocumentStatus = DocumentStatus.QUEUED
    error: str | None = None
    strategy: str | None = None
    chunk_size: int | None = None
    overlap: int | None = None
    embed_model: str | None = None
    pages_ocr: int = 0  # pages whose text was read by OCR
    warnings: str = ""  # what parsing warned of, one warning a line
    created_at: float = 0.0  # set by the catalog when the row is inserted
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a document needs a non-empty id (the sha256 of its content)")
        if self.size_bytes < 0:
            raise ValueError(f"size_bytes must be >= 0, got {self.size_bytes}")
        check_choice("document status", self.status, DOCUMENT_STATUSES)
        # A name read from the catalog (or given as a string) becomes the member.
        object.__setattr__(self, "status", DocumentStatus(self.status))

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DocumentRecord:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class ChunkRow:
    """A chunk as the catalog stores it: where it sits in its document, and its text."""

    rowid: int
    doc_id: str
    chunk_no: int
    point_id: str
    page: int
    start: int
    end: int
    kind: ChunkKind
    section: str
    image_index: int | None
    text: str
    embed_model: str
    embed_fingerprint: str = ""  # which weights of embed_model made its vector
    location: str | None = None  # None: stored before chunks had locations
    ocr_confidence: float | None = None  # set when the chunk's page was read by OCR

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ChunkRow:
        return cls(
            rowid=row["rowid"],
            doc_id=row["doc_id"],
            chunk_no=row["chunk_no"],
            point_id=row["point_id"],
            page=row["page"],
            start=row["start"],
            end=row["end"],
            kind=ChunkKind(row["kind"]),
            section=row["section"],
            image_index=row["image_index"],
            text=row["text"],
            embed_model=row["embed_model"],
            embed_fingerprint=row["embed_fingerprint"],
            location=row["location"],
            ocr_confidence=row["ocr_confidence"],
        )

    def to_chunk(self) -> Chunk:
        return Chunk(
            doc_id=self.doc_id,
            chunk_no=self.chunk_no,
            page=self.page,
            start=self.start,
            end=self.end,
            text=self.text,
            kind=self.kind,
            section=self.section,
            image_index=self.image_index,
            location=self.location or "",
            ocr_confidence=self.ocr_confidence,
        )


@dataclass(frozen=True)
class JobRecord:
    """A unit of work for the ingestion worker, leased to one worker at a time."""

    id: int
    doc_id: str
    kind: JobKind
    params: dict[str, object] = field(default_factory=dict)
    status: JobStatus = JobStatus.QUEUED
    stage: JobStage = JobStage.QUEUED
    progress: float = 0.0
    error: str | None = None
    worker_id: str | None = None
    lease_until: float | None = None
    attempts: int = 0  # how many times a worker has claimed it
    created_at: float = 0.0
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        check_choice("job kind", self.kind, JOB_KINDS)
        check_choice("job status", self.status, JOB_STATUSES)
        check_choice("job stage", self.stage, JOB_STAGES)
        # Names read from the catalog (or given as strings) become the members.
        object.__setattr__(self, "kind", JobKind(self.kind))
        object.__setattr__(self, "status", JobStatus(self.status))
        object.__setattr__(self, "stage", JobStage(self.stage))

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["params"] = json.loads(values["params"] or "{}")
        values["progress"] = float(values["progress"])
        return cls(**values)
