"""A runtime over a few small text documents, ingested for real with the hashing embedder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ingest.service import build_worker
from ragcore import library
from ragcore.runtime import Runtime
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

SENTENCES = ChunkingParams(Strategy.SENTENCE, 64, 0)


def runtime_with_texts(
    root: Path, texts: Mapping[str, str], params: ChunkingParams = SENTENCES
) -> Runtime:
    """``texts`` (file name -> content) written under ``root``, added and ingested (chunked by
    sentence unless ``params`` say otherwise)."""
    runtime = make_runtime(root / "data")
    for name, text in texts.items():
        (root / name).write_text(text)
        library.add_file(runtime.catalog, runtime.settings.uploads_dir, root / name, params)
    build_worker(runtime).run_until_idle()
    return runtime
