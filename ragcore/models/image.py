"""The CLIP image embedder: images and query texts in one space, loaded lazily once per process."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from ragcore.models.base import Vectors
from ragcore.models.lazy import LazyModel
from ragcore.models.resolver import Resolved


class ClipEmbedder(LazyModel):
    """CLIP through sentence-transformers.

    >>> clip = ClipEmbedder(resolved)
    >>> clip.embed_texts(["a cat on a sofa"]).shape
    (1, 512)
    """

    def __init__(self, resolved: Resolved, *, device: str = "cpu", batch_size: int = 16) -> None:
        super().__init__(resolved, device=device, batch_size=batch_size)

    def _build(self, location: str, *, device: str, local_files_only: bool) -> Any:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(location, device=device, local_files_only=local_files_only)

    @property
    def dim(self) -> int:
        return int(self.embed_texts(["dimension probe"]).shape[1])

    def _encode(self, items: list[Any]) -> Vectors:
        model = self.model
        with self._use_lock:
            vecs = model.encode(
                items,
                batch_size=self._batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def embed_images(self, images: Sequence[bytes]) -> Vectors:
        from PIL import Image

        decoded = []
        for data in images:
            with Image.open(io.BytesIO(data)) as img:
                decoded.append(img.convert("RGB"))
        if not decoded:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode(decoded)

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        return self._encode(list(texts))
