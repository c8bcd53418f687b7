"""The answer benchmark's measures on hand-made rows: facts, refusals, cited pages, percentiles."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ragcore.evaluation.answers import (
    AnswerCase,
    AnswerRow,
    CitedLocation,
    Location,
    QuestionKind,
    SentenceSupport,
    citation_recall,
    citation_support,
    contains,
    evidence_accuracy,
    fact_accuracy,
    fact_found,
    is_refusal,
    load_cases,
    location_precision,
    location_recall,
    normalise,
    own_words,
    percentile,
    quote_location_recall,
    refusal_precision,
    refusal_recall,
    score,
    verified_accuracy,
)

# ── facts ──────────────────────────────────────────────────────────


def test_normalise_folds_case_ligatures_dashes_numbers_and_markers() -> None:
    assert normalise("Zero‑Trust  [2] architecture has ﬁve\ntenets") == (
        "zero trust architecture has 5 tenets"
    )
    assert normalise("about 1,000 agencies") == "about 1000 agencies"
    assert normalise("secu-\nrity categories") == "security categories"
    assert normalise("“quoted” — text") == '"quoted" text'


def test_contains_matches_whole_words_only() -> None:
    assert contains("Published in 2015.", "2015")
    assert not contains("Published in 2015.", "5")
    assert not contains("the spokesperson", "SP")
    assert contains("FIPS  PUB 199 [1].", "fips pub 199")
    assert contains("It has 5 essential characteristics", "five")
    assert contains("on-demand self-service", "on demand self service")
    assert not contains("anything", "")


def test_a_fact_is_found_by_any_of_its_surface_forms() -> None:
    fact = ["FIPS 199", "FIPS PUB 199"]
    assert fact_found(fact, "See FIPS PUB 199 for the categories.")
    assert fact_found(fact, "FIPS 199 defines them.")
    assert not fact_found(fact, "FIPS 200 defines them.")


# ── what the model wrote, refusals ─────────────────────────────────


def test_own_words_are_the_models_answer_line_shown_or_not() -> None:
    assert own_words("llm", "The categories are low, moderate and high [1].") == (
        "The categories are low, moderate and high [1]."
    )
    # Not shown (its quote was not on the page): the reply's answer line, without its quote.
    reply = 'Quote [1]: "Low impact."\nAnswer: The categories are low and high [1].'
    extract = "The model's answer could not be checked against your documents; they say:\n- x [1]"
    assert own_words("extract", extract, reply) == "The categories are low and high [1]."
    assert own_words("extractive", "No language model is configured; …\n- quote [1]") == ""
    assert own_words("not_found", "I could not find this in your documents.") == ""


@pytest.mark.parametrize(
    ("mode", "own", "refused"),
    [
        ("not_found", "", True),
        ("extract", "The documents do not say.", True),
        ("llm", "The sources do not specify the torque value [1].", True),
        ("llm", "I could not find a key size in the documents.", True),
        ("llm", "There is no information about the price.", True),
        ("llm", "FIPS 199 defines three categories [1].", False),
        ("extractive", "", False),
    ],
)
def test_refusal_is_read_from_the_mode_or_the_models_words(
    mode: str, own: str, refused: bool
) -> None:
    assert is_refusal(mode, own) is refused


# ── the question set ───────────────────────────────────────────────


def test_cases_read_single_cross_document_and_unanswerable_rows() -> None:
    single = AnswerCase.from_json(
        {
            "id": "a",
            "question": "How many?",
            "kind": "numeric",
            "file": "x.pdf",
            "pages": [2, 3],
            "facts": [["three", "3"]],
        }
    )
    assert single.locations == (Location("x.pdf", 2), Location("x.pdf", 3))
    assert single.answerable and single.files == ("x.pdf",)
    cross = AnswerCase.from_json(
        {
            "id": "b",
            "question": "Compare",
            "kind": "cross-document",
            "file": ["x.pdf", "y.pdf"],
            "pages": [[1], [4, 5]],
            "facts": [["a"], ["b"]],
        }
    )
    assert cross.locations == (Location("x.pdf", 1), Location("y.pdf", 4), Location("y.pdf", 5))
    none = AnswerCase.from_json(
        {
            "id": "c",
            "question": "Torque?",
            "kind": "unanswerable",
            "file": "",
            "pages": [],
            "facts": [],
        }
    )
    assert not none.answerable and none.locations == () and none.facts == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "trivia"}, "kind 'trivia'"),
        ({"pages": []}, "pages of x.pdf"),
        ({"facts": [[]]}, "non-empty surface form"),
        ({"facts": []}, "needs a file, pages and facts"),
        ({"kind": "unanswerable"}, "has no file"),
        ({"file": ["x.pdf", "y.pdf"], "pages": [[1]]}, "2 file(s) but 1 page list"),
        ({"kind": "cross-document"}, "two files or more"),
        ({"question": "  "}, "question is empty"),
    ],
)
def test_bad_cases_are_refused_naming_the_problem(change: dict[str, object], message: str) -> None:
    row = {"id": "q", "question": "Q?", "kind": "keyword", "file": "x.pdf", "pages": [1]}
    row |= {"facts": [["f"]]} | change
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AnswerCase.from_json(row)


def test_load_cases_refuses_a_repeated_id(tmp_path: Path) -> None:
    row = {"id": "q", "question": "Q?", "kind": "keyword", "file": "x.pdf", "pages": [1]}
    row["facts"] = [["f"]]
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(row) + "\n\n" + json.dumps(row) + "\n")
    with pytest.raises(ValueError, match="line 3: the id 'q' is used twice"):
        load_cases(path)


# ── scores over hand-made rows ─────────────────────────────────────


def _row(**changes: object) -> AnswerRow:
    base = AnswerRow(
        id="q",
        kind=QuestionKind.KEYWORD,
        question="Q?",
        answerable=True,
        mode="llm",
        answer="",
        own_words="",
        facts_own=(True,),
        facts_shown=(True,),
        citations=(),
        sentences=(),
        refused=False,
        out_of_range_citations=0,
        first_token_ms=1000.0,
        llm_first_token_ms=800.0,
        total_ms=2000.0,
        prompt_tokens=100,
        completion_tokens=20,
        tokens_per_s=10.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _cite(correct: bool, *, own: bool = True, supported: bool = True) -> CitedLocation:
    return CitedLocation(1, "x.pdf", 1, correct=correct, supported=supported, own=own)


def test_fact_accuracy_counts_answerable_questions_with_every_fact() -> None:
    rows = [
        _row(facts_own=(True, True), facts_shown=(True, True)),
        _row(facts_own=(True, False), facts_shown=(True, True)),  # the appended passage had it
        _row(facts_own=(False,), facts_shown=(False,)),
        _row(answerable=False, kind=QuestionKind.UNANSWERABLE, facts_own=(), facts_shown=()),
    ]
    assert fact_accuracy(rows) == pytest.approx(1 / 3, abs=1e-4)
    assert fact_accuracy(rows, shown=True) == pytest.approx(2 / 3, abs=1e-4)
    assert fact_accuracy([]) is None


def test_evidence_accuracy_counts_facts_the_model_was_given() -> None:
    rows = [
        _row(facts_read=(True, True), facts_own=(False,)),  # given, and the model missed it
        _row(facts_read=(True, False)),  # evidence picking lost a fact
        _row(facts_read=()),  # no evidence read (not found)
        _row(answerable=False, kind=QuestionKind.UNANSWERABLE, facts_read=()),
    ]
    assert evidence_accuracy(rows) == pytest.approx(1 / 3, abs=1e-4)
    assert score(rows).fact_accuracy_read == pytest.approx(1 / 3, abs=1e-4)


def test_location_precision_and_recall() -> None:
    rows = [
        _row(citations=(_cite(True), _cite(False))),
        _row(citations=(_cite(False, own=False),)),
        _row(citations=()),
        # Unanswerable questions have no expected page: left out of both.
        _row(answerable=False, citations=(_cite(False),)),
    ]
    assert location_precision(rows) == pytest.approx(1 / 3, abs=1e-4)
    assert location_precision(rows, own_only=True) == 0.5
    assert location_recall(rows) == pytest.approx(1 / 3, abs=1e-4)


def test_alce_citation_recall_averages_backed_claims_per_answer() -> None:
    backed = SentenceSupport("a b c", cited=True, supported=True)
    unbacked = SentenceSupport("a b c", cited=True, supported=False)
    uncited = SentenceSupport("a b c", cited=False, supported=False)
    rows = [
        _row(sentences=(backed, backed)),  # 1.0
        _row(sentences=(backed, unbacked, uncited, uncited)),  # 0.25
        _row(sentences=(uncited,), refused=True),  # a refusal makes no claims
        _row(sentences=()),
    ]
    assert citation_recall(rows) == pytest.approx(0.625)
    assert citation_support([_row(citations=(_cite(True), _cite(True, supported=False)))]) == 0.5


def test_refusal_precision_and_recall() -> None:
    no = {"answerable": False, "kind": QuestionKind.UNANSWERABLE}
    rows = [
        _row(**no, refused=True),
        _row(**no, refused=False),
        _row(refused=True),  # a false refusal
        _row(refused=False),
    ]
    assert refusal_precision(rows) == 0.5
    assert refusal_recall(rows) == 0.5
    assert refusal_precision([_row()]) is None


def test_percentile_interpolates_and_skips_unmeasured_values() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, None], 50) == 2.5
    assert percentile([10.0, 20.0], 95) == 19.5
    assert percentile([None], 50) is None


def test_verified_accuracy_needs_the_models_shown_answer_and_every_fact() -> None:
    rows = [
        _row(mode="llm", facts_shown=(True,), quote_located=True),
        _row(mode="extract", facts_shown=(True,), facts_own=(False,)),  # the documents' words
        _row(mode="llm", facts_shown=(False,)),
        _row(answerable=False, kind=QuestionKind.UNANSWERABLE, facts_own=(), facts_shown=()),
    ]
    assert verified_accuracy(rows) == pytest.approx(1 / 3, abs=1e-4)
    assert quote_location_recall(rows) == pytest.approx(1 / 3, abs=1e-4)


def test_score_aggregates_by_kind_and_against_the_first_token_target() -> None:
    rows = [
        _row(first_token_ms=1000.0, out_of_range_citations=2),
        _row(first_token_ms=5000.0, kind=QuestionKind.TABLE, facts_own=(False,)),
        _row(first_token_ms=None, mode="error", error="boom", facts_own=(False,)),
    ]
    s = score(rows)
    assert s.questions == 3 and s.errors == 1 and s.modes == {"llm": 2, "error": 1}
    assert s.first_token_within_target == 0.5
    assert s.first_token_p50_ms == 3000.0
    assert s.out_of_range_citations == 2 and s.answers_with_out_of_range == 1
    assert s.by_kind["table"].fact_accuracy_own == 0.0
    assert s.by_kind["keyword"].questions == 2
    assert json.loads(json.dumps(s.to_json()))["by_kind"]["table"]["questions"] == 1


def test_rows_round_trip_through_json() -> None:
    row = _row(
        citations=(_cite(True),),
        sentences=(SentenceSupport("a b c", True, True),),
        facts_read=(True, False),
        model_text='Quote [1]: "a b c"\nAnswer: a [1]',
    )
    assert AnswerRow.from_json(json.loads(json.dumps(row.to_json()))) == row
