"""The one way chunks reach the index: points from chunks and vectors, the store first, then the catalog."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ragcore.catalog.backend import CatalogBackend
from ragcore.collections import PAYLOAD_KEY, relabel, with_collections
from ragcore.models.base import TextEmbedder
from ragcore.models.provenance import fingerprint_of
from ragcore.stores.base import VectorStore
from ragcore.types import IMAGE_SPACE, TEXT_SPACE, Chunk, ChunkingParams, Point

# Points per upsert call; progress (which also renews a job's lease) is reported after each.
WRITE_BATCH = 256

WriteProgress = Callable[[int, int], None]  # (points written, points to write)


@dataclass(frozen=True)
class MadeBy:
    """Which text model made the vectors: stamped on every payload and catalog row.

    >>> MadeBy.of(models.text)
    MadeBy(model_id='sentence-transformers/all-MiniLM-L6-v2', fingerprint='3f2a…')
    """

    model_id: str
    fingerprint: str = ""  # which weights of model_id

    @classmethod
    def of(cls, text: TextEmbedder) -> MadeBy:
        return cls(text.model_id, fingerprint_of(text))


def point_payload(
    chunk: Chunk,
    file_name: str,
    params: ChunkingParams,
    model_id: str,
    *,
    fingerprint: str = "",
    collections: Sequence[int] = (),
) -> dict[str, object]:
    return {
        "doc_id": chunk.doc_id,
        "file_name": file_name,
        "page": chunk.page,
        "chunk_no": chunk.chunk_no,
        "kind": str(chunk.kind),
        "text": chunk.text,
        "start": chunk.start,
        "end": chunk.end,
        "section": chunk.section,
        "location": chunk.location,
        "image_index": chunk.image_index,
        "ocr_confidence": chunk.ocr_confidence,
        "strategy": str(params.strategy),
        "embed_model": model_id,
        "embed_fingerprint": fingerprint,  # which weights of embed_model made the vectors
        # The document's collection ids: ChunkWriter sets them from the catalog when it writes.
        PAYLOAD_KEY: sorted(collections),
    }


def chunk_point(
    chunk: Chunk,
    *,
    file_name: str,
    params: ChunkingParams,
    made_by: MadeBy,
    text: Sequence[float] | None = None,
    image: Sequence[float] | None = None,
) -> Point:
    """The store's point for ``chunk``: its text and/or image vector and its payload."""
    vectors: dict[str, list[float]] = {}
    if text is not None:
        vectors[TEXT_SPACE] = list(text)
    if image is not None:
        vectors[IMAGE_SPACE] = list(image)
    return Point(
        id=chunk.point_id,
        vectors=vectors,
        payload=point_payload(
            chunk, file_name, params, made_by.model_id, fingerprint=made_by.fingerprint
        ),
    )


def document_stats(
    params: ChunkingParams,
    *,
    mime: str,
    pages: int,
    pages_without_text: int,
    pages_ocr: int | None = None,
    warnings: Sequence[str] | None = None,
) -> dict[str, object]:
    """The document columns the catalog sets with its chunks; None leaves a column as it is."""
    stats: dict[str, object] = {
        "pages": pages,
        "pages_without_text": pages_without_text,
        "strategy": str(params.strategy),
        "chunk_size": params.chunk_size,
        "overlap": params.overlap,
        "mime": mime,
    }
    if pages_ocr is not None:
        stats["pages_ocr"] = pages_ocr
    if warnings is not None:
        stats["warnings"] = "\n".join(warnings)
    return stats


@dataclass(frozen=True)
class DocumentWrite:
    """One document's chunks and their points, ready to write, and its catalog columns.

    ``clear`` removes the document's old points first (a shorter text may have fewer chunks);
    a document new to the library skips it, since a filtered delete scans the local store.
    """

    doc_id: str
    chunks: tuple[Chunk, ...]
    points: tuple[Point, ...]
    stats: Mapping[str, object]
    clear: bool = True

    def __post_init__(self) -> None:
        strangers = sorted({c.doc_id for c in self.chunks} - {self.doc_id})
        if strangers:
            raise ValueError(f"chunks of {strangers} are in the write of document {self.doc_id!r}")


class ChunkWriter:
    """Writes documents' points to one store and their chunks to the catalog.

    The store first, then the catalog in one transaction per document: the catalog is the
    authority on what exists, so a crash in between leaves points the catalog does not list
    (found and removed by `ingest check --repair`), never catalog rows without vectors.

    >>> ChunkWriter(catalog, store, MadeBy.of(text), space="docqa").write([doc], progress)
    """

    def __init__(
        self,
        catalog: CatalogBackend,
        store: VectorStore,
        made_by: MadeBy,
        *,
        space: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.made_by = made_by
        # Given, the catalog refuses the chunks (SpaceChanged) once another space is active.
        self.space = space

    def write(self, docs: Sequence[DocumentWrite], progress: WriteProgress | None = None) -> None:
        for doc in docs:
            if doc.clear:
                self.store.delete_document(doc.doc_id)
        # Each point carries its document's collections, read now: a change made while the
        # points are written is caught up below, once the catalog lists the chunks.
        labels = self.catalog.memberships([doc.doc_id for doc in docs])
        points = [
            with_collections(p, labels.get(doc.doc_id, ())) for doc in docs for p in doc.points
        ]
        for start in range(0, len(points), WRITE_BATCH):
            end = min(start + WRITE_BATCH, len(points))
            self.store.upsert(points[start:end])
            if progress is not None:
                progress(end, len(points))
        for doc in docs:
            self.catalog.replace_chunks(
                doc.doc_id,
                doc.chunks,
                embed_model=self.made_by.model_id,
                embed_fingerprint=self.made_by.fingerprint,
                space=self.space,
                stats=doc.stats,
            )
        moved = self.catalog.memberships([doc.doc_id for doc in docs])
        for doc in docs:
            if moved.get(doc.doc_id, ()) != labels.get(doc.doc_id, ()):
                relabel(self.store, doc.doc_id, moved.get(doc.doc_id, ()))
