"""The worker run by a command that waits: it runs that command's jobs and no others."""

from __future__ import annotations

import time
from pathlib import Path

from ingest.service import build_worker
from ragcore import library
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

PARAMS = ChunkingParams(Strategy.FIXED, 30, 3)


def test_run_until_idle_with_ids_runs_only_those_jobs(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data", image_model="", parse_sandbox=False)
    try:

        def add(name: str) -> int:
            added = library.add_bytes(
                rt.catalog, rt.settings.uploads_dir, name, [f"Words of {name}.".encode()], PARAMS
            )
            assert added.job is not None
            return added.job.id

        abandoned = add("abandoned.txt")
        # What a killed `add --wait` leaves: its job running under a lease nobody renews.
        assert rt.catalog.claim_job("killed", lease_seconds=0.01) is not None
        other = add("other.txt")  # queued by a plain `add`: the app's worker runs it
        mine = add("mine.txt")
        time.sleep(0.02)  # the abandoned lease has expired: any worker may take it over

        outcomes = build_worker(rt).run_until_idle([mine])
        assert [(o.job_id, o.ok) for o in outcomes] == [(mine, True)]
        jobs = {j.id: j for j in rt.catalog.jobs()}
        assert (jobs[abandoned].status, jobs[abandoned].worker_id) == ("running", "killed")
        assert jobs[other].status == "queued"
    finally:
        rt.close()
