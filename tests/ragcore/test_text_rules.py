"""The shared text rules: the stemmer agrees with the catalog's BM25 index, one marker pattern."""

from __future__ import annotations

import sqlite3

import pytest

from ragcore.text_rules import CITATION_MARKER, content_words, numbers, stem, strip_markers

WORDS = [
    "characteristics",
    "computing",
    "computers",
    "studies",
    "study",
    "using",
    "used",
    "uses",
    "towers",
    "built",
    "builds",
    "running",
    "relational",
    "conditional",
    "happily",
    "agreed",
    "ponies",
    "caresses",
    "hopping",
    "meetings",
    "nationality",
    "generalization",
    "Inspections",
    "TECHNICIANS",
]


def fts5_porter_terms(words: list[str]) -> list[str]:
    """The terms SQLite FTS5's ``porter unicode61`` tokenizer indexes for each word."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
    terms = []
    for word in words:
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t VALUES (?)", (word,))
        ((term,),) = conn.execute("SELECT term FROM v").fetchall()
        terms.append(term)
    conn.close()
    return terms


def test_stem_is_what_the_bm25_index_stores() -> None:
    assert [stem(w) for w in WORDS] == fts5_porter_terms(WORDS)


def test_content_words_fold_inflections_and_drop_stop_words() -> None:
    assert content_words("The towers were built") == content_words("a tower built")
    assert content_words("use") == content_words("used") == content_words("using") == {"us"}


@pytest.mark.parametrize(
    "marker", ["[1]", "[1, 3]", "[2-4]", "[2–4]", "[source 2]", "[Sources 1; 3]", "[ 7 ]"]
)
def test_every_marker_form_is_one_marker(marker: str) -> None:
    assert CITATION_MARKER.fullmatch(marker)
    assert strip_markers(f"Paris is the capital {marker}.") == "Paris is the capital."


def test_brackets_that_are_not_citations_stay() -> None:
    assert CITATION_MARKER.search("see [a] and [1a] and [x, 2]") is None


def test_numbers_are_read_in_digits_and_words() -> None:
    assert numbers("Five tenets, 2,000 gates and 3.5 GHz") == {"5", "2000", "3.5"}
    assert numbers("five") == numbers("5")
    # A pronoun and a multiplier are not numbers on their own.
    assert numbers("the first one costs two hundred") == {"2"}
