"""Finding a passage in another extraction of the same page: letters and digits only, folded.

The chunk's text was extracted once (PDFium with hyphens rejoined and footnote marks dropped,
tables as Markdown, or OCR), and the page is read again for its boxes; the two differ in
whitespace, hyphenation, punctuation and case, so both are reduced to a *key* of lower-case
letters and digits that remembers where each key character came from.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

Span = tuple[int, int]

# Below this similarity (0–100) a fuzzy match is taken for no match: a passage rebuilt from
# another extractor differs by a footnote mark or a misread letter, not by whole words.
MIN_SIMILARITY = 85.0


@dataclass(frozen=True)
class Keyed:
    """``text`` reduced to its key; ``origin[i]`` is the index in ``text`` of key character i.

    >>> keyed = Keyed.of("Pas-\\nsages, ﬁne")
    >>> keyed.key, keyed.origin[:3]
    ('passagesfine', (0, 1, 2))
    """

    text: str
    key: str
    origin: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> Keyed:
        key: list[str] = []
        origin: list[int] = []
        for i, char in enumerate(text):
            # NFKC turns ligatures ("ﬁ") and full-width forms into plain letters.
            for folded in unicodedata.normalize("NFKC", char).casefold():
                if folded.isalnum():
                    key.append(folded)
                    origin.append(i)
        return cls(text, "".join(key), tuple(origin))

    def text_span(self, start: int, end: int) -> Span:
        """The span of ``text`` that key characters ``[start, end)`` came from."""
        if not 0 <= start < end <= len(self.key):
            raise ValueError(f"key span must lie in [0, {len(self.key)}], got ({start}, {end})")
        return self.origin[start], self.origin[end - 1] + 1

    def key_span(self, start: int, end: int) -> Span | None:
        """The key characters that came from ``text[start:end]``; None when it holds none."""
        inside = [k for k, i in enumerate(self.origin) if start <= i < end]
        return (inside[0], inside[-1] + 1) if inside else None


def find_key(needle: str, haystack: str, *, within: Span | None = None) -> Span | None:
    """Where key ``needle`` is in key ``haystack`` (optionally only inside ``within``):
    exactly, else the most similar stretch if it is at least :data:`MIN_SIMILARITY` alike.

    >>> find_key("cloudmodel", "thecloudmodelpromotes")
    (3, 13)
    """
    if not needle:
        return None
    lo, hi = within if within is not None else (0, len(haystack))
    region = haystack[lo:hi]
    at = region.find(needle)
    if at >= 0:
        return lo + at, lo + at + len(needle)
    if len(region) < len(needle) * 0.8:
        return None
    found = fuzz.partial_ratio_alignment(needle, region, score_cutoff=MIN_SIMILARITY)
    if found is None or found.dest_end <= found.dest_start:
        return None
    return _widened(needle, haystack, lo + found.dest_start, lo + found.dest_end, lo, hi)


def _widened(needle: str, haystack: str, start: int, end: int, lo: int, hi: int) -> Span:
    """A fuzzy match's ends moved to where the needle's first and last characters align:
    the best-scoring stretch often leaves off a letter or two at either end."""
    slack = max(8, len(needle) // 10)
    a, b = max(lo, start - slack), min(hi, end + slack)
    equal = [op for op in Levenshtein.opcodes(needle, haystack[a:b]) if op.tag == "equal"]
    if not equal:
        return start, end
    first, last = equal[0], equal[-1]
    new_start = a + first.dest_start - first.src_start
    new_end = a + last.dest_end + (len(needle) - last.src_end)
    return max(lo, min(new_start, start)), min(hi, max(new_end, end))


def locate(
    passage: str, page: Keyed, quotes: Sequence[Span] = ()
) -> tuple[Span, list[Span]] | None:
    """The passage's span in ``page.text`` and, inside it, each quote's span (``quotes`` are
    spans of ``passage``); None when the passage is not on the page. A quote not found is left
    out."""
    keyed = Keyed.of(passage)
    found = find_key(keyed.key, page.key)
    if found is None:
        return None
    quoted: list[Span] = []
    for start, end in quotes:
        part = keyed.key_span(start, end)
        if part is None:
            continue
        # Searched for in the page's own key: a fuzzy passage match may be shifted by a few
        # characters, so the quote's offset inside the passage is not carried over.
        spot = find_key(keyed.key[part[0] : part[1]], page.key, within=found)
        if spot is not None:
            quoted.append(page.text_span(*spot))
    return page.text_span(*found), quoted
