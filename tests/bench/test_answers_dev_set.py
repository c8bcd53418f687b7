"""The dev question set: its schema, its spread, and every fact found on the pages it cites."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

import pytest
from pypdf import PdfReader

from bench.answers import DEFAULT_QUESTIONS
from bench.common import shared_data_dir
from ragcore.evaluation.answers import AnswerCase, QuestionKind, contains, load_cases

PDFS = shared_data_dir() / "pdfs"
README = DEFAULT_QUESTIONS.parent / "README.md"


@pytest.fixture(scope="module")
def cases() -> list[AnswerCase]:
    return load_cases(DEFAULT_QUESTIONS)


def test_the_set_is_big_and_spread_over_kinds_and_files(cases: list[AnswerCase]) -> None:
    kinds = Counter(c.kind for c in cases)
    assert len(cases) >= 44
    assert set(kinds) == set(QuestionKind), f"kinds missing: {set(QuestionKind) - set(kinds)}"
    assert kinds[QuestionKind.UNANSWERABLE] >= 6
    assert kinds[QuestionKind.CROSS_DOCUMENT] >= 3
    assert len({f for c in cases for f in c.files}) >= 12
    assert not [f for c in cases for f in c.files if f.startswith("scanned_")]


def test_questions_are_not_repeated(cases: list[AnswerCase]) -> None:
    questions = Counter(" ".join(c.question.lower().split()) for c in cases)
    assert [q for q, n in questions.items() if n > 1] == []


def test_the_readme_counts_match_the_set(cases: list[AnswerCase]) -> None:
    table = dict(re.findall(r"^\| `([a-z-]+)` \| (\d+) \|$", README.read_text(), re.MULTILINE))
    expected = Counter(c.kind.value for c in cases)
    assert {k: int(v) for k, v in table.items()} == dict(expected) | {"total": len(cases)}


@cache
def _page_text(name: str, page: int) -> str:
    return PdfReader(PDFS / name).pages[page - 1].extract_text() or ""


@pytest.mark.skipif(not PDFS.is_dir(), reason=f"no shared PDFs at {PDFS}")
def test_every_surface_form_of_every_fact_is_on_a_cited_page(cases: list[AnswerCase]) -> None:
    problems = []
    for case in cases:
        for name in case.files:
            if not (PDFS / name).is_file():
                problems.append(f"{case.id}: no file {name}")
        if problems:
            continue
        for location in case.locations:
            pages = len(PdfReader(PDFS / location.file).pages)
            if location.page > pages:
                problems.append(
                    f"{case.id}: {location.file} has {pages} pages, not {location.page}"
                )
        texts = [_page_text(loc.file, loc.page) for loc in case.locations]
        for fact in case.facts:
            for surface in fact:
                if not any(contains(text, surface) for text in texts):
                    problems.append(f"{case.id}: {surface!r} is on none of {case.locations}")
    assert problems == []
