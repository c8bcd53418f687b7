"""A real sentence-transformers embedder used from two threads at once: one encodes batches of
passages of unequal lengths while the other counts tokens (what the app's two ingestion
threads do). The shared Rust tokenizer's padding settings once broke such a batch."""

from __future__ import annotations

import threading

import pytest

from ragcore.models.resolver import Resolved
from ragcore.models.text import SentenceTransformerEmbedder
from tests.tiny_text import tiny_text_model

pytestmark = pytest.mark.integration

ROUNDS = 60


def test_encoding_and_counting_tokens_from_two_threads_do_not_break_each_other(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tiny_text_model(tmp_path_factory, "prompted")
    embedder = SentenceTransformerEmbedder(
        Resolved(str(folder), str(folder), "folder"), batch_size=8
    )
    embedder.warm_up()
    passages = [("word " * (3 + 7 * i)).strip() for i in range(16)]
    page = "A page of text counted in tokens, longer than any one chunk. " * 40
    expected_spans = embedder.tokenizer.spans(page)
    errors: list[BaseException] = []
    shapes: list[tuple[int, ...]] = []
    spans_seen: list[int] = []

    def encode() -> None:
        try:
            for _ in range(ROUNDS):
                shapes.append(embedder.embed_passages(passages).shape)
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)

    def count() -> None:
        try:
            for _ in range(ROUNDS * 4):
                spans_seen.append(len(embedder.tokenizer.spans(page)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=encode), threading.Thread(target=count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert shapes == [(len(passages), embedder.dim)] * ROUNDS
    assert spans_seen == [len(expected_spans)] * (ROUNDS * 4)
