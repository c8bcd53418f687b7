"""Find a quoted sentence in the passage it cites: exact after normalising, else close enough.

A quote is the strongest citation check there is: either the words are on the page or they
are not. Word overlap (``citations.check_citations``) cannot tell "NIST coined zero trust"
from "Forrester coined zero trust" when the page names both; a quote that must be found on the
page can. The match also gives the exact span, so the source card highlights those words.

Normalising makes PDF text and a model's copy of it comparable: case, curly quotes and
dashes, runs of white space, hyphenation across a line break ("pas- sages" / "passages"), and
footnote digits glued to a word ("Kindervag1"). Offsets into the original passage are kept
through all of it, so the span can be highlighted in the text as stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from ragcore.text_rules import content_words, numbers

# A quote counts when the best window of the passage matches it this well (rapidfuzz's
# partial ratio, 0-100): one or two slips of the model's copy in a sentence pass, a changed
# name or number in a short clause does not (see tests/ragcore/test_quotes.py).
MIN_SCORE = 92.0
# Shorter quotes must be found exactly: a few fuzzy characters prove nothing.
MIN_FUZZY_CHARS = 24
# Fewer characters than this is not a quote anyone can check ("yes", "[1]").
MIN_QUOTE_CHARS = 8

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00ad": "",  # soft hyphen
        "\u00a0": " ",
    }
)
_MARKER = re.compile(r"\[\s*\d+(?:\s*[,;\-–]\s*\d+)*\s*\]")
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")


@dataclass(frozen=True)
class Normalised:
    """``text`` normalised, with ``origin[i]`` the index in the original of ``text[i]``."""

    text: str
    origin: tuple[int, ...]

    def span(self, begin: int, end: int) -> tuple[int, int]:
        """The original ``(start, end)`` of normalised ``text[begin:end]``."""
        if not self.origin or begin >= end:
            return (0, 0)
        return (self.origin[begin], self.origin[end - 1] + 1)


def normalise(text: str) -> Normalised:
    """Lowercase, unify quotes and dashes, collapse white space, undo PDF hyphenation and
    footnote digits, keeping where each character came from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, raw in enumerate(text):
        for char in unicodedata.normalize("NFKC", raw).translate(_TRANSLATE).lower():
            if char.isspace():
                if chars and chars[-1] != " ":
                    chars.append(" ")
                    origin.append(index)
                continue
            chars.append(char)
            origin.append(index)
    out = "".join(chars)
    keep = [True] * len(out)
    for match in _GLUE.finditer(out):
        # A hyphen (and the space after it) inside a word, or digits glued to its end.
        for i in range(match.start(1), match.end(1)):
            keep[i] = False
    text_out = "".join(c for c, k in zip(out, keep, strict=True) if k)
    origin_out = tuple(o for o, k in zip(origin, keep, strict=True) if k)
    stripped = text_out.strip()
    lead = len(text_out) - len(text_out.lstrip())
    return Normalised(stripped, origin_out[lead : lead + len(stripped)])


# "pas- sages", "pas-sages", "well-known": the hyphen goes, so either spelling matches the
# other; "Kindervag1," / "CSF2 " (a footnote number): the digits go. Both sides of a comparison
# are normalised alike, so what is lost ("sha256" -> "sha") is lost on both.
_GLUE = re.compile(r"(?<=[a-z])(- ?(?=[a-z])|\d{1,2}(?=[^a-z0-9]|$))")


@dataclass(frozen=True)
class QuoteMatch:
    """Where a quote was found: source number, span in that passage's text, and how well."""

    number: int
    start: int
    end: int
    score: float  # 100 for an exact match after normalising

    @property
    def exact(self) -> bool:
        return self.score >= 100.0


def clean_quote(quote: str) -> str:
    """The quote without citation markers and the quotation marks around it."""
    text = _MARKER.sub("", quote).strip()
    return text.strip(" \"'“”‘’«»").strip()


def _parts(quote: str) -> list[str]:
    # "The framework ... is voluntary": each side of an ellipsis must be found on its own.
    return [p for p in _ELLIPSIS.split(quote) if len(p.strip()) >= MIN_QUOTE_CHARS // 2]


def locate(
    quote: str, passage: str, *, min_score: float = MIN_SCORE
) -> tuple[int, int, float] | None:
    """The ``(start, end, score)`` in ``passage`` of the words ``quote`` copies, or None."""
    quote = clean_quote(quote)
    if len(quote) < MIN_QUOTE_CHARS:
        return None
    haystack = normalise(passage)
    spans: list[tuple[int, int, float]] = []
    for part in _parts(quote) or [quote]:
        needle = normalise(part).text.strip(" .,;:")
        if not needle:
            continue
        at = haystack.text.find(needle)
        if at >= 0:
            spans.append((at, at + len(needle), 100.0))
            continue
        if len(needle) < MIN_FUZZY_CHARS:
            return None
        found = fuzz.partial_ratio_alignment(needle, haystack.text, score_cutoff=min_score)
        if found is None:
            return None
        spans.append((found.dest_start, found.dest_end, float(found.score)))
    if not spans:
        return None
    begin = min(s[0] for s in spans)
    end = max(s[1] for s in spans)
    start, stop = _whole_words(passage, *haystack.span(begin, end))
    return (start, stop, min(s[2] for s in spans))


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a fuzzy match that stops inside a word ("para" of "para-digms") to whole words."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and (text[end].isalnum() or (text[end] == "-" and end + 1 < len(text))):
        if text[end] == "-" and not text[end + 1].isalnum() and text[end + 1] != "\n":
            break
        end += 1
        while end < len(text) and text[end] == "\n" and text[end - 1] == "-":
            end += 1
    return start, end


def find_quote(
    quote: str, passages: Sequence[str], *, cited: int | None = None, min_score: float = MIN_SCORE
) -> QuoteMatch | None:
    """The best place among ``passages`` (source n is ``passages[n-1]``) that ``quote`` copies.

    The passage the model ``cited`` is tried first and wins a tie; a quote found only in
    another passage is attributed to that one, since the words are what can be checked.
    """
    order = list(range(1, len(passages) + 1))
    if cited is not None and 1 <= cited <= len(passages):
        order.remove(cited)
        order.insert(0, cited)
    best: QuoteMatch | None = None
    for number in order:
        found = locate(quote, passages[number - 1], min_score=min_score)
        if found is None:
            continue
        match = QuoteMatch(number, found[0], found[1], found[2])
        if match.exact:
            return match
        if best is None or match.score > best.score:
            best = match
    return best


# A table's row is a line of cells between bars, as extraction writes tables (Markdown).
_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.MULTILINE)
# A table's rule under its header row: "| --- | --- |".
_RULE_ROW = re.compile(r"[|\s:\-]*")
# An identifier of a table's row, letters and digits joined by stops or hyphens: "CT.DP-P",
# "ID.AM-1", "PS.3.2". Like a number, it names one row.
_CODE = re.compile(r"\b[A-Z]{1,4}(?:[.\-][A-Z0-9]{1,4})+\b")
# Of the quote's words (numbers aside), at least this share must be in the row, and two at
# least: "Burbank had 90 jobs affected by the closure." holds "Burbank" and "closure" of
# "| Yahoo! Inc. | Burbank | 90 | Closure Permanent |"; its "jobs affected" are the header's
# sense, which the model put in words.
MIN_ROW_WORDS = 0.5


def find_row(quote: str, passages: Sequence[str], *, cited: int | None = None) -> QuoteMatch | None:
    """The one table row among ``passages`` that a quote restates as a sentence, or None.

    A small model asked to quote a table row writes it as a sentence ("Burbank had 90 jobs
    affected by the closure.", "CT.DP-P is a Disassociated Processing category."), which
    ``find_quote`` rightly does not find. The row is taken for its source when it alone holds
    every number and code of the quote and at least half its other words: a number from one
    row and a name from another (a figure put to the wrong company) is in no single row. The
    match's score is 0: it is not the model's words on the page, and the card says so.
    """
    said = numbers(quote)
    codes = set(_CODE.findall(quote))
    # A code's letters are not words of the row's subject: "CT.DM-P" beside Disassociated
    # Processing's name would hold "ct" and "dm" of the wrong row.
    words = {w for w in content_words(clean_quote(_CODE.sub(" ", quote))) if not w.isdigit()}
    if not (said or codes) or len(words) < 2:
        return None
    order = list(range(1, len(passages) + 1))
    if cited is not None and 1 <= cited <= len(passages):
        order.remove(cited)
        order.insert(0, cited)
    found: list[tuple[int, QuoteMatch]] = []
    for number in order:
        for row in _ROW.finditer(passages[number - 1]):
            if not (said <= numbers(row[0]) and codes <= set(_CODE.findall(row[0]))):
                continue
            held = len(words & content_words(row[0]))
            if held >= 2 and held >= MIN_ROW_WORDS * len(words):
                found.append((held, QuoteMatch(number, row.start(), row.end(), 0.0)))
    best = max((held for held, _ in found), default=0)
    rows = {(m.number, m.start) for held, m in found if held == best}
    # Two rows that hold the quote alike: which one it restates cannot be told.
    return found[[held for held, _ in found].index(best)][1] if len(rows) == 1 else None


def row_misses(question: str, passage: str, start: int, end: int) -> set[str]:
    """The question's words that other rows of the table hold and the row at ``start:end``
    does not, when that span is one table row; else an empty set.

    Which row answers is told by the names the question gives: asked about Yahoo!'s closure
    in Burbank, the row "| Thomson Licensing LLC | Burbank | 7 | Closure |" holds "Burbank"
    and "closure", but "Yahoo" is in another row, so it is about something else.
    """
    lines = list(_ROW.finditer(passage))
    # The header row names every column, not another row's subject ("Category Unique
    # Identifier" is no row about another category).
    rows = [
        row
        for row, after in zip(lines, [*lines[1:], None], strict=False)
        if not _RULE_ROW.fullmatch(row[0])
        and not (after is not None and _RULE_ROW.fullmatch(after[0]))
    ]
    mine = next((r for r in rows if r.start() <= start and end <= r.end()), None)
    if mine is None:
        return set()
    asked = content_words(question)
    others = set().union(*(content_words(r[0]) for r in rows if r is not mine))
    return (asked & others) - content_words(mine[0])
