"""The cross-encoder reranker, loaded lazily once per process."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ragcore.models.resolver import Resolved


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a sentence-transformers CrossEncoder.

    >>> CrossEncoderReranker(resolved).score("zero trust", ["ZTA assumes no implicit trust", "cats"])
    [7.1, -10.9]
    """

    def __init__(self, resolved: Resolved, *, device: str = "cpu", batch_size: int = 32) -> None:
        self.model_id = resolved.model_id
        self.resolved = resolved
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                self._model = CrossEncoder(
                    str(self.resolved.location),
                    device=self._device,
                    local_files_only=self.resolved.source != "hub",
                )

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        self.warm_up()
        scores = self._model.predict(
            [(query, p) for p in passages], batch_size=self._batch_size, show_progress_bar=False
        )
        return [float(s) for s in scores]
