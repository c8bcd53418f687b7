"""The Evaluate view's tables and chart data: published numbers beside ours, reasons kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.evaluation_tables import PUBLISHED, THIS_APP, beir_chart, beir_table
from ragcore.evaluation.beir_folder import Anchor, BeirReport, ModeScores
from ragcore.types import ChunkingParams

REPO = Path(__file__).resolve().parents[2]


def _report(anchors: tuple[Anchor, ...]) -> BeirReport:
    rows = (
        ModeScores("bm25", 0.66, 0.78, 0.9, 0.63, 4.0, 300),
        ModeScores("bm25+rerank", unavailable="the cross-encoder is unavailable: not installed"),
    )
    return BeirReport(
        dataset="scifact",
        split="test",
        folder=Path("scifact"),
        queries=300,
        queries_in_split=300,
        documents=5183,
        chunks=6000,
        model="m",
        chunking=ChunkingParams(),
        index_path=Path("i"),
        index_reused=True,
        seconds=1.0,
        rows=rows,
        anchors=anchors,
    )


def test_published_numbers_sit_beside_the_mode_they_compare_with() -> None:
    anchors = (Anchor("BEIR BM25 (Elasticsearch)", "bm25", 0.665), Anchor("MTEB", "dense", 0.645))
    table = beir_table(_report(anchors)).set_index("mode")
    assert table.loc["bm25", "published nDCG@10"] == "0.665 (BEIR BM25 (Elasticsearch))"
    assert table.loc["bm25+rerank", "published nDCG@10"] == ""
    assert "not installed" in table.loc["bm25+rerank", "note"]
    chart = beir_chart(_report(anchors))
    # The mode that could not run has no bar; each published number has one.
    assert list(zip(chart["mode"], chart["source"], strict=True)) == [
        ("bm25", THIS_APP),
        ("BEIR BM25 (Elasticsearch)", PUBLISHED),
        ("MTEB", PUBLISHED),
    ]


def test_without_anchors_there_is_no_published_column() -> None:
    table = beir_table(_report(()))
    assert "published nDCG@10" not in table.columns
    assert list(table["mode"]) == ["bm25", "bm25+rerank"]


@pytest.mark.integration  # starts a process
def test_the_evaluate_view_needs_no_bench_extras() -> None:
    code = (
        "import sys, app.evaluation_tables, ragcore.evaluation.beir_folder,"
        " ragcore.evaluation.chunking\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('langchain', 'langchain_core',"
        " 'langchain_community', 'matplotlib')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)
