"""Where key facts are lost: the retrieved passages against the evidence the model reads."""

from __future__ import annotations

import pytest

from ragcore.evaluation.answers import AnswerCase
from ragcore.evaluation.evidence import evidence_recall
from ragcore.generation.evidence import EvidenceBudget, EvidenceSelector
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.hits import passage_hit

FILLER = " ".join(
    f"Section {n} describes the housing colour and the paint in detail." for n in range(8)
)


def _case(case_id: str, question: str, facts: list[list[str]]) -> AnswerCase:
    return AnswerCase.from_json(
        {"id": case_id, "question": question, "kind": "keyword", "file": "pump.pdf",
         "pages": [1], "facts": facts}
    )  # fmt: skip


def test_a_fact_the_picker_leaves_out_is_lost_before_the_model() -> None:
    oil = _case("oil", "How often does the pump need oil?", [["200 hours"]])
    seals = _case("seals", "Who makes the pump seals?", [["Acme"]])
    none = AnswerCase.from_json(
        {"id": "n", "question": "Torque?", "kind": "unanswerable", "file": "", "pages": [],
         "facts": []}
    )  # fmt: skip
    passages = {
        "oil": [passage_hit("The pump needs oil every 200 hours of running time. " + FILLER)],
        # The fact is retrieved, but in a sentence that shares no word with the question.
        "seals": [passage_hit(FILLER + " Acme Ltd supplies them.", number=2)],
        "n": [],
    }
    selector = EvidenceSelector(
        embedder=HashingEmbedder(), budget=EvidenceBudget(tokens=20, sentences=1, sources=1)
    )
    row = evidence_recall([oil, seals, none], passages, selector, lambda text: len(text) // 4)
    assert row.questions == 2  # the unanswerable question has no facts to find
    assert row.in_passages == 1.0
    assert row.in_evidence == 0.5 and row.missing == ("seals",)
    assert row.tokens_p50 is not None and row.tokens_p50 > 0
    assert row.to_json()["budget"] == {"tokens": 20, "sentences": 1, "sources": 1}


def test_a_set_without_answerable_questions_is_refused() -> None:
    none = AnswerCase.from_json(
        {"id": "n", "question": "Torque?", "kind": "unanswerable", "file": "", "pages": [],
         "facts": []}
    )  # fmt: skip
    with pytest.raises(ValueError, match="no answerable question"):
        evidence_recall([none], {}, EvidenceSelector(), len)
