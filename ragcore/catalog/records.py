"""Rows of the catalog as frozen dataclasses, and the values their status columns may take."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Protocol

from ragcore.types import Chunk, ChunkKind, Evidence, Hit


class Row(Protocol):
    """A row as either database driver returns it: ``sqlite3.Row`` or psycopg's dict row."""

    def __getitem__(self, key: str, /) -> Any: ...


def _named(cls: type, row: Row) -> dict[str, Any]:
    # Every field is a column of the same name.
    return {f.name: row[f.name] for f in fields(cls)}


def _json(value: Any) -> Any:
    # SQLite keeps a JSON column as text; PostgreSQL's JSONB arrives parsed.
    return json.loads(value) if isinstance(value, str) else value


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


class SpaceStatus(StrEnum):
    """A model space's state."""

    ACTIVE = "active"
    BUILDING = "building"
    RETIRED = "retired"
    DROPPED = "dropped"
    CANCELLED = "cancelled"
    FAILED = "failed"


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
SPACE_STATUSES = tuple(SpaceStatus)


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
    def from_row(cls, row: Row) -> DocumentRecord:
        return cls(**_named(cls, row))


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
    def from_row(cls, row: Row) -> ChunkRow:
        """``row`` has a ``rowid`` column (PostgreSQL's chunk id is selected under that name)."""
        values = _named(cls, row)
        values["kind"] = ChunkKind(values["kind"])
        return cls(**values)

    def to_hit(self, file_name: str, evidence: Evidence | None = None) -> Hit:
        """The chunk as a passage shown for an answer, with why it was retrieved (if it was)."""
        return Hit(
            point_id=self.point_id,
            doc_id=self.doc_id,
            file_name=file_name,
            page=self.page,
            chunk_no=self.chunk_no,
            start=self.start,
            end=self.end,
            kind=ChunkKind(self.kind),
            text=self.text,
            evidence=evidence or Evidence(),
            section=self.section or "",
            image_index=self.image_index,
            location=self.location or "",
            ocr_confidence=self.ocr_confidence,
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
    def from_row(cls, row: Row) -> JobRecord:
        values = _named(cls, row)
        values["params"] = dict(_json(values["params"]) if values["params"] else {})
        values["progress"] = float(values["progress"])
        return cls(**values)


@dataclass(frozen=True)
class SpaceRecord:
    """One model space: a collection holding one text model's vectors (and the image vectors).

    ``status``: active (answers questions), building (a re-embed is filling it), retired (was
    active, its collection is about to be dropped), dropped, cancelled, failed.
    """

    name: str  # the collection
    model_id: str
    fingerprint: str
    dim: int
    distance: str = "cosine"
    image_dim: int | None = None
    status: SpaceStatus = SpaceStatus.BUILDING
    job_id: int | None = None
    note: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a model space needs a collection name")
        if self.dim <= 0:
            raise ValueError(f"a model space needs a dimension > 0, got {self.dim}")
        check_choice("space status", self.status, SPACE_STATUSES)
        object.__setattr__(self, "status", SpaceStatus(self.status))

    @classmethod
    def from_row(cls, row: Row) -> SpaceRecord:
        return cls(**_named(cls, row))


@dataclass(frozen=True)
class Conversation:
    """One conversation of a browser session; ``title`` is "" until its first question."""

    id: int
    session_id: str
    title: str
    created_at: float
    updated_at: float
    user_id: str | None = None  # no accounts yet: always None for now

    @classmethod
    def from_row(cls, row: Row) -> Conversation:
        return cls(**_named(cls, row))


@dataclass(frozen=True)
class TurnRow:
    """A stored turn as plain values: the JSON columns parsed, nothing interpreted."""

    question: str
    standalone_question: str | None = None
    answer_text: str = ""
    mode: str | None = None  # None: no answer (an error, or stopped before the model wrote)
    sources: list[dict[str, Any]] = field(default_factory=list)
    citations: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    llm: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    stopped: bool = False
    draft: str = ""
    edited: bool = False
    feedback: int | None = None  # 1 thumbs up, -1 thumbs down
    position: int = -1  # set by the catalog
    created_at: float = 0.0

    @classmethod
    def from_row(cls, row: Row) -> TurnRow:
        values = _named(cls, row)
        for name in ("sources", "citations", "detail", "timings"):
            values[name] = _json(values[name])
        # SQLite stores booleans as 0 and 1.
        values["stopped"] = bool(values["stopped"])
        values["edited"] = bool(values["edited"])
        return cls(**values)


@dataclass(frozen=True)
class CollectionRecord:
    """A collection and how many documents it holds now."""

    id: int  # never reused, so a deleted collection's id left in a payload matches nothing
    name: str
    documents: int
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> CollectionRecord:
        # ``documents`` is a count() column; int() and float() give one type from either driver.
        return cls(
            id=int(row["id"]),
            name=row["name"],
            documents=int(row["documents"]),
            created_at=float(row["created_at"]),
        )
