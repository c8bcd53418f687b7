"""The sentence-transformers text embedder: lazy, once per process, L2-normalised float32 vectors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ragcore.models.base import Tokenizer, Vectors
from ragcore.models.resolver import Resolved


class SentenceTransformerEmbedder:
    """A text embedder over a resolved sentence-transformers model.

    >>> emb = SentenceTransformerEmbedder(resolved)   # cheap: nothing loads yet
    >>> emb.embed_queries(["what is zero trust?"]).shape
    (1, 384)
    """

    def __init__(
        self,
        resolved: Resolved,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self.model_id = resolved.model_id
        self.resolved = resolved
        self._device = device
        self._batch_size = batch_size
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._model: Any = None
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from sentence_transformers import SentenceTransformer

            from ragcore.models.tokenizer import HFTokenizer

            local = self.resolved.source != "hub"
            model = SentenceTransformer(
                str(self.resolved.location), device=self._device, local_files_only=local
            )
            max_len = int(model.max_seq_length or 256)
            # Leave room for the prefix the model expects and for [CLS]/[SEP].
            prefix_tokens = len(model.tokenizer.tokenize(self._passage_prefix)) if self._passage_prefix else 0
            self._tokenizer = HFTokenizer(model.tokenizer, max_tokens=max_len - 2 - prefix_tokens)
            self._model = model

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model

    @property
    def dim(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def tokenizer(self) -> Tokenizer:
        self.warm_up()
        assert self._tokenizer is not None
        return self._tokenizer

    def _encode(self, texts: Sequence[str], prefix: str) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        inputs = [prefix + t for t in texts] if prefix else list(texts)
        vecs = self.model.encode(
            inputs,
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self._passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self._query_prefix)
