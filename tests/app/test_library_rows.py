"""The library table's counts: text chunks and image chunks are counted once each."""

from __future__ import annotations

from pathlib import Path

from app import render
from ragcore.catalog import Catalog, DocumentRecord
from ragcore.types import Chunk, ChunkKind


def _doc(catalog: Catalog, doc_id: str, name: str, texts: int, images: int) -> None:
    catalog.upsert_document(
        DocumentRecord(id=doc_id, name=name, mime="", size_bytes=10, path=f"/x/{name}")
    )
    chunks = [
        Chunk(doc_id=doc_id, chunk_no=i, page=1, start=0, end=4, text="text") for i in range(texts)
    ]
    chunks += [
        Chunk(
            doc_id=doc_id,
            chunk_no=texts + i,
            page=1,
            start=0,
            end=0,
            text="caption",
            kind=ChunkKind.IMAGE,
            image_index=i,
        )
        for i in range(images)
    ]
    catalog.replace_chunks(doc_id, chunks, embed_model="testing/hashing", stats={"pages": 1})


def test_chunks_column_counts_text_chunks_and_images_apart(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    try:
        _doc(catalog, "a" * 64, "photo.png", texts=0, images=1)
        _doc(catalog, "b" * 64, "paper.pdf", texts=282, images=12)
        rows = {r["name"]: r for r in render.document_rows(catalog.list_documents())}
    finally:
        catalog.close()
    assert (rows["photo.png"]["chunks"], rows["photo.png"]["images"]) == (0, 1)
    assert (rows["paper.pdf"]["chunks"], rows["paper.pdf"]["images"]) == (282, 12)


def test_collections_column_lists_names_or_a_dash(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    try:
        _doc(catalog, "a" * 64, "photo.png", texts=0, images=1)
        _doc(catalog, "b" * 64, "paper.pdf", texts=3, images=0)
        docs = catalog.list_documents()
        plain = render.document_rows(docs)
        rows = {r["name"]: r for r in render.document_rows(docs, {"b" * 64: ["Archive", "Papers"]})}
    finally:
        catalog.close()
    assert all("collections" not in r for r in plain)  # a column only when names are given
    assert rows["paper.pdf"]["collections"] == "Archive, Papers"
    assert rows["photo.png"]["collections"] == "—"
