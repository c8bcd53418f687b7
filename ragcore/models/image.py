"""The CLIP image embedder: images and query texts in one space, loaded lazily once per process."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ragcore.models.base import Vectors
from ragcore.models.resolver import Resolved


class ClipEmbedder:
    """CLIP through sentence-transformers.

    >>> clip = ClipEmbedder(resolved)
    >>> clip.embed_texts(["a cat on a sofa"]).shape
    (1, 512)
    """

    def __init__(self, resolved: Resolved, *, device: str = "cpu", batch_size: int = 16) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self.model_id = resolved.model_id
        self.resolved = resolved
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(
                    str(self.resolved.location),
                    device=self._device,
                    local_files_only=self.resolved.source != "hub",
                )

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model

    @property
    def dim(self) -> int:
        return int(self.embed_texts(["dimension probe"]).shape[1])

    def _encode(self, items: list[Any]) -> Vectors:
        vecs = self.model.encode(
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
