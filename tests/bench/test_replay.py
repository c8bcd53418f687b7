"""The replayed model: the app's own reply handling gets what the recorded run's model wrote."""

from __future__ import annotations

import json
from pathlib import Path

from bench.replay import ReplayLLM
from ragcore.generation.quoted import (
    QUOTE_PREFILL,
    finish_restated_answer,
    quote_then_answer,
    through_answer_line,
)

QUESTION = "When was FIPS 199 published?"
# The model's answer line only restated the question; it was then made to finish it.
RECORDED = (
    'Quote [1]: "FIPS 199 was published in February 2004."\n'
    "Answer: FIPS 199 was published [1].\n"
    "Answer: FIPS 199 was published: in February 2004 [1]."
)


def _messages(question: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "Quote, then answer."},
        {"role": "user", "content": f"Question: {question}"},
    ]


def test_a_replay_goes_through_the_apps_reply_handling_as_recorded() -> None:
    llm = ReplayLLM({QUESTION: RECORDED, "Other?": 'Quote [2]: "x"\nAnswer: y [2].'})
    messages = _messages(QUESTION)
    reply = "".join(
        finish_restated_answer(
            through_answer_line(quote_then_answer(llm, messages)),
            llm,
            messages,
            lambda answer: answer.startswith("FIPS 199 was published ["),
        )
    )
    assert reply == RECORDED


def test_a_question_the_run_did_not_ask_gets_an_empty_reply() -> None:
    llm = ReplayLLM({QUESTION: RECORDED})
    assert "".join(llm.stream(_messages("Who wrote it?"), prefill=QUOTE_PREFILL)) == QUOTE_PREFILL


def test_replies_are_read_from_a_runs_json(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    rows = [{"question": QUESTION, "model_text": RECORDED}, {"question": "Q?", "model_text": ""}]
    run.write_text(json.dumps({"rows": rows}), encoding="utf-8")
    llm = ReplayLLM.from_run(run)
    assert llm.replies == {QUESTION: RECORDED, "Q?": ""}
    assert llm.describe() == "replayed replies (no model)"
