"""What the app, ingestion and benches ask of a catalog, whichever database holds it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol, Self

from ragcore.catalog.collections import CollectionRecord
from ragcore.catalog.conversations import Conversation, TurnRow
from ragcore.catalog.records import ChunkRow, DocumentRecord, JobKind, JobRecord
from ragcore.catalog.spaces import SpaceRecord
from ragcore.catalog.status import CatalogStatus
from ragcore.types import Chunk


class CatalogBackend(Protocol):
    """Documents, chunks with keyword (BM25) search, model spaces, jobs, conversations and
    collections.

    Two implementations: ``Catalog`` (one SQLite file, the default) and ``PostgresCatalog``
    (server mode, shared by app replicas and workers on several hosts). ``open_catalog``
    picks one from settings. Both pass ``tests/ragcore/test_catalog_contract.py``.

    Maintenance of the SQLite file itself (quick_check, backup_to) stays on ``Catalog``: on
    PostgreSQL the server owns storage integrity and backups (checksums, pg_dump, archiving), so
    those calls have no counterpart here. `ingest check`'s comparisons of each backend's own
    bookkeeping (its keyword index against its chunks) are ``integrity.CatalogIntegrity``.

    Example::

        catalog: CatalogBackend = open_catalog(settings)
        doc, created = catalog.upsert_document(DocumentRecord(id=sha, name="a.pdf", ...))
        catalog.enqueue(doc.id, JobKind.INGEST)
        hits = catalog.bm25_search("warranty period", limit=20)
    """

    max_attempts: int

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def status(self) -> CatalogStatus:
        """Backend, engine version, pool use and queue depth, for the System view."""
        ...

    # ── documents and chunks ─────────────────────────────────────

    def upsert_document(self, doc: DocumentRecord) -> tuple[DocumentRecord, bool]: ...

    def get_document(self, doc_id: str) -> DocumentRecord | None: ...

    def list_documents(self) -> list[DocumentRecord]: ...

    def set_document_status(
        self, doc_id: str, status: str, *, error: str | None = None, **fields: object
    ) -> None: ...

    def replace_chunks(
        self,
        doc_id: str,
        chunks: Sequence[Chunk],
        *,
        embed_model: str,
        stats: Mapping[str, object],
        embed_fingerprint: str = "",
        space: str | None = None,
    ) -> None: ...

    def delete_document(self, doc_id: str) -> bool: ...

    def chunks(self, doc_id: str | None = None) -> list[ChunkRow]: ...

    def chunks_by_point_ids(self, point_ids: Sequence[str]) -> dict[str, ChunkRow]: ...

    def document_names(self, doc_ids: Sequence[str]) -> dict[str, str]: ...

    def counts(self) -> dict[str, int]: ...

    def bm25_search(
        self,
        query: str,
        *,
        limit: int,
        doc_ids: Sequence[str] | None = None,
        collection: int | None = None,
    ) -> list[tuple[ChunkRow, float]]: ...

    # ── jobs ─────────────────────────────────────────────────────

    def enqueue(
        self, doc_id: str, kind: str = JobKind.INGEST, params: Mapping[str, object] | None = None
    ) -> JobRecord: ...

    def claim_job(
        self,
        worker_id: str,
        *,
        lease_seconds: float,
        kinds: Sequence[str] | None = None,
        ids: Collection[int] | None = None,
        max_doc_bytes: int | None = None,
    ) -> JobRecord | None: ...

    def heartbeat(
        self, job_id: int, worker_id: str, *, stage: str, progress: float, lease_seconds: float
    ) -> bool: ...

    def finish_job(self, job_id: int, worker_id: str) -> bool: ...

    def fail_job(self, job_id: int, worker_id: str, error: str) -> bool: ...

    def cancel_jobs(self, doc_id: str) -> int: ...

    def get_job(self, job_id: int) -> JobRecord | None: ...

    def jobs(
        self, *, doc_id: str | None = None, active_only: bool = False, limit: int = 200
    ) -> list[JobRecord]: ...

    # ── model spaces ─────────────────────────────────────────────

    def spaces(self) -> list[SpaceRecord]: ...

    def get_space(self, name: str) -> SpaceRecord | None: ...

    def active_space(self) -> SpaceRecord | None: ...

    def pending_space(self) -> SpaceRecord | None: ...

    def ensure_active_space(self, space: SpaceRecord) -> SpaceRecord: ...

    def begin_space(self, space: SpaceRecord) -> SpaceRecord: ...

    def update_space(self, name: str, **values: object) -> None: ...

    def chunks_version(self) -> int: ...

    def chunks_snapshot(self) -> tuple[int, list[ChunkRow]]: ...

    def switch_space(self, name: str, *, expected_version: int) -> bool: ...

    def embedding_usage(self) -> dict[tuple[str, str], tuple[int, int]]: ...

    def document_embeddings(self) -> list[tuple[str, str, str]]: ...

    # ── collections ──────────────────────────────────────────────

    def create_collection(self, name: str) -> CollectionRecord: ...

    def ensure_collection(self, name: str) -> CollectionRecord: ...

    def get_collection(self, name_or_id: str | int) -> CollectionRecord | None: ...

    def require_collection(self, name_or_id: str | int) -> CollectionRecord: ...

    def collections(self) -> list[CollectionRecord]: ...

    def rename_collection(self, name: str, new_name: str) -> CollectionRecord: ...

    def delete_collection(self, name: str) -> list[str]: ...

    def add_to_collection(self, collection_id: int, doc_ids: Sequence[str]) -> list[str]: ...

    def remove_from_collection(self, collection_id: int, doc_ids: Sequence[str]) -> list[str]: ...

    def collection_ids_of(self, doc_id: str) -> tuple[int, ...]: ...

    def memberships(self, doc_ids: Sequence[str] | None = None) -> dict[str, tuple[int, ...]]: ...

    # ── conversations ────────────────────────────────────────────

    def create_conversation(
        self, session_id: str, title: str = "", *, user_id: str | None = None
    ) -> Conversation: ...

    def conversations(self, session_id: str) -> list[Conversation]: ...

    def get_conversation(self, session_id: str, conversation_id: int) -> Conversation: ...

    def rename_conversation(
        self, session_id: str, conversation_id: int, title: str
    ) -> Conversation: ...

    def delete_conversation(self, session_id: str, conversation_id: int) -> bool: ...

    def append_turn(self, session_id: str, conversation_id: int, turn: TurnRow) -> TurnRow: ...

    def turns(self, session_id: str, conversation_id: int) -> list[TurnRow]: ...

    def set_turn_feedback(
        self, session_id: str, conversation_id: int, position: int, feedback: int | None
    ) -> None: ...
