"""bench.answers: question picking, the table and the RESULTS.md section, and a run end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench import answers as bench_answers
from bench import report as bench_report
from ragcore.evaluation.answers import AnswerCase, AnswerRow, QuestionKind, score
from ragcore.testing.documents import make_text_pdf
from ragcore.testing.llm_server import ScriptedLLMServer


def _case(qid: str, kind: str) -> AnswerCase:
    answerable = kind != "unanswerable"
    return AnswerCase.from_json(
        {
            "id": qid,
            "question": f"{qid}?",
            "kind": kind,
            "file": "x.pdf" if answerable else "",
            "pages": [1] if answerable else [],
            "facts": [["f"]] if answerable else [],
        }
    )


def test_pick_takes_kinds_in_turn_and_keeps_file_order() -> None:
    cases = [_case(f"k{i}", "keyword") for i in range(5)] + [
        _case("t1", "table"),
        _case("u1", "unanswerable"),
        _case("u2", "unanswerable"),
    ]
    assert [c.id for c in bench_answers.pick(cases, 4)] == ["k0", "k1", "t1", "u1"]
    assert [c.id for c in bench_answers.pick(cases, 0, ["unanswerable"])] == ["u1", "u2"]
    assert len(bench_answers.pick(cases, 99)) == len(cases)


def test_llm_settings_understand_local_none_and_a_url() -> None:
    assert bench_answers.llm_settings("none", None) == {"local_llm": False, "llm_base_url": None}
    assert bench_answers.llm_settings("http://h:1/v1", "m") == {
        "llm_base_url": "http://h:1/v1",
        "llm_model": "m",
    }
    with pytest.raises(ValueError, match="local, none or an http"):
        bench_answers.llm_settings("ollama", None)


def _fixture_report() -> dict[str, Any]:
    row = AnswerRow(
        id="q1",
        kind=QuestionKind.KEYWORD,
        question="How often?",
        answerable=True,
        mode="llm",
        answer="Every 200 hours [1].",
        own_words="Every 200 hours [1].",
        facts_own=(True,),
        facts_shown=(True,),
        citations=(),
        sentences=(),
        refused=False,
        out_of_range_citations=0,
        first_token_ms=2500.0,
        llm_first_token_ms=2000.0,
        total_ms=4000.0,
        prompt_tokens=900,
        completion_tokens=12,
        tokens_per_s=8.5,
    )
    machine = {"load_average": [1.0, 1.0, 1.0], "cores": 2}
    head = {
        "questions_file": "bench/data/answers_dev.jsonl",
        "questions": 1,
        "llm": "LLM: scripted",
        "index": {"documents": 2, "chunks": 5},
        "prompt_tokens_method": "approximate",
        "first_token_target_ms": 3000.0,
        "machine": machine,
        "command": "python -m bench.answers --limit 1",
    }
    return bench_answers.report_json([row], [1.5], head=head, complete=True)


def test_the_results_section_renders_from_the_json() -> None:
    text = bench_report.section_answers(json.loads(json.dumps(_fixture_report())))
    assert text.startswith("## Answers (dev question set)")
    assert "`python -m bench.answers --limit 1`" in text
    assert "| key-fact accuracy, the model's own words (shown or not) | 100% |" in text
    assert "| right and verified: every key fact, in the model's words, quote found" in text
    assert "| first token p50 / p95, s (question → first text) | 2.5 / 2.5 |" in text
    assert "| keyword | 1 | 100% | 100% | 100% | 0% | 0 | 2.5 |" in text
    assert "Not run" in bench_report.section_answers(None)
    assert "## Answers" in bench_report.render({}, None, _machine())


def _machine() -> dict[str, object]:
    return {
        "date": "today",
        "cpu": "cpu",
        "cores": 2,
        "memory_gb": 4,
        "platform": "linux",
        "python": "3.11",
        "torch": "2",
        "torch_threads": 2,
        "load_average": [1, 1, 1],
    }


def test_print_table_shows_every_measure(capsys: pytest.CaptureFixture[str]) -> None:
    bench_answers.print_table(_fixture_report())
    out = capsys.readouterr().out
    assert "key-fact accuracy, model's own words" in out
    assert re.search(r"first token p50 / p95 ms\s+2500 / 2500", out)
    assert "keyword" in out and "load average" in out


# ── end to end ─────────────────────────────────────────────────────

PAGES = {
    "pump.pdf": [
        "The Model X pump needs fresh oil every 200 hours of running.",
        "The Model X pump weighs 12 kilograms when it is empty.",
    ],
    "valve.pdf": ["The relief valve of the Model X opens at a pressure of 3 bar."],
}
QUESTIONS = [
    ("oil", "keyword", "pump.pdf", [1], [["200 hours"]], "How often does the pump need oil?"),
    (
        "weight",
        "numeric",
        "pump.pdf",
        [2],
        [["12 kilograms", "12 kg"]],
        "How much does the pump weigh?",
    ),
    ("valve", "keyword", "valve.pdf", [1], [["3 bar"]], "At what pressure does the valve open?"),
    ("torque", "unanswerable", "", [], [], "What torque do the pump's bolts need?"),
]
# The scripted model's reply to each question: the sentence it quotes, and its answer.
REPLIES = {
    "oil": (PAGES["pump.pdf"][0], "It needs fresh oil every 200 hours"),
    "weight": (PAGES["pump.pdf"][1], "It weighs 12 kilograms"),
    "valve": (PAGES["valve.pdf"][0], "The relief valve opens at 3 bar"),
}


def _reply(messages: list[dict[str, Any]]) -> str:
    """Quote, then answer, as the prompt asks; cite the quote's source and a number that does
    not exist besides."""
    user = messages[-1]["content"]
    question = user.split("Question: ", 1)[1].splitlines()[0]
    qid = next(q[0] for q in QUESTIONS if q[5] == question)
    if qid not in REPLIES:
        return "Answer: The documents do not say."
    quote, claim = REPLIES[qid]
    sources = re.findall(r'<source id="(\d+)"[^>]*>(.*?)</source>', user, re.DOTALL)
    number = next((n for n, text in sources if quote in " ".join(text.split())), "1")
    return f'Quote [{number}]: "{quote}"\nAnswer: {claim} [{number}][42].'


@pytest.mark.integration
@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_on_generated_pdfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    for name, pages in PAGES.items():
        make_text_pdf(pdfs / name, pages)
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(
            json.dumps(
                {"id": q, "question": text, "kind": kind, "file": f, "pages": p, "facts": facts}
            )
            + "\n"
            for q, kind, f, p, facts, text in QUESTIONS
        )
    )
    # No CLIP: these PDFs have no images, and it is the slowest model to load.
    monkeypatch.setenv("RAG_IMAGE_MODEL", "")
    out = tmp_path / "answers.json"
    with ScriptedLLMServer(_reply) as server:
        argv = [
            f"--questions={questions}",
            f"--pdfs={pdfs}",
            f"--workdir={tmp_path / 'work'}",
            f"--llm={server.base_url}",
            f"--llm-model={server.model}",
            f"--json={out}",
        ]
        assert bench_answers.main(argv) == 0
        report = json.loads(out.read_text())
        # The second run reuses the index: nothing is ingested again.
        assert bench_answers.main([*argv, "--limit=1"]) == 0
        picked = tmp_path / "picked.json"
        assert bench_answers.main([*argv[:-1], f"--json={picked}", "--ids=torque"]) == 0
        assert [r["id"] for r in json.loads(picked.read_text())["rows"]] == ["torque"]
        with pytest.raises(SystemExit) as refused:
            bench_answers.main([*argv, "--ids=oil,no-such-id"])
        assert refused.value.code == 2
    assert report["complete"] and report["index"]["documents"] == 2
    rows = {r["id"]: r for r in report["rows"]}
    assert rows["oil"]["mode"] == "llm", rows["oil"]
    assert rows["oil"]["correct_own"] and rows["oil"]["correct_shown"]
    assert rows["oil"]["quote_located"] and rows["oil"]["out_of_range_citations"] == 1
    assert [c["file"] for c in rows["oil"]["citations"]] == ["pump.pdf"]
    assert rows["oil"]["sentences"] and rows["oil"]["sentences"][0]["supported"]
    # The fact was in the evidence the model read, and its reply is kept as written.
    assert rows["oil"]["facts_read"] == [True] and rows["oil"]["correct_read"]
    assert rows["oil"]["model_text"].startswith("Quote [")
    assert rows["torque"]["refused"]
    assert rows["oil"]["first_token_ms"] > 0 and rows["oil"]["prompt_tokens"] > 50
    scores = score([AnswerRow.from_json(r) for r in report["rows"]])
    assert scores.to_json() == report["scores"]
    assert scores.refusal_recall == 1.0 and scores.fact_accuracy_verified == 1.0
    assert "approximate" in report["prompt_tokens_method"]
