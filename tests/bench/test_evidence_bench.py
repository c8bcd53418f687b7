"""`python -m bench.evidence`: its budget argument."""

from __future__ import annotations

import argparse

import pytest

from bench.evidence import parse_budget
from ragcore.generation.evidence import EvidenceBudget


def test_a_budget_is_tokens_sentences_sources() -> None:
    assert parse_budget("300,8,4") == EvidenceBudget(tokens=300, sentences=8, sources=4)


@pytest.mark.parametrize(
    ("text", "message"), [("300,8", "tokens,sentences,sources"), ("0,1,1", "tokens must be >= 1")]
)
def test_a_bad_budget_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse_budget(text)
