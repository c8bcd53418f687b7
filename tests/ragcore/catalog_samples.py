"""Documents, chunks and a hand-moved clock for the catalog tests (both backends and SQLite's own)."""

from __future__ import annotations

from ragcore.catalog import DocumentRecord
from ragcore.catalog.backend import CatalogBackend
from ragcore.types import Chunk, ChunkKind


class FakeClock:
    """A clock the test moves by hand, so lease expiry needs no sleeping."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_doc(doc_id: str = "doc-a", name: str = "a.txt", size: int = 123) -> DocumentRecord:
    return DocumentRecord(
        id=doc_id, name=name, mime="text/plain", size_bytes=size, path=f"/uploads/{doc_id}"
    )


def make_chunks(doc_id: str, texts: list[str], *, image_at: int | None = None) -> list[Chunk]:
    """One chunk per text, laid end to end on page 1 (offsets consistent with the page text)."""
    chunks: list[Chunk] = []
    start = 0
    for no, text in enumerate(texts):
        is_image = no == image_at
        chunks.append(
            Chunk(
                doc_id=doc_id,
                chunk_no=no,
                page=1,
                start=start,
                end=start + len(text),
                text=text,
                kind=ChunkKind.IMAGE if is_image else ChunkKind.TEXT,
                image_index=0 if is_image else None,
            )
        )
        start += len(text) + 1
    return chunks


def add_ready_doc(catalog: CatalogBackend, doc_id: str, texts: list[str]) -> None:
    """``doc_id`` added and made ready with one chunk per text."""
    catalog.upsert_document(make_doc(doc_id, f"{doc_id}.txt"))
    catalog.replace_chunks(
        doc_id, make_chunks(doc_id, texts), embed_model="hash-384", stats={"pages": 1}
    )
