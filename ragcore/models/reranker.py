"""The cross-encoder reranker, loaded lazily once per process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragcore.models.lazy import LazyModel


class CrossEncoderReranker(LazyModel):
    """Scores (query, passage) pairs with a sentence-transformers CrossEncoder.

    >>> CrossEncoderReranker(resolved).score("zero trust", ["ZTA assumes no implicit trust", "cats"])
    [7.1, -10.9]
    """

    def _build(self, location: str, *, device: str, local_files_only: bool) -> Any:
        from sentence_transformers import CrossEncoder

        return CrossEncoder(location, device=device, local_files_only=local_files_only)

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        self.warm_up()
        with self._use_lock:  # two questions at once share the model's tokenizer
            scores = self._model.predict(
                [(query, p) for p in passages],
                batch_size=self._batch_size,
                show_progress_bar=False,
            )
        return [float(s) for s in scores]
