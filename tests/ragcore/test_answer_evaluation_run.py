"""A question set asked of a tiny library with a scripted model: skipped files, limit, scores."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from ragcore.errors import EvaluationError
from ragcore.evaluation.answers import (
    AnswerCase,
    AnswerRow,
    in_library,
    read_cases,
    run_question_set,
)
from ragcore.generation.llm import ChatLLM
from ragcore.runtime import LLMChoice, Runtime
from ragcore.testing.llm_server import ScriptedLLMServer
from tests.ragcore.library_runtime import runtime_with_texts

FERRY = "Ferries to the island leave from pier seven at nine, noon and five."
DOCS = {
    "harbour.md": "# Harbour\n\nThe crane lifts containers of forty tonnes.\n\n" + FERRY + "\n",
    "canteen.md": "# Canteen\n\nThe canteen serves lentil soup on Mondays.\n",
}
ROWS: list[dict[str, Any]] = [
    {"id": "ferry", "question": "When do the ferries to the island leave from pier seven?",
     "kind": "keyword", "file": "harbour.md", "pages": [1], "facts": [["nine"], ["noon"]]},
    {"id": "manual", "question": "How often does the pump need oil?", "kind": "numeric",
     "file": "pump manual.pdf", "pages": [2], "facts": [["200 hours"]]},
    {"id": "both", "question": "What do the crane and the canteen serve?",
     "kind": "cross-document", "file": ["harbour.md", "menu.pdf"], "pages": [[1], [1]],
     "facts": [["containers"]]},
    {"id": "wind", "question": "At what wind speed does the crane stop working?",
     "kind": "unanswerable", "file": "", "pages": [], "facts": []},
]  # fmt: skip


def _cases(rows: list[dict[str, Any]] = ROWS) -> list[AnswerCase]:
    return read_cases([json.dumps(r) for r in rows], source="test set")


def _reply(messages: list[dict[str, Any]]) -> str:
    """Quote the ferry sentence when asked about ferries and given it; otherwise decline."""
    content = messages[-1]["content"]
    sources = re.findall(r'<source id="(\d+)"[^>]*>(.*?)</source>', content, re.DOTALL)
    question = content.rsplit("Question:", 1)[-1]
    if "ferries" in question.lower():
        number = next((n for n, text in sources if "Ferries" in text), None)
        if number is not None:
            return f'Quote [{number}]: "{FERRY}"\nAnswer: They leave at nine, noon and five [{number}].'
    return "The documents do not say."


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = runtime_with_texts(tmp_path_factory.mktemp("question-set"), DOCS)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def choice() -> Iterator[LLMChoice]:
    with ScriptedLLMServer(_reply, model="harbour-llm", delay=0.002) as server:
        yield LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted harbour-llm")


def test_in_library_keeps_cases_whose_every_file_is_there() -> None:
    present, absent = in_library(_cases(), {"harbour.md", "canteen.md"})
    assert [c.id for c in present] == ["ferry", "wind"]  # an unanswerable one names no file
    assert [c.id for c in absent] == ["manual", "both"]


def test_read_cases_names_the_source_and_line_of_a_bad_row() -> None:
    with pytest.raises(ValueError, match=r"upload\.jsonl line 2: .*kind 'riddle'"):
        read_cases(
            [json.dumps(ROWS[0]), json.dumps({**ROWS[1], "kind": "riddle"})],
            source="upload.jsonl",
        )


def test_a_question_set_is_asked_skipping_questions_about_files_not_in_the_library(
    runtime: Runtime, choice: LLMChoice
) -> None:
    seen: list[tuple[int, int, str]] = []

    def progress(done: int, total: int, row: AnswerRow) -> None:
        seen.append((done, total, row.id))

    run = run_question_set(_cases(), runtime, choice, source="test set", progress=progress)

    assert seen == [(1, 2, "ferry"), (2, 2, "wind")]
    assert [c.id for c in run.skipped] == ["manual", "both"]
    assert run.missing_files == ("menu.pdf", "pump manual.pdf")
    assert (run.questions, run.beyond_limit, run.llm) == (4, 0, "LLM: scripted harbour-llm")
    ferry, wind = run.rows
    assert ferry.mode == "llm" and ferry.correct_own and not ferry.refused
    assert ferry.located and ferry.tokens_per_s is not None and ferry.tokens_per_s > 0
    assert "tokens_per_s" in ferry.timings  # what the System view's speed record reads
    assert wind.refused
    scores = run.scores
    assert (scores.questions, scores.answerable, scores.unanswerable) == (2, 1, 1)
    assert scores.fact_accuracy_own == 1.0 and scores.location_recall == 1.0
    assert scores.refusal_recall == 1.0 and scores.refusal_precision == 1.0
    assert scores.out_of_range_citations == 0 and scores.errors == 0
    assert set(scores.by_kind) == {"keyword", "unanswerable"}


def test_the_limit_asks_the_first_questions_that_can_be_asked(
    runtime: Runtime, choice: LLMChoice
) -> None:
    run = run_question_set(_cases(), runtime, choice, source="test set", limit=1)
    assert [r.id for r in run.rows] == ["ferry"]
    assert run.beyond_limit == 1 and len(run.skipped) == 2
    with pytest.raises(ValueError, match="limit must be >= 0"):
        run_question_set(_cases(), runtime, choice, source="test set", limit=-1)


def test_a_set_about_none_of_the_librarys_files_is_refused_plainly(
    runtime: Runtime, choice: LLMChoice
) -> None:
    with pytest.raises(
        EvaluationError, match=r"The 1 answerable question\(s\) cannot be asked: .*pump manual\.pdf"
    ):
        run_question_set(_cases([ROWS[1], ROWS[3]]), runtime, choice, source="other set")
    with pytest.raises(EvaluationError, match="holds no questions"):
        run_question_set([], runtime, choice, source="empty.jsonl")
