"""bench.load: user and worker processes on one catalog, counted; the 10M-chunk arithmetic."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from bench import load
from ragcore.evaluation.load import CpuTimes, ScalePoint, latency_summary, project
from ragcore.testing.beir import write_beir_folder


def _tiny_run(tmp_path: Path, server_url: str) -> dict[str, Any]:
    data = write_beir_folder(tmp_path / "beir")
    return load.run(
        server_url=server_url,
        workdir=tmp_path / "work",
        users=[1],
        workers=[0, 1],
        seconds=2.0,
        docs=4,
        corpus_docs=6,
        data=data,
        scale_sizes=[20, 60],
        real_model=False,
    )


def _check_well_formed(report: dict[str, Any], backend: str) -> None:
    assert report["backend"] == backend
    assert report["corpus"]["chunks"] >= 6 and report["corpus"]["write_ms_per_chunk"] > 0
    assert report["corpus"]["bytes"] > 0
    cells = {(c["users"], c["workers"]): c for c in report["cells"]}
    assert set(cells) == {(1, 0), (1, 1)}
    for cell in cells.values():
        assert cell["backend"] == backend and cell["embedder"] == "hashing"
        assert cell["questions"] > 0 and cell["questions_per_second"] > 0
        assert 0 < cell["p50_ms"] <= cell["p95_ms"]
        assert 0 < cell["bm25_p50_ms"] <= cell["bm25_p95_ms"]
        assert 0 <= cell["cpu_busy"] <= 1
    assert cells[(1, 0)]["chunks"] == 0
    # The worker ingested within the window (4 one-chunk documents at least partly).
    assert cells[(1, 1)]["chunks"] > 0 and cells[(1, 1)]["chunks_per_second"] > 0
    small, large = (p["chunks"] for p in report["scale"])
    assert 0 < small < large  # documents of 20 paragraphs: 1, then 3 of them
    for point in report["scale"]:
        assert point["backend"] == backend
        assert point["write_ms_per_chunk"] > 0 and point["bytes_per_chunk"] > 0
        assert 0 < point["bm25_p50_ms"] <= point["bm25_p95_ms"]
    projection = report["projection"]
    assert projection["chunks"] == 10_000_000 and projection["storage_gb"] > 0
    assert projection["ingest_hours"]["1xhashing"] > 0


@pytest.mark.integration
def test_a_tiny_run_on_sqlite_counts_questions_and_chunks(tmp_path: Path) -> None:
    report = _tiny_run(tmp_path, "")

    _check_well_formed(report, "sqlite")
    assert math.isnan(report["cells"][0]["lock_waiters"])  # PostgreSQL's view only


@pytest.mark.postgres
@pytest.mark.integration
def test_a_tiny_run_on_postgres_counts_questions_and_chunks(
    tmp_path: Path, postgres_url: str
) -> None:
    report = _tiny_run(tmp_path, postgres_url)

    _check_well_formed(report, "postgresql")
    for cell in report["cells"]:
        assert cell["lock_waiters"] >= 0 and cell["active_backends"] >= 0


def test_projection_follows_the_power_law_through_two_sizes() -> None:
    small = ScalePoint("sqlite", 1_000, 900.0, 0.5, 2.0, 3.0, 3_000.0)
    large = ScalePoint("sqlite", 100_000, 900.0, 0.25, 20.0, 30.0, 2_000.0)

    p = project([large, small], {"2xhashing": 100.0})

    assert p.bm25_growth_exponent == 0.5  # 10x the time for 100x the chunks
    assert p.bm25_p50_ms == pytest.approx(20.0 * 100**0.5)
    assert p.storage_gb == pytest.approx(2_000.0 * 1e7 / 1e9)
    assert p.catalog_write_hours == pytest.approx(0.25 * 1e7 / 1000 / 3600, abs=0.01)
    assert p.ingest_hours == {"2xhashing": pytest.approx(1e7 / 100 / 3600, abs=0.1)}


def test_projection_needs_two_sizes() -> None:
    one = ScalePoint("sqlite", 1_000, 900.0, 0.5, 2.0, 3.0, 3_000.0)
    with pytest.raises(ValueError, match="two corpus sizes"):
        project([one], {})


def test_latency_summary_and_cpu_share(tmp_path: Path) -> None:
    assert latency_summary([3.0, 1.0, 2.0]) == (2.0, pytest.approx(2.9))
    assert all(math.isnan(x) for x in latency_summary([]))
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 700 100 0 0 0 0 0\n")
    before = CpuTimes.read(stat)
    stat.write_text("cpu  150 0 150 750 150 0 0 0 0 0\n")
    assert before.busy_share(CpuTimes.read(stat)) == pytest.approx(100 / 200)
    assert CpuTimes.read(tmp_path / "missing") == CpuTimes(0, 0)
