"""Batched ingestion of plain texts: many documents' chunks embedded per model call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ingest.chunking import chunk_pages
from ingest.pipeline import collection_dims
from ingest.writer import ChunkWriter, DocumentWrite, MadeBy, chunk_point, document_stats
from ragcore.catalog import DocumentRecord, DocumentStatus
from ragcore.catalog.backend import CatalogBackend
from ragcore.models.loader import Models
from ragcore.spaces import distance_of
from ragcore.stores.base import VectorStore
from ragcore.types import TEXT_SPACE, Chunk, ChunkingParams, Page

# Chunks per embedding call: big enough that per-call overhead vanishes, small enough that a
# batch of long chunks stays well inside memory. The model sorts a batch by length itself.
BATCH_CHUNKS = 256

BatchProgress = Callable[[int, int], None]  # (documents written, chunks written)


@dataclass(frozen=True)
class BatchStats:
    """What one ``ingest_texts`` call did, and where its time went (seconds per stage)."""

    documents: int
    chunks: int
    skipped: tuple[str, ...]  # ids of documents with no text to index
    seconds: dict[str, float] = field(default_factory=dict)  # chunk, embed, write

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.total_seconds if self.total_seconds > 0 else 0.0


@dataclass
class _Pending:
    doc_id: str
    name: str
    size_bytes: int
    chunks: list[Chunk]


class _Batcher:
    """Collects chunked documents and writes them a batch at a time."""

    def __init__(
        self,
        catalog: CatalogBackend,
        store: VectorStore,
        models: Models,
        params: ChunkingParams,
        progress: BatchProgress,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.text_model = models.text
        self.params = params
        self.progress = progress
        self.pending: list[_Pending] = []
        self.pending_chunks = 0
        self.documents = 0
        self.chunks = 0
        self.seconds = {"chunk": 0.0, "embed": 0.0, "write": 0.0}

    def add(self, doc: _Pending) -> None:
        self.pending.append(doc)
        self.pending_chunks += len(doc.chunks)

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending, self.pending_chunks = self.pending, [], 0
        chunks = [c for doc in batch for c in doc.chunks]

        t0 = time.perf_counter()
        vectors = self.text_model.embed_passages([c.text for c in chunks])
        self.seconds["embed"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        made_by = MadeBy.of(self.text_model)
        stats = document_stats(self.params, mime="text/plain", pages=1, pages_without_text=0)
        writes = []
        offset = 0
        for doc in batch:
            _, created = self.catalog.upsert_document(
                DocumentRecord(
                    id=doc.doc_id,
                    name=doc.name,
                    mime="text/plain",
                    size_bytes=doc.size_bytes,
                    path="",  # imported text has no uploaded file behind it
                    status=DocumentStatus.PROCESSING,
                )
            )
            points = [
                chunk_point(
                    c, file_name=doc.name, params=self.params, made_by=made_by, text=vec.tolist()
                )
                for c, vec in zip(
                    doc.chunks, vectors[offset : offset + len(doc.chunks)], strict=True
                )
            ]
            offset += len(doc.chunks)
            # Re-importing drops the old points first: a shorter text may have fewer chunks.
            writes.append(
                DocumentWrite(
                    doc.doc_id, tuple(doc.chunks), tuple(points), stats, clear=not created
                )
            )
        ChunkWriter(self.catalog, self.store, made_by).write(writes)
        self.seconds["write"] += time.perf_counter() - t0
        self.documents += len(batch)
        self.chunks += len(chunks)
        self.progress(self.documents, self.chunks)


def ingest_texts(
    catalog: CatalogBackend,
    store: VectorStore,
    models: Models,
    docs: Iterable[tuple[str, str, str]],
    params: ChunkingParams,
    *,
    batch_size: int = BATCH_CHUNKS,
    image_model_id: str | None = None,
    progress: BatchProgress | None = None,
) -> BatchStats:
    """Chunk, embed and write ``(doc_id, name, text)`` documents, ``batch_size`` chunks per model call.

    The same pieces as the per-file Ingestor (chunk_pages, the text embedder, point payloads,
    store upsert, catalog replace_chunks), without parsing and without one model call per
    document, which dominates for thousands of short texts. Each text is one page. A document
    already in the catalog is re-indexed; texts with nothing to index are skipped and listed.

    >>> stats = ingest_texts(catalog, store, models, [("d1", "a.txt", "Some text.")], params)
    >>> stats.documents, stats.chunks
    (1, 1)
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    batcher = _Batcher(catalog, store, models, params, progress or (lambda docs, chunks: None))
    store.ensure_collection(
        collection_dims(models, image_model_id), {TEXT_SPACE: distance_of(models.text)}
    )
    tokenizer = batcher.text_model.tokenizer
    skipped: list[str] = []
    seen: set[str] = set()
    for doc_id, name, text in docs:
        if doc_id in seen:
            raise ValueError(f"document id {doc_id!r} appears twice in one import")
        seen.add(doc_id)
        t0 = time.perf_counter()
        chunks = chunk_pages(doc_id, [Page(1, text)], params, tokenizer)
        batcher.seconds["chunk"] += time.perf_counter() - t0
        if not chunks:
            skipped.append(doc_id)
            continue
        batcher.add(_Pending(doc_id, name, len(text.encode("utf-8")), chunks))
        if batcher.pending_chunks >= batch_size:
            batcher.flush()
    batcher.flush()
    return BatchStats(
        documents=batcher.documents,
        chunks=batcher.chunks,
        skipped=tuple(skipped),
        seconds={k: round(v, 4) for k, v in batcher.seconds.items()},
    )
