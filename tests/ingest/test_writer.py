"""The one chunk write path: points and chunks of whole documents, the store first, then the catalog."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ingest.writer import ChunkWriter, DocumentWrite, MadeBy, chunk_point, document_stats
from ragcore.catalog import DocumentRecord, DocumentStatus
from ragcore.runtime import Runtime
from ragcore.testing.runtime import make_runtime
from ragcore.types import TEXT_SPACE, Chunk, ChunkingParams, Point

PARAMS = ChunkingParams()
MADE_BY = MadeBy("hash-64", "f00d")


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "data", image_model="")
    runtime.store.ensure_collection({TEXT_SPACE: 64})
    yield runtime
    runtime.close()


def document(rt: Runtime, doc_id: str, texts: Sequence[str]) -> DocumentWrite:
    rt.catalog.upsert_document(
        DocumentRecord(id=doc_id, name=f"{doc_id}.txt", mime="text/plain", size_bytes=1, path="")
    )
    chunks = tuple(
        Chunk(doc_id=doc_id, chunk_no=i, page=1, start=0, end=len(t), text=t)
        for i, t in enumerate(texts)
    )
    vectors = rt.models.text.embed_passages(list(texts))
    points = tuple(
        chunk_point(c, file_name=f"{doc_id}.txt", params=PARAMS, made_by=MADE_BY, text=v.tolist())
        for c, v in zip(chunks, vectors, strict=True)
    )
    stats = document_stats(PARAMS, mime="text/plain", pages=1, pages_without_text=0)
    return DocumentWrite(doc_id, chunks, points, stats)


def test_documents_are_written_to_the_store_and_listed_by_the_catalog(rt: Runtime) -> None:
    docs = [document(rt, "d1", ["one", "two", "three"]), document(rt, "d2", ["four"])]
    progress: list[tuple[int, int]] = []
    ChunkWriter(rt.catalog, rt.store, MADE_BY).write(docs, lambda *p: progress.append(p))
    assert progress == [(4, 4)]
    assert (rt.store.count("d1"), rt.store.count("d2")) == (3, 1)
    rows = rt.catalog.chunks("d1")
    assert [r.text for r in rows] == ["one", "two", "three"]
    assert {(r.embed_model, r.embed_fingerprint) for r in rows} == {("hash-64", "f00d")}
    doc = rt.catalog.get_document("d1")
    assert doc is not None and doc.status == DocumentStatus.READY and doc.chunks == 3
    payload = next(iter(rt.store.scroll("d2"))).payload
    assert (payload["file_name"], payload["embed_fingerprint"]) == ("d2.txt", "f00d")


def test_a_shorter_text_written_again_leaves_no_old_points(rt: Runtime) -> None:
    writer = ChunkWriter(rt.catalog, rt.store, MADE_BY)
    writer.write([document(rt, "d1", ["one", "two", "three"])])
    writer.write([document(rt, "d1", ["only one"])])
    assert rt.store.count("d1") == 1
    assert [r.text for r in rt.catalog.chunks("d1")] == ["only one"]


class RefusingStore:
    """The runtime's store, whose writes fail (a full disk, a server gone)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def upsert(self, points: Sequence[Point]) -> None:
        raise OSError("no space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_the_catalog_never_lists_chunks_whose_points_were_not_written(rt: Runtime) -> None:
    doc = document(rt, "d1", ["one", "two"])
    with pytest.raises(OSError):
        ChunkWriter(rt.catalog, RefusingStore(rt.store), MADE_BY).write([doc])  # type: ignore[arg-type]
    assert rt.catalog.chunks("d1") == []
    assert rt.catalog.get_document("d1").status == DocumentStatus.QUEUED  # type: ignore[union-attr]


def test_a_write_refuses_chunks_of_another_document(rt: Runtime) -> None:
    other = document(rt, "d2", ["stray"])
    with pytest.raises(ValueError, match="d2"):
        DocumentWrite("d1", other.chunks, other.points, other.stats)
