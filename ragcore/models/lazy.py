"""A sentence-transformers model that loads on first use, once per process, from its resolved copy."""

from __future__ import annotations

import threading
from typing import Any

from ragcore.models.resolver import Resolved


class LazyModel:
    """What CLIP and the cross-encoder share: resolve now, load (seconds, hundreds of MB) later.

    Subclasses say how to build the model from a location in :meth:`_build`; a lock keeps two
    threads asking at once from loading it twice.
    """

    def __init__(self, resolved: Resolved, *, device: str = "cpu", batch_size: int = 32) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self.model_id = resolved.model_id
        self.resolved = resolved
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        # Held while the model computes: a Hugging Face fast tokenizer keeps its padding and
        # truncation settings on the shared Rust object, so two threads encoding at once
        # (the app's two ingestion threads, a question meanwhile) corrupt each other's batch.
        self._use_lock = threading.Lock()

    def _build(self, location: str, *, device: str, local_files_only: bool) -> Any:
        raise NotImplementedError

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                self._model = self._build(
                    str(self.resolved.location),
                    device=self._device,
                    # Only a model the resolver allowed to come from the hub may touch it.
                    local_files_only=self.resolved.source != "hub",
                )

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model
