"""Protocols for the models: text embedder, image (CLIP) embedder, reranker, tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Tokenizer(Protocol):
    """Counts text in the embedding model's tokens, with character offsets."""

    @property
    def max_tokens(self) -> int:
        """Most content tokens one input may hold (special tokens excluded): no silent truncation."""
        ...

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character offsets ``(start, end)`` of each token of ``text``, in order, no special tokens."""
        ...


class TextEmbedder(Protocol):
    model_id: str

    @property
    def dim(self) -> int: ...

    @property
    def tokenizer(self) -> Tokenizer: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """(n, dim) float32, each row L2-normalised."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...


class ImageEmbedder(Protocol):
    """CLIP-like: images and texts into one space."""

    model_id: str

    @property
    def dim(self) -> int: ...

    def embed_images(self, images: Sequence[bytes]) -> Vectors:
        """Encoded image files (PNG, JPEG, ...) to (n, dim) float32, L2-normalised."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> Vectors: ...


class Reranker(Protocol):
    model_id: str

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Relevance of each passage to the query; higher is better."""
        ...
