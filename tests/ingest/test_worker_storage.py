"""The worker and the disk: catalog backups after jobs, and a full disk failing one job in words."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ingest.service import build_worker
from ragcore import library
from ragcore.catalog.health import quick_check_file
from ragcore.runtime import Runtime
from ragcore.stores.embedded import EmbeddedStore
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Point, Strategy

PARAMS = ChunkingParams(Strategy.FIXED, 20, 2)
TEXTS = {
    "full.txt": "This one meets a full disk while its vectors are written. " * 10,
    "fine.txt": "This one is ingested once the disk has room again. " * 10,
}


@pytest.fixture()
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "data", parse_sandbox=False)
    yield runtime
    runtime.close()


def _add(rt: Runtime) -> dict[str, str]:
    return {
        name: library.add_bytes(
            rt.catalog, rt.settings.uploads_dir, name, [text.encode()], PARAMS
        ).document.id
        for name, text in TEXTS.items()
    }


def test_the_worker_backs_up_the_catalog_once_its_queue_is_empty(rt: Runtime) -> None:
    _add(rt)
    worker = build_worker(rt)
    assert worker.backups is not None
    worker.backups.min_interval = 3600  # while busy: only the first job's backup is due
    worker.run_until_idle()
    kept = worker.backups.backups()
    assert len(kept) == 2  # after the first job, and when the queue emptied
    assert quick_check_file(kept[0]) is None
    conn = sqlite3.connect(kept[0])
    try:
        statuses = [r[0] for r in conn.execute("SELECT status FROM documents")]
    finally:
        conn.close()
    assert statuses == ["ready", "ready"]  # the newest holds every finished job
    worker.run_until_idle()  # nothing ran: nothing new to back up
    assert worker.backups.backups() == kept


def test_a_full_disk_fails_the_job_with_a_message_and_the_worker_goes_on(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ids = _add(rt)
    real_upsert = EmbeddedStore.upsert

    def upsert(self: EmbeddedStore, points: Sequence[Point]) -> None:
        # What qdrant's local mode raises when its SQLite file cannot grow.
        if points and points[0].payload.get("doc_id") == ids["full.txt"]:
            raise sqlite3.OperationalError("database or disk is full")
        real_upsert(self, points)

    monkeypatch.setattr(EmbeddedStore, "upsert", upsert)
    with caplog.at_level(logging.WARNING):
        outcomes = {o.doc_id: o for o in build_worker(rt).run_until_idle()}
    full = outcomes[ids["full.txt"]]
    assert not full.ok and full.error is not None
    assert f"The disk holding {rt.settings.data_dir} is full" in full.error
    assert "python -m ingest check --repair" in full.error
    doc = rt.catalog.get_document(ids["full.txt"])
    assert doc is not None and doc.status == "failed" and doc.error == full.error
    assert outcomes[ids["fine.txt"]].ok
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text
