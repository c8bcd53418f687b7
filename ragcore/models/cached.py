"""A text embedder that remembers the passages it has embedded, for sentences asked about again.

Evidence picking embeds every sentence of the retrieved passages for each question: about half
a second on 2 cores, spent before the model reads a word. The same passages come back for a
follow-up, a regenerated answer or another question about the same document, so their
sentences are kept (least recently used first out) instead of embedded again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ragcore.models.base import TextEmbedder, Tokenizer, Vectors

DEFAULT_SIZE = 20_000  # sentences; 384-d float32 is 1.5 KB each, so about 30 MB at most


class CachedPassages:
    """``embedder`` with ``embed_passages`` remembered per text; queries pass straight through.

    >>> cached = CachedPassages(models.text)
    >>> cached.embed_passages(["A sentence."])  # embedded
    >>> cached.embed_passages(["A sentence."])  # remembered
    """

    def __init__(self, embedder: TextEmbedder, *, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.inner = embedder
        self.model_id = embedder.model_id
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the chat's answer threads share one cache

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def tokenizer(self) -> Tokenizer:
        return self.inner.tokenizer

    def __len__(self) -> int:
        return len(self._vectors)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        # One lock around the whole call: the model underneath runs one batch at a time anyway
        # (its tokenizer is not thread-safe), and nothing can be evicted between look-ups.
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
            fresh = (
                dict(zip(missing, self.inner.embed_passages(missing), strict=True))
                if missing
                else {}
            )
            rows = [fresh[t] if t in fresh else self._vectors[t] for t in texts]
            for text in texts:
                if text in fresh:
                    self._vectors[text] = fresh[text]
                if text in self._vectors:
                    self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)
