"""``python -m ragcore``: bad arguments are refused in words; odd questions and LLMs answered plainly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ragcore.__main__ import _doc_ids, _print_answer_footer, build_parser
from ragcore.answering import NO_WORDS, Answer
from ragcore.generation.citations import Citation
from ragcore.types import ChunkKind, Hit

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "PASSWORD456"
KEY = "SECRETKEY789"


@pytest.mark.parametrize("command", ["search", "ask"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "argument --k: must be at least 1, got 0"),
        ("-5", "argument --k: must be at least 1, got -5"),
        ("many", "argument --k: must be a whole number, got 'many'"),
    ],
)
def test_k_below_one_is_refused(
    command: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "q", f"--k={value}"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("docs", [",", " , ,", "", "   "])
def test_a_doc_list_naming_no_document_is_refused(
    docs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without this, an empty filter means no filter: every document would be searched.
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["search", "q", f"--docs={docs}"])
    assert exit_info.value.code == 2
    assert "argument --docs: names no document id" in capsys.readouterr().err


def test_valid_k_and_docs_are_kept() -> None:
    args = build_parser().parse_args(["search", "q", "--k", "3", "--docs", " a, ,b "])
    assert args.k == 3 and _doc_ids(args.docs) == ["a", "b"]
    assert build_parser().parse_args(["ask", "q"]).docs is None


# --- as a person runs it, with the offline MiniLM ------------------------------------------


def _run(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "RAG_DATA_DIR": str(data_dir),
            "RAG_LOCAL_LLM": "false",
            "HF_HUB_OFFLINE": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=600,  # run() kills the process when it expires
    )


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-probes")
    doc = root / "guild.txt"
    doc.write_text(
        "The Fresnel lens of the northern lighthouse was cleaned and its lamp replaced. "
        "Keepers logged fog signals every hour during the winter storms.\n"
    )
    proc = _run(root / "data", "ingest", "add", str(doc), "--wait")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root / "data"


@pytest.mark.integration
def test_cli_refuses_bad_k_and_empty_docs(tmp_path: Path) -> None:
    for args, message in (
        (("--k", "0"), "must be at least 1, got 0"),
        (("--k", "-5"), "must be at least 1, got -5"),
        (("--docs", ","), "names no document id"),
    ):
        proc = _run(tmp_path / "data", "ragcore", "search", "lens", *args)
        assert proc.returncode == 2 and message in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.integration
def test_cli_question_without_words_asks_for_words(data_dir: Path) -> None:
    proc = _run(data_dir, "ragcore", "ask", "🙂🙂 ?!", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert answer["answer"] == NO_WORDS
    assert answer["sources"] == [] and answer["citations"] == [] and answer["closest"] == []


@pytest.mark.integration
def test_cli_failing_llm_is_named_without_its_credentials(data_dir: Path) -> None:
    url = f"http://u:{PASSWORD}@127.0.0.1:{_dead_port()}/v1?api_key={KEY}"
    shown = url.replace(f"u:{PASSWORD}", "***").replace(KEY, "***")

    proc = _run(data_dir, "ragcore", "ask", "Which lens was cleaned?", RAG_LLM_BASE_URL=url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert PASSWORD not in out and KEY not in out
    assert f"LLM: model 'default' at {shown} (no API key)" in proc.stdout
    assert "The configured language model could not be used (cannot reach" in proc.stdout
    assert "No language model is configured" not in proc.stdout
    assert "Fresnel lens" in proc.stdout  # the extractive answer follows

    proc = _run(
        data_dir, "ragcore", "ask", "Which lens was cleaned?", "--json", RAG_LLM_BASE_URL=url
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert PASSWORD not in proc.stdout + proc.stderr and KEY not in proc.stdout + proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["mode"] == "extractive" and answer["citations"]
    assert answer["llm"] == f"model 'default' at {shown} (no API key)"
    assert answer["answer"].startswith("The configured language model could not be used")
    assert any(shown in note for note in answer["notes"])


def test_ask_footer_names_each_citation_by_its_location(capsys: pytest.CaptureFixture[str]) -> None:
    sheet = Hit(
        "p1",
        "d1",
        "budget.xlsx",
        3,
        0,
        0,
        10,
        ChunkKind.TEXT,
        "Q3 rows",
        location="sheet Q3, rows 12–40",
    )
    pdf = Hit("p2", "d2", "manual.pdf", 2, 1, 0, 10, ChunkKind.TEXT, "oil")
    answer = Answer(
        question="q",
        standalone_question="q",
        text="a [1] [2]",
        mode="extractive",
        citations=tuple(
            Citation(n, h.point_id, h.doc_id, h.file_name, h.page, True, 1.0, ("a",))
            for n, h in ((1, sheet), (2, pdf))
        ),
        removed_citations=(),
        unsupported_sentences=(),
        sources=(sheet, pdf),
        prompt_sources="",
        timings={},
    )
    _print_answer_footer(answer, "LLM: none")
    out = capsys.readouterr().out
    assert "[1] ok  budget.xlsx, sheet Q3, rows 12–40 (support 1.00)" in out
    assert "[2] ok  manual.pdf, page 2 (support 1.00)" in out
