"""Batched text import: the same chunks, points and catalog rows as the per-file path, fewer model calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.batch import ingest_texts
from ingest.chunking import chunk_pages
from ingest.writer import point_payload
from ragcore.models.provenance import fingerprint_of
from ragcore.runtime import Runtime
from ragcore.stores.base import DenseQuery, QueryLeg
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Fusion, Page, Strategy

PARAMS = ChunkingParams(Strategy.RECURSIVE, 12, 2)
TEXTS = {
    "d1": "Zero trust assumes no implicit trust. Each request is checked by the policy engine.",
    "d2": "Quokkaflux is a distinctive word. It appears only here, in the second document.",
    "d3": "Short.",
    "d4": "Continuous diagnostics feed the trust algorithm " * 6,
}


@pytest.fixture()
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "data", text=HashingEmbedder(dim=32))
    yield runtime
    runtime.close()


def docs(texts: dict[str, str]) -> list[tuple[str, str, str]]:
    return [(doc_id, f"{doc_id}.txt", text) for doc_id, text in texts.items()]


def test_every_document_is_ready_with_its_chunks_and_points(rt: Runtime) -> None:
    embedder = rt.models.text
    assert isinstance(embedder, HashingEmbedder)
    stats = ingest_texts(rt.catalog, rt.store, rt.models, docs(TEXTS), PARAMS, batch_size=4)
    expected = {
        d: chunk_pages(d, [Page(1, t)], PARAMS, embedder.tokenizer) for d, t in TEXTS.items()
    }
    assert stats.documents == 4
    assert stats.chunks == sum(len(c) for c in expected.values()) > 4
    assert stats.skipped == ()
    assert set(stats.seconds) == {"chunk", "embed", "write"}
    # Batches hold several documents' chunks: fewer model calls than documents.
    assert embedder.calls < stats.chunks
    for doc_id, chunks in expected.items():
        doc = rt.catalog.get_document(doc_id)
        assert doc is not None and doc.status == "ready" and doc.chunks == len(chunks)
        rows = rt.catalog.chunks(doc_id)
        assert [r.to_chunk() for r in rows] == chunks
        assert rt.store.count(doc_id) == len(chunks)
    hits = rt.catalog.bm25_search("quokkaflux", limit=3)
    assert [row.doc_id for row, _ in hits] == ["d2"]


def test_points_match_what_the_per_file_path_writes(rt: Runtime) -> None:
    ingest_texts(rt.catalog, rt.store, rt.models, docs({"d1": TEXTS["d1"]}), PARAMS)
    chunk = rt.catalog.chunks("d1")[0].to_chunk()
    stored = {p.id: p.payload for p in rt.store.scroll("d1")}
    assert stored[chunk.point_id] == point_payload(
        chunk, "d1.txt", PARAMS, rt.models.text.model_id, fingerprint=fingerprint_of(rt.models.text)
    )
    vector = rt.models.text.embed_queries([chunk.text])[0].tolist()
    best = rt.store.query(
        DenseQuery([QueryLeg("text", vector, 1)], fusion=Fusion.RRF, limit=1)
    ).fused[0]
    assert best.id == chunk.point_id
    assert best.score == pytest.approx(1.0, abs=1e-5)


def test_reimport_replaces_old_chunks_and_points(rt: Runtime) -> None:
    ingest_texts(rt.catalog, rt.store, rt.models, docs({"d4": TEXTS["d4"]}), PARAMS)
    before = rt.store.count("d4")
    ingest_texts(rt.catalog, rt.store, rt.models, docs({"d4": "Now a single short text."}), PARAMS)
    assert before > 1
    assert rt.store.count("d4") == len(rt.catalog.chunks("d4")) == 1


def test_empty_texts_are_skipped_and_named(rt: Runtime) -> None:
    stats = ingest_texts(
        rt.catalog, rt.store, rt.models, docs({"blank": "  \n ", "d3": TEXTS["d3"]}), PARAMS
    )
    assert stats.skipped == ("blank",)
    assert rt.catalog.get_document("blank") is None
    assert stats.documents == 1


def test_bad_input_is_refused_plainly(rt: Runtime) -> None:
    with pytest.raises(ValueError, match="batch_size must be > 0, got 0"):
        ingest_texts(rt.catalog, rt.store, rt.models, [], PARAMS, batch_size=0)
    with pytest.raises(ValueError, match="'d1' appears twice"):
        ingest_texts(rt.catalog, rt.store, rt.models, docs(TEXTS)[:1] + docs(TEXTS)[:1], PARAMS)
