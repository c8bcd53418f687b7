"""Turn whatever a person typed into an FTS5 query that cannot fail to parse."""

from __future__ import annotations

import re

# Runs of letters and digits in any script, like FTS5's unicode61 tokenizer (which also treats
# "_" as a separator, hence [^\W_]).
_TERM = re.compile(r"[^\W_]+")

# Words so common that they only add noise to a keyword ranking. Kept short on purpose: BM25's
# IDF already discounts frequent words, this only drops ones that carry no meaning in a question.
_STOP_WORDS_TEXT = """
a an and are as at be but by can could did do does for from had has have how i if in is it
its me my no nor not of on or our so than that the their them then there these they this
to was we were what when where which who whom why will with would you your
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

# A pasted page of text would make an OR of hundreds of terms: slow and no better at ranking.
MAX_TERMS = 64


def query_terms(text: str) -> list[str]:
    """The distinct, lower-cased, non-stop-word terms of ``text``, in order of first appearance."""
    terms: list[str] = []
    seen: set[str] = set()
    for term in _TERM.findall(text.lower()):
        if term in STOP_WORDS or term in seen:
            continue
        seen.add(term)
        terms.append(term)
    return terms[:MAX_TERMS]


def has_terms(text: str) -> bool:
    """Whether ``text`` holds a word or number to search for (emoji and punctuation are none)."""
    return _TERM.search(text) is not None


def sanitize_fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression OR-ing every term of ``text`` as a quoted string; None if none.

    Quoting every term makes FTS5 treat operators (AND, OR, NOT, NEAR), ``*``, ``^``, ``:``,
    parentheses and hyphens as plain text, so no input can raise a syntax error.

    >>> sanitize_fts_query('NOT "quoted" (near) co-op*')
    '"quoted" OR "near" OR "co" OR "op"'
    """
    terms = query_terms(text)
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
