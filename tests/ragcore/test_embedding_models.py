"""Real (tiny, random) sentence-transformers models: prefixes once, dot distance, precision."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.service import build_worker
from ragcore import library
from ragcore.models.registry import BGE_QUERY_INSTRUCTION
from ragcore.models.resolver import Resolved
from ragcore.models.text import SentenceTransformerEmbedder
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.runtime import Runtime, build_runtime
from ragcore.settings import Settings
from ragcore.spaces import SpaceRouter
from ragcore.types import ChunkingParams, Strategy
from tests.tiny_text import tiny_text_model

pytestmark = pytest.mark.integration

DENSE = RetrievalConfig(mode="dense", rerank=False, use_image_leg=False)
PELICANS = (
    "Pelicans eat fish. They scoop fish from the water with the pouch under their bill. "
    "Brown pelicans dive from the air, white pelicans fish together in shallow lakes. "
) * 3


def runtime(tmp_path: Path, text_model: Path) -> Runtime:
    settings = Settings(
        data_dir=tmp_path / "data",
        store="embedded",
        text_model=str(text_model),
        image_model="",
        reranker_model="",
        local_llm=False,
        parse_sandbox=False,
    )
    return build_runtime(settings)


def record_model_inputs(
    embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, Any]]:
    """What the transformer module is given: each text, and any prompt sentence-transformers adds."""
    seen: list[tuple[str, Any]] = []
    module = embedder.model[0]
    original: Callable[..., Any] = module.preprocess

    def preprocess(inputs: list[str], *args: Any, **kwargs: Any) -> Any:
        seen.extend((text, kwargs.get("prompt")) for text in inputs)
        return original(inputs, *args, **kwargs)

    monkeypatch.setattr(module, "preprocess", preprocess)
    return seen


@pytest.fixture
def prompted_rt(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = runtime(tmp_path, tiny_text_model(tmp_path_factory, "prompted"))
    yield rt
    rt.close()


def test_prefixes_reach_the_model_exactly_once_at_ingest_and_query_time(
    prompted_rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = prompted_rt
    embedder = rt.models.text
    assert isinstance(embedder, SentenceTransformerEmbedder)
    # Read from the model's own config, since the registry does not know a folder.
    assert (embedder.facts.query_prefix, embedder.facts.passage_prefix) == ("query: ", "passage: ")
    seen = record_model_inputs(embedder, monkeypatch)
    source = tmp_path / "pelicans.txt"
    source.write_text(PELICANS)
    params = ChunkingParams(Strategy.RECURSIVE, 24, 4)
    library.add_file(rt.catalog, rt.settings.uploads_dir, source, params)
    build_worker(rt).run_until_idle()
    chunks = [r.text for r in rt.catalog.chunks()]
    assert len(chunks) > 2
    # Each chunk once, with the prefix once (the model sorts a batch by length: compare sorted).
    assert sorted(text for text, _ in seen) == sorted("passage: " + c for c in chunks)

    seen.clear()
    result = Retriever(rt.catalog, rt.store, rt.models).run("what do pelicans eat", DENSE)
    assert result.hits
    assert [text for text, _ in seen] == ["query: what do pelicans eat"]
    # sentence-transformers added no prompt of its own (its config's default is "query").
    assert all(not prompt for _, prompt in seen)


@pytest.mark.parametrize(
    ("model_id", "query", "passage"),
    [
        ("intfloat/e5-small-v2", "query: ", "passage: "),
        ("BAAI/bge-small-en-v1.5", BGE_QUERY_INSTRUCTION, ""),
        ("sentence-transformers/all-MiniLM-L6-v2", "", ""),
    ],
)
def test_known_models_get_their_registry_prefixes(
    model_id: str,
    query: str,
    passage: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tiny_text_model(tmp_path_factory, "wide")  # 384 wide, as these three are
    embedder = SentenceTransformerEmbedder(Resolved(model_id, str(folder), "folder"))
    seen = record_model_inputs(embedder, monkeypatch)
    embedder.embed_queries(["how do tides make power"])
    embedder.embed_passages(["Tidal turbines turn with the current."])
    assert [text for text, _ in seen] == [
        query + "how do tides make power",
        passage + "Tidal turbines turn with the current.",
    ]


def test_a_dot_product_model_gets_a_dot_space_and_keeps_its_raw_vectors(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rt = runtime(tmp_path, tiny_text_model(tmp_path_factory, "dot"))
    try:
        source = tmp_path / "pelicans.txt"
        source.write_text(PELICANS)
        library.add_file(
            rt.catalog, rt.settings.uploads_dir, source, ChunkingParams(Strategy.FIXED, 20, 4)
        )
        (outcome,) = build_worker(rt).run_until_idle()
        assert outcome.ok, outcome.error
        router = rt.store
        assert isinstance(router, SpaceRouter)
        pinned = router.pin()
        assert pinned.space is not None and pinned.space.distance == "dot"
        assert pinned.store.distances() == {"text": "dot"}
        norms = [np.linalg.norm(p.vectors["text"]) for p in pinned.store.scroll_points()]
        assert norms and not np.allclose(norms, 1.0, atol=1e-3)
        # Scores are raw dot products, so the best hit's score is its vector's dot with the query.
        hit = Retriever(rt.catalog, rt.store, rt.models).run("pelicans fish", DENSE).hits[0]
        query = pinned.text.embed_queries(["pelicans fish"])[0]
        stored = next(p for p in pinned.store.scroll_points() if p.id == hit.point_id)
        assert hit.evidence.text_score == pytest.approx(
            float(np.dot(query, stored.vectors["text"])), rel=1e-4
        )
    finally:
        rt.close()


def test_half_precision_compute_still_stores_normalised_float32(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    import torch

    folder = tiny_text_model(tmp_path_factory, "prompted")
    full = SentenceTransformerEmbedder(Resolved(str(folder), str(folder), "folder"))
    half = SentenceTransformerEmbedder(
        Resolved(str(folder), str(folder), "folder"), precision="bfloat16"
    )
    texts = ["pelicans scoop fish", "tidal turbines turn with the current"]
    a, b = full.embed_passages(texts), half.embed_passages(texts)
    assert next(half.model.parameters()).dtype == torch.bfloat16
    assert b.dtype == np.float32
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-6)
    assert np.all(np.sum(a * b, axis=1) > 0.99)
    assert half.fingerprint == full.fingerprint  # same weights, whatever they compute in
