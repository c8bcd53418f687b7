"""A long stage keeps its job: chunking, embedding and writing renew the lease as they go."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ingest.chunking import SEGMENT_CHARS, chunk_pages
from ingest.service import build_worker
from ragcore import library
from ragcore.testing.runtime import make_runtime
from ragcore.testing.tokenizers import WhitespaceTokenizer
from ragcore.types import ChunkingParams, Page, Strategy
from tests.robustness.worker_proc import SlowEmbedder, SlowStore

WORDS = ["harbour", "ledger", "quorum", "falcon", "meridian", "copper", "lantern", "orchard"]


def test_chunking_reports_progress_through_a_long_page() -> None:
    rng = random.Random(1)
    text = " ".join(rng.choice(WORDS) for _ in range(3 * SEGMENT_CHARS // 6))
    shares: list[float] = []
    chunk_pages(
        "d",
        [Page(1, "A short first page."), Page(2, text)],
        ChunkingParams(Strategy.RECURSIVE, 100, 10),
        WhitespaceTokenizer(),
        progress=shares.append,
    )
    # After page 1, after each segment of page 2 but its first, and after page 2.
    assert len(shares) >= 4
    assert shares == sorted(shares) and shares[-1] == 1.0 and 0 < shares[0] < 0.01


LEASE = 2.5
# stage -> (delay per tokenizer call, embedding batch or write batch; lines of 12 words; chunk size)
SLOW = {"chunking": (0.01, 9000, 200), "embedding": (1.0, 1500, 30), "writing": (1.2, 2500, 30)}


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(SLOW))
def test_a_long_stage_keeps_the_job_lease(stage: str) -> None:
    """The stage lasts over twice the lease; a second worker trying all along never gets the job."""
    delay, lines, size = SLOW[stage]
    # On tmpfs the store's own writes are quick, so each batch takes about `delay`.
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="lease-", dir=shm if os.access(shm, os.W_OK) else None))
    rt = make_runtime(
        root / "data",
        text=SlowEmbedder(stage, delay),
        image_model="",
        lease_seconds=LEASE,
        parse_sandbox=False,
    )
    try:
        rng = random.Random(2)
        text = "\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(lines))
        added = library.add_bytes(
            rt.catalog, rt.settings.uploads_dir, "long.txt", [text.encode()],
            ChunkingParams(Strategy.FIXED, size, 3),
        )  # fmt: skip
        assert added.job is not None
        worker = build_worker(rt, worker_id="slow")
        if stage == "writing":
            worker.ingestor.store = SlowStore(rt.store, delay)
        done = threading.Event()
        outcomes = []

        def run() -> None:
            outcomes.append(worker.run_once())
            done.set()

        thread = threading.Thread(target=run)
        thread.start()
        stolen = []
        while not done.is_set():
            current = rt.catalog.get_job(added.job.id)
            if current is not None and current.stage == stage and current.status == "running":
                job = rt.catalog.claim_job("thief", lease_seconds=5)
                if job is not None:
                    stolen.append(job)
            time.sleep(0.2)
        thread.join()
        report = outcomes[0].report if outcomes and outcomes[0] else None
        assert report is not None, outcomes
        lasted = report.seconds[
            {"chunking": "chunk", "embedding": "embed", "writing": "write"}[stage]
        ]
        assert lasted > 2 * LEASE, f"{stage} lasted only {lasted:.1f} s"
        assert stolen == []
        doc = rt.catalog.get_document(added.document.id)
        assert doc is not None and doc.status == "ready", doc
    finally:
        rt.close()
        shutil.rmtree(root, ignore_errors=True)
