"""The sentence-transformers text embedder: lazy, once per process, float32 vectors as the model's distance wants."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ragcore.models.base import Tokenizer, Vectors
from ragcore.models.registry import COSINE, ModelFacts, facts_for
from ragcore.models.resolver import Resolved

PRECISIONS = ("float32", "float16", "bfloat16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return precision


def unit_rows(vecs: Vectors) -> Vectors:
    """Rows scaled to length 1 in float32 (all-zero rows stay zero)."""
    out = np.asarray(vecs, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (out / norms).astype(np.float32)


# Texts per model call. A batch is padded to its longest text, and on a CPU the matrix work
# gains nothing past a few texts: 8 embedded 32 of the dev set's evidence sentences in 290 ms
# against 530 ms with 64 (their lengths vary most), and 256 page chunks in 9-10 s against 11-12 s
# (bench/RESULTS.md, thirteenth session). An accelerator wants large batches.
CPU_BATCH = 8
ACCELERATOR_BATCH = 64


class SentenceTransformerEmbedder:
    """A text embedder over a resolved sentence-transformers model.

    The model's facts (``ragcore.models.registry``) decide the prefixes it gets on each side
    and whether its vectors are L2-normalised (cosine models) or kept raw (dot-product models).
    Prefixes are added here and nowhere else, so they are applied exactly once.

    >>> emb = SentenceTransformerEmbedder(resolved)   # cheap: nothing loads yet
    >>> emb.embed_queries(["what is zero trust?"]).shape
    (1, 384)
    """

    def __init__(
        self,
        resolved: Resolved,
        *,
        device: str = "cpu",
        batch_size: int | None = None,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        precision: str = "float32",
    ) -> None:
        if batch_size is None:
            batch_size = CPU_BATCH if device == "cpu" else ACCELERATOR_BATCH
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self.model_id = resolved.model_id
        self.resolved = resolved
        self._device = device
        self.batch_size = batch_size
        # None: the registry's (or the model's own config's) prefix for this model.
        self._query_prefix_override = query_prefix
        self._passage_prefix_override = passage_prefix
        self.precision = check_precision(precision)
        self._model: Any = None
        self._facts: ModelFacts | None = None
        self._tokenizer: Tokenizer | None = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()
        # Held while the model or its tokenizer works: a Hugging Face fast tokenizer keeps its
        # padding and truncation settings on the shared Rust object, so a batch encoded while
        # another thread counts tokens (two ingestion threads, a question meanwhile) breaks.
        self._use_lock = threading.Lock()

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
            if self.precision != "float32":
                import torch

                # Half precision halves memory and is much faster on a GPU; the vectors are
                # turned back into float32 (and re-normalised) before anyone sees them.
                model.to(getattr(torch, self.precision))
            facts = facts_for(self.model_id, model)
            if self._query_prefix_override is not None:
                facts = replace(facts, query_prefix=self._query_prefix_override)
            if self._passage_prefix_override is not None:
                facts = replace(facts, passage_prefix=self._passage_prefix_override)
            max_len = int(model.max_seq_length or facts.max_seq_length)
            # Leave room for the prefix the model expects and for [CLS]/[SEP].
            prefix = facts.passage_prefix
            prefix_tokens = len(model.tokenizer.tokenize(prefix)) if prefix else 0
            self._tokenizer = HFTokenizer(
                model.tokenizer, max_tokens=max_len - 2 - prefix_tokens, lock=self._use_lock
            )
            self._facts = facts
            self._model = model

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model

    @property
    def facts(self) -> ModelFacts:
        self.warm_up()
        assert self._facts is not None
        return self._facts

    @property
    def distance(self) -> str:
        return self.facts.distance

    @property
    def fingerprint(self) -> str:
        """A short hash of the weight files this embedder loaded (see ``provenance``)."""
        if self._fingerprint is None:
            from ragcore.models.provenance import resolved_fingerprint

            self._fingerprint = resolved_fingerprint(self.resolved)
        return self._fingerprint

    @property
    def dim(self) -> int:
        return self.facts.dim

    @property
    def tokenizer(self) -> Tokenizer:
        self.warm_up()
        assert self._tokenizer is not None
        return self._tokenizer

    def _encode(self, texts: Sequence[str], prefix: str) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        inputs = [prefix + t for t in texts] if prefix else list(texts)
        model = self.model
        with self._use_lock:
            vecs = model.encode(
                inputs,
                # prompt="" stops sentence-transformers from adding a default prompt of its own
                # on top of ours: the prefix is applied here, exactly once.
                prompt="",
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        out = np.asarray(vecs, dtype=np.float32)
        # Normalised in float32 even when the model computed in half precision.
        return unit_rows(out) if self.facts.distance == COSINE else out

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self.facts.passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self.facts.query_prefix)
