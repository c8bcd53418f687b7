"""The worker's progress reaches the catalog in steps a watcher can see, however fast a stage is.

The #12 CI failure: a test waited for "embedding ≥ 30%" while the real worker embedded a small
PDF in batches faster than the once-a-second heartbeat. Only the stage change (15%) and the end
were written, so the watcher never saw 30% and waited out its 180 s (then leaked the worker).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ingest.pipeline import IngestReport
from ingest.worker import PROGRESS_STEP, Worker
from ragcore.catalog import Catalog, DocumentRecord
from ragcore.types import ChunkingParams

Progress = Callable[[str, float], None]


class BurstIngestor:
    """Reports embedding progress in quick batches and notes what a watcher would read."""

    def __init__(self, catalog: Catalog, fractions: list[float]) -> None:
        self.catalog = catalog
        self.fractions = fractions
        self.seen: list[tuple[str | None, float]] = []

    def ingest(self, doc_id: str, params: ChunkingParams, progress: Progress) -> IngestReport:
        (job,) = self.catalog.jobs(doc_id=doc_id)
        for fraction in self.fractions:
            progress("embedding", fraction)
            now = self.catalog.get_job(job.id)
            assert now is not None
            self.seen.append((now.stage, now.progress))
        raise RuntimeError("stop here: the job fails, which is all this test needs")


def test_fast_batches_are_each_written_when_they_move_progress_a_step(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    try:
        doc = DocumentRecord(
            id="d" * 64, name="a.pdf", mime="application/pdf", size_bytes=1, path="/u/a.pdf"
        )
        catalog.upsert_document(doc)
        catalog.enqueue(doc.id, "ingest")
        # Four batches within a few milliseconds, as a warm MiniLM embeds 128 short chunks.
        ingestor = BurstIngestor(catalog, [0.15, 0.35, 0.6, 0.9, 0.91])
        worker = Worker(catalog, ingestor, default_params=ChunkingParams())  # type: ignore[arg-type]
        outcome = worker.run_once()
        assert outcome is not None and not outcome.ok
    finally:
        catalog.close()
    written = [p for stage, p in ingestor.seen if stage == "embedding"]
    # With the old rule (stage change or once a second) this read [0.15, 0.15, 0.15, 0.15, …].
    assert written[:4] == [0.15, 0.35, 0.6, 0.9]  # every step of >= 5% is written at once
    assert written[4] == 0.9  # a smaller move waits for the heartbeat
    assert PROGRESS_STEP == 0.05
