"""`python -m ingest` as a person runs it, with the hashing fake for the text model: the CLI in seconds.

    RAG_DATA_DIR=... python -m tests.robustness.cli_proc add a.txt --wait
    RAG_DATA_DIR=... ROBUST_GATE=/tmp/open python -m tests.robustness.cli_proc add a.txt --wait

The command line, the catalog, the embedded store and the worker are the real ones; only the
text model is a fake. With ``ROBUST_GATE`` set, embedding waits until that file exists, so a
test can act (delete, kill) while a document is surely being embedded, then let it go on.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import ingest.__main__ as cli
from ragcore.models.base import Vectors
from ragcore.models.loader import Models
from ragcore.runtime import Runtime, build_runtime
from ragcore.settings import Settings
from ragcore.testing.embedders import HashingEmbedder
from tests.robustness.worker_proc import DIM

GATE_TIMEOUT = 120.0


class GateFileEmbedder(HashingEmbedder):
    """Embeds once ``gate`` exists (at once when None)."""

    def __init__(self, gate: Path | None) -> None:
        super().__init__(dim=DIM)
        self.gate = gate

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        deadline = time.monotonic() + GATE_TIMEOUT
        while self.gate is not None and not self.gate.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test never created {self.gate}")
            time.sleep(0.05)
        return super().embed_passages(texts)


def _runtime(settings: Settings) -> Runtime:
    rt = build_runtime(settings)
    gate = os.environ.get("ROBUST_GATE")
    rt.models = Models(
        text_model=GateFileEmbedder(Path(gate) if gate else None),
        image_model=None,
        reranker_model=None,
        cache_dir=settings.models_dir,
    )
    return rt


def main() -> int:
    cli.build_runtime = _runtime
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
