"""The two CLIs end to end with the real offline MiniLM model, as a person runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragcore.testing.documents import make_text_pdf

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    "Annual report of the lighthouse keepers guild. Membership grew slowly this year.",
    "The Fresnel lens of the northern lighthouse was cleaned and its lamp replaced. "
    "Keepers logged fog signals every hour during the winter storms.",
    "Finances: the guild spent most of its budget on paint and brass polish.",
]


def run(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RAG_DATA_DIR": str(data_dir),
        "RAG_LOCAL_LLM": "false",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    root = tmp_path_factory.mktemp("cli")
    pdf = make_text_pdf(root / "guild.pdf", PAGES)
    bad = root / "broken.pdf"
    bad.write_bytes(pdf.read_bytes()[:200])
    proc = run(root / "data", "ingest", "add", str(pdf), str(bad), "--wait", "--json", check=False)
    assert proc.returncode == 1, "a failed file must make `add --wait` exit non-zero"
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    by_name = {r["name"]: r for r in rows}
    assert (
        by_name["broken.pdf"]["status"] == "failed"
        and "broken.pdf" in by_name["broken.pdf"]["error"]
    )
    return root / "data", by_name["guild.pdf"]


def test_add_reports_each_document(library: tuple[Path, dict[str, object]]) -> None:
    _, doc = library
    assert doc["status"] == "ready" and doc["pages"] == 3 and int(doc["chunks"]) >= 3  # type: ignore[call-overload]


def test_status_lists_documents(library: tuple[Path, dict[str, object]]) -> None:
    data, _ = library
    status = json.loads(run(data, "ingest", "status", "--json").stdout)
    names = {d["name"]: d["status"] for d in status["documents"]}
    assert names == {"guild.pdf": "ready", "broken.pdf": "failed"}


def test_search_returns_the_right_page_with_evidence(
    library: tuple[Path, dict[str, object]],
) -> None:
    data, _ = library
    out = json.loads(run(data, "ragcore", "search", "Which lens was cleaned?", "--json").stdout)
    top = out["hits"][0]
    assert top["file_name"] == "guild.pdf" and top["page"] == 2
    assert top["evidence"]["bm25_rank"] is not None and top["evidence"]["fused_score"] > 0
    assert {"encode", "dense", "bm25", "fuse"} <= set(out["timings_ms"])


def test_ask_gives_a_cited_extractive_answer(library: tuple[Path, dict[str, object]]) -> None:
    data, _ = library
    out = json.loads(
        run(data, "ragcore", "ask", "What did the keepers log during storms?", "--json").stdout
    )
    assert out["mode"] == "extractive"
    assert "[1]" in out["answer"] or "[2]" in out["answer"]
    assert out["citations"] and out["sources"][0]["page"] == 2


def test_reindex_and_delete(library: tuple[Path, dict[str, object]]) -> None:
    data, doc = library
    doc_id = str(doc["id"])
    out = json.loads(
        run(
            data,
            "ingest",
            "reindex",
            doc_id[:10],
            "--strategy",
            "fixed",
            "--chunk-size",
            "20",
            "--overlap",
            "5",
            "--wait",
            "--json",
        ).stdout
    )
    assert out["status"] == "ready" and out["strategy"] == "fixed" and out["chunks"] > doc["chunks"]  # type: ignore[operator]
    run(data, "ingest", "delete", doc_id)
    status = json.loads(run(data, "ingest", "status", "--json").stdout)
    assert [d["name"] for d in status["documents"]] == ["broken.pdf"]
