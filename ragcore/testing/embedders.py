"""Deterministic fake embedders: hashed bag-of-words vectors (seeded from sha256, never ``hash``)."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ragcore.models.base import Vectors
from ragcore.testing.tokenizers import WhitespaceTokenizer

_WORD = re.compile(r"\w+", re.UNICODE)


def _bucket(token: str, dim: int) -> tuple[int, float]:
    digest = hashlib.sha256(token.encode("utf-8")).digest()
    index = int.from_bytes(digest[:4], "little") % dim
    sign = 1.0 if digest[4] & 1 else -1.0
    return index, sign


def _normalise(vecs: Vectors) -> Vectors:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vecs / norms).astype(np.float32)


class HashingEmbedder:
    """Texts sharing words get similar vectors; synonyms can be declared so paraphrases match.

    >>> HashingEmbedder(dim=64).embed_queries(["hello"]).shape
    (1, 64)
    """

    def __init__(
        self,
        dim: int = 64,
        *,
        max_tokens: int = 256,
        synonyms: dict[str, str] | None = None,
        unknown: set[str] | None = None,
        model_id: str = "testing/hashing",
    ) -> None:
        self.model_id = model_id
        self._dim = dim
        self._tokenizer = WhitespaceTokenizer(max_tokens=max_tokens)
        self._synonyms = synonyms or {}
        # Words the "model" has no sense of (part numbers, rare ids): dense search misses them.
        self._unknown = unknown or set()
        self.calls = 0

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def tokenizer(self) -> WhitespaceTokenizer:
        return self._tokenizer

    def _embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                word = self._synonyms.get(word, word)
                if word in self._unknown:
                    continue
                index, sign = _bucket(word, self._dim)
                out[row, index] += sign
        return _normalise(out)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)


class ColorImageEmbedder:
    """A CLIP stand-in: an image's vector is its mean colour; a text's is the colour words it names."""

    COLORS: ClassVar[dict[str, tuple[float, float, float]]] = {
        "red": (1.0, 0.0, 0.0),
        "green": (0.0, 1.0, 0.0),
        "blue": (0.0, 0.0, 1.0),
    }

    def __init__(self, model_id: str = "testing/colors") -> None:
        self.model_id = model_id

    @property
    def dim(self) -> int:
        return 4

    def embed_images(self, images: Sequence[bytes]) -> Vectors:
        from PIL import Image

        out = np.zeros((len(images), 4), dtype=np.float32)
        for row, data in enumerate(images):
            with Image.open(io.BytesIO(data)) as img:
                mean = np.asarray(img.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)
            out[row, :3] = mean / 255.0
            out[row, 3] = 0.05
        return _normalise(out)

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                if word in self.COLORS:
                    out[row, :3] += np.asarray(self.COLORS[word], dtype=np.float32)
            out[row, 3] = 0.05
        return _normalise(out)
