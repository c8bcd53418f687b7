"""What a word, a stem, a sentence and a citation marker are, for every part that reads text.

Highlighting (app/render.py), citation checks and evidence picking (ragcore/generation) and
keyword search agree on what a word is: ``stem`` is the Porter stemmer that SQLite FTS5's
``porter`` tokenizer applies to the catalog's BM25 index (Snowball's implementation of it).
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

WORD = re.compile(r"\w+")

_STOP_WORDS = """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    either etc few for from further had has have having he her here hers herself him himself
    his how however i if in into is it its itself just may me might more most must my myself
    neither no nor not now of off on once only or other our ours ourselves out over own per
    same shall she should so some such than that the their theirs them themselves then there
    these they this those through thus to too under until up upon us very via was we were
    what when where which while who whom whose why will with within without would yes yet
    you your yours yourself yourselves according source sources document documents"""
# Words that carry no claim of their own: left out of content words and highlighted terms.
STOP_WORDS = frozenset(_STOP_WORDS.split())

# The original Porter algorithm, as FTS5's porter tokenizer has it (Snowball's "english" is
# Porter2, which stems some words differently: "used" is "use" there, "us" in FTS5).
_PORTER = snowballstemmer.stemmer("porter")


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """The Porter stem of a word, lower-cased: "towers" and "tower" are "tower", "using" "us".

    >>> stem("Computing"), stem("characteristics")
    ('comput', 'characterist')
    """
    return str(_PORTER.stemWord(word.lower()))


def content_words(text: str) -> set[str]:
    """Lowercase stems of the words of ``text`` that carry meaning (stop words dropped)."""
    words = (w for w in WORD.findall(text.lower()) if w not in STOP_WORDS)
    return {stem(w) for w in words}


# ── citation markers ──────────────────────────────────────────────

# One source number in a marker: "2", "source 2", "Sources 2".
MARKER_NUMBER = r"(?:(?i:sources?)\s*)?\d+"
# A citation marker as models write it: [1], [1, 3], [2-4], [source 2], [Sources 1; 3].
CITATION_MARKER = re.compile(rf"\[\s*{MARKER_NUMBER}(?:\s*[,;\-–]\s*{MARKER_NUMBER})*\s*\]")
# A marker with the whitespace before it, which goes with it when the marker is removed.
_SPACED_MARKER = re.compile(rf"\s*{CITATION_MARKER.pattern}")


def strip_markers(text: str) -> str:
    """``text`` without citation markers, with whitespace collapsed."""
    return " ".join(_SPACED_MARKER.sub("", text).split())


# ── sentences ─────────────────────────────────────────────────────

# Sentences of an answer (or a passage read like one). A sentence ends at . ! or ? (plus
# closing quotes or brackets and any citation markers right after it) followed by whitespace
# and no lowercase word, or by a capitalised word (models write "[1].Next"), or at a line
# break: lists are one claim a line. "3.5", "U.S. law" and "e.g. this" stay whole.
_ANSWER_BOUNDARY = re.compile(
    rf"(?:(?<!\b[A-Z])\.|[!?])[.!?]*[\"'”’)]*(?:\s*{CITATION_MARKER.pattern})*"
    rf"(?=\s*$|\s+(?![a-z])|[A-Z][a-z])|\n+"
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of an answer; a sentence keeps the markers after it."""
    spans = []
    start = 0
    for match in _ANSWER_BOUNDARY.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    result = []
    for begin, end in spans:
        chunk = text[begin:end]
        stripped = chunk.strip()
        if stripped:
            lead = len(chunk) - len(chunk.lstrip())
            result.append((begin + lead, begin + lead + len(stripped)))
    return result


def split_sentences(text: str) -> list[str]:
    """The sentences of an answer, stripped."""
    return [text[begin:end] for begin, end in sentence_spans(text)]


# Sentences of a document, for chunking. Documents wrap their lines, so a single line break
# does not end a sentence here (a blank line does), and they are in any script: a sentence
# ends at . ! ? … (then closing quotes or brackets) before whitespace; CJK full stops need no
# space after them. A match may only start where a run of stops starts (the lookbehind):
# otherwise a long run of full stops not followed by a space is rescanned from each of its
# characters (quadratic).
_DOCUMENT_SENTENCE_END = re.compile(
    r"(?<![.!?…])[.!?…]++[)\]\"'”’»]*+\s+|[。！？]+[)\]\"'”’»」』]*\s*|\n[^\S\n]*\n\s*"
)


def document_sentence_cuts(text: str, start: int, end: int) -> list[int]:
    """Offsets inside (start, end) of ``text`` where a new sentence of a document begins."""
    cuts = []
    for m in _DOCUMENT_SENTENCE_END.finditer(text, start, end):
        cut = m.end()
        if not start < cut < end:
            continue
        # "e.g. the", "approx. ten": a full stop before a lower-case word rarely ends a sentence.
        if m.group()[0] in ".!?…" and text[cut].islower():
            continue
        cuts.append(cut)
    return cuts


# ── numbers ───────────────────────────────────────────────────────

# Not "zero": "zero trust" is a name, not a number.
NUMBER_WORDS = {
    **{
        word: str(n)
        for n, word in enumerate(
            ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
            start=1,
        )
    },
    **{
        word: str(n)
        for n, word in enumerate(
            ("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
            start=11,
        )
    },
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "hundred": "100",
}
# "one" is as often a pronoun ("the first one") and "hundred" a multiplier ("two hundred"):
# read as numbers they would fail answers that state none.
_NUMBER_WORD = re.compile(
    r"\b(" + "|".join(w for w in NUMBER_WORDS if w not in ("one", "hundred")) + r")\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


# An item's number in a list written inline ("are 1. Prepare …, 2. Protect …"): before a
# capitalised word, after the start, a space or a comma.
_ENUMERATOR = re.compile(r"(?:^|(?<=[\s,;:(]))(\d{1,2})[.)](?=\s+[A-Z(])")


def without_enumerators(text: str) -> str:
    """``text`` without the numbers of a list it writes inline, when it numbers from 1 in
    order: "1. Prepare the Organization, 2. Protect the Software" states no number.

    >>> without_enumerators("The groups are 1. Prepare, 2. Protect and 3. Produce.")
    'The groups are  Prepare,  Protect and  Produce.'
    """
    found = list(_ENUMERATOR.finditer(text))
    if [int(m.group(1)) for m in found] != list(range(1, len(found) + 1)) or len(found) < 2:
        return text
    for match in reversed(found):
        text = text[: match.start()] + text[match.end() :]
    return text


def numbers(text: str) -> set[str]:
    """The numbers ``text`` states, written in digits or as words, thousands separators aside:
    "five essential characteristics" and "5 essential characteristics" state the same number.

    >>> sorted(numbers("Five tenets, 2,000 gates and 3.5 GHz"))
    ['2000', '3.5', '5']
    """
    found = {re.sub(r",(?=\d{3}\b)", "", n) for n in _NUMBER.findall(text)}
    return found | {NUMBER_WORDS[w.lower()] for w in _NUMBER_WORD.findall(text)}
