"""How many texts the text embedder gives its model at a time."""

from __future__ import annotations

import pytest

from ragcore.models.resolver import Resolved
from ragcore.models.text import SentenceTransformerEmbedder
from ragcore.settings import Settings


def test_texts_are_embedded_in_small_batches_on_a_cpu_and_large_ones_elsewhere() -> None:
    resolved = Resolved("m", "/nowhere", "folder")  # nothing loads until a text is embedded
    assert SentenceTransformerEmbedder(resolved).batch_size == 8
    assert SentenceTransformerEmbedder(resolved, device="cuda").batch_size == 64
    assert SentenceTransformerEmbedder(resolved, batch_size=32).batch_size == 32
    with pytest.raises(ValueError, match="batch_size"):
        SentenceTransformerEmbedder(resolved, batch_size=0)


def test_the_batch_setting_is_unset_unless_a_person_sets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RAG_EMBED_BATCH_SIZE", raising=False)
    assert Settings().embed_batch_size is None
    monkeypatch.setenv("RAG_EMBED_BATCH_SIZE", "16")
    assert Settings().embed_batch_size == 16
