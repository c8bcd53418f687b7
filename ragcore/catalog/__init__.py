"""The document catalog: documents, chunks with a BM25 keyword index, and the job queue (SQLite)."""

from __future__ import annotations

from ragcore.catalog.collections import (
    CollectionExists,
    CollectionNotFound,
    CollectionRecord,
    CollectionsMixin,
)
from ragcore.catalog.conversations import (
    Conversation,
    ConversationNotFound,
    ConversationsMixin,
    TurnRow,
)
from ragcore.catalog.documents import DocumentNotFound, DocumentsMixin
from ragcore.catalog.fts import sanitize_fts_query
from ragcore.catalog.jobs import JobsMixin
from ragcore.catalog.records import (
    DOCUMENT_STATUSES,
    JOB_KINDS,
    JOB_STAGES,
    JOB_STATUSES,
    ChunkRow,
    DocumentRecord,
    DocumentStatus,
    JobKind,
    JobRecord,
    JobStage,
    JobStatus,
)
from ragcore.catalog.spaces import (
    SpaceBusy,
    SpaceChanged,
    SpaceRecord,
    SpacesMixin,
    SpaceStatus,
)


class Catalog(DocumentsMixin, JobsMixin, SpacesMixin, ConversationsMixin, CollectionsMixin):
    """One SQLite file (WAL): documents, chunks + FTS5 index, jobs, conversations, collections.

    Safe to share between threads (one connection behind a lock) and to open from several
    processes at once (every multi-step write is one ``BEGIN IMMEDIATE`` transaction).

    Example::

        catalog = Catalog(data_dir / "catalog.sqlite3")
        doc, created = catalog.upsert_document(DocumentRecord(id=sha, name="a.pdf", ...))
        catalog.enqueue(doc.id, JobKind.INGEST)
        job = catalog.claim_job("worker-1", lease_seconds=60)  # in the worker
        hits = catalog.bm25_search("warranty period", limit=20)
    """


__all__ = [
    "DOCUMENT_STATUSES",
    "JOB_KINDS",
    "JOB_STAGES",
    "JOB_STATUSES",
    "Catalog",
    "ChunkRow",
    "CollectionExists",
    "CollectionNotFound",
    "CollectionRecord",
    "Conversation",
    "ConversationNotFound",
    "DocumentNotFound",
    "DocumentRecord",
    "DocumentStatus",
    "JobKind",
    "JobRecord",
    "JobStage",
    "JobStatus",
    "SpaceBusy",
    "SpaceChanged",
    "SpaceRecord",
    "SpaceStatus",
    "TurnRow",
    "sanitize_fts_query",
]
