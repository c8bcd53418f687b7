"""The evidence picker's passage cache: same vectors as the model, each text embedded once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from ragcore.models.base import Vectors
from ragcore.models.cached import CachedPassages
from ragcore.testing.embedders import HashingEmbedder


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.embedded.extend(texts)
        return super().embed_passages(texts)


def test_vectors_equal_the_models_and_each_text_is_embedded_once() -> None:
    inner = CountingEmbedder()
    cached = CachedPassages(inner)
    texts = ["The pump needs oil.", "Seals are replaced yearly.", "The pump needs oil."]
    first = cached.embed_passages(texts)
    assert np.allclose(first, inner.embed_passages(texts))
    inner.embedded.clear()
    again = cached.embed_passages(["Seals are replaced yearly.", "A new one."])
    assert inner.embedded == ["A new one."]
    assert np.allclose(again[0], first[1])
    assert cached.embed_passages([]).shape == (0, cached.dim)


def test_the_least_recently_used_text_leaves_first() -> None:
    inner = CountingEmbedder()
    cached = CachedPassages(inner, size=2)
    cached.embed_passages(["a b", "c d"])
    cached.embed_passages(["a b"])  # now the most recent
    cached.embed_passages(["e f"])  # evicts "c d"
    assert len(cached) == 2
    inner.embedded.clear()
    cached.embed_passages(["a b", "c d"])
    assert inner.embedded == ["c d"]


def test_queries_pass_through_and_a_bad_size_is_refused() -> None:
    inner = CountingEmbedder()
    cached = CachedPassages(inner)
    assert np.allclose(cached.embed_queries(["q"]), inner.embed_queries(["q"]))
    assert inner.embedded == [] and cached.model_id == inner.model_id
    with pytest.raises(ValueError, match="size must be >= 1"):
        CachedPassages(inner, size=0)
