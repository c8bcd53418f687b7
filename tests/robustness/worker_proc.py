"""A real worker process for the crash tests: the CLI's worker loop, fake models, one stage slowed.

    RAG_DATA_DIR=... ROBUST_SLOW=embedding ROBUST_DELAY=0.4 python -m tests.robustness.worker_proc

The text model is the hashing fake (no weights to load), so a test can start, SIGKILL and
restart workers in seconds. ``ROBUST_SLOW`` names the stage to stretch (parsing, chunking,
embedding, writing) so that a kill reliably lands in the middle of it.

The catalog, the uploaded files and the vector store are the ones the settings name, as for
``python -m ingest worker``: with ``RAG_CATALOG_URL`` and ``RAG_STORE=vectorai`` the worker is
one of several hosts sharing a PostgreSQL and a VectorAI server (tests/test_multi_host.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from ingest.sandbox import ParseSandbox
from ingest.service import build_worker
from ragcore.models.base import Vectors
from ragcore.models.loader import Models
from ragcore.runtime import Runtime, build_store, open_catalog
from ragcore.settings import Settings
from ragcore.spaces import SpaceRouter
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.tokenizers import WhitespaceTokenizer
from ragcore.types import Point
from tests.robustness import targets

DIM = 32


class SlowTokenizer(WhitespaceTokenizer):
    def __init__(self, delay: float) -> None:
        super().__init__(max_tokens=256)
        self.delay = delay

    def spans(self, text: str) -> list[tuple[int, int]]:
        time.sleep(self.delay)
        return super().spans(text)


class SlowEmbedder(HashingEmbedder):
    def __init__(self, stage: str, delay: float) -> None:
        super().__init__(dim=DIM)
        self.stage = stage
        self.delay = delay
        if stage == "chunking":
            self._tokenizer = SlowTokenizer(delay)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if self.stage == "embedding":
            time.sleep(self.delay)
        return super().embed_passages(texts)


class SlowStore:
    """The real store, each upsert batch delayed: a kill lands between batches and the commit."""

    def __init__(self, store: Any, delay: float) -> None:
        self._store = store
        self._delay = delay

    def upsert(self, points: Sequence[Point]) -> None:
        self._store.upsert(points)
        time.sleep(self._delay)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def main() -> int:
    stage = os.environ.get("ROBUST_SLOW", "")
    delay = float(os.environ.get("ROBUST_DELAY", "0.3"))
    settings = Settings(local_llm=False, image_model="", reranker_model="")
    models = Models(
        text_model=SlowEmbedder(stage, delay),
        image_model=None,
        reranker_model=None,
        cache_dir=settings.models_dir,
    )
    rt = Runtime(settings=settings, catalog=open_catalog(settings), models=models)
    if stage == "writing":
        slow = SlowStore(build_store(settings), delay)
        rt._spaces = SpaceRouter(
            slow, rt.catalog, rt.models, default_collection=settings.collection
        )
    worker = build_worker(rt, worker_id=f"test-{os.getpid()}")
    if stage == "parsing":
        worker.ingestor.sandbox = ParseSandbox(parse=targets.napping_parse)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"worker {worker.worker_id} ready", file=sys.stderr, flush=True)
    worker.run_forever(stop)
    rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
