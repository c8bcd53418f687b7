"""Check every [n] in an answer: drop numbers that match no source, score each claim's support."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ragcore.text_rules import (
    CITATION_MARKER,
    MARKER_NUMBER,
    content_words,
    sentence_spans,
    strip_markers,
)
from ragcore.types import Hit

# A cited sentence is flagged when less than 60% of its content words occur in the
# passages it cites. A faithful paraphrase keeps the names, numbers and key nouns; a made-up
# claim shares the topic words the question brought in and adds its own. Measured on 16
# hand-written sentences against 4 passages (leave policy, lease, Eiffel Tower,
# photosynthesis): 8 faithful paraphrases scored 0.62-1.0, 8 invented claims 0.11-0.67, so
# 0.6 kept every faithful one and flagged 7 of 8 invented (0.5 flagged only 4). A
# bi-encoder cosine (all-MiniLM-L6-v2) separates them worse: faithful 0.55-0.92, invented
# 0.32-0.69, because same-topic text is close in that space; pass ``similarity`` with a
# higher threshold (about 0.75) or not at all. A flag for the reader, not proof.
DEFAULT_THRESHOLD = 0.6

# Sentences with fewer content words are not claims worth flagging when uncited
# ("The documents do not say.", "Yes.").
_MIN_CLAIM_WORDS = 3

# A range wider than this is not a citation anyone means; it is read as its two ends.
_MAX_RANGE = 100

_MARKER_RE = re.compile(rf"(\s*)({CITATION_MARKER.pattern})")
_PART_RE = re.compile(rf"({MARKER_NUMBER})\s*(?:[\-–]\s*({MARKER_NUMBER}))?")
# List bullets are layout, not part of the claim shown to the reader.
_BULLET_RE = re.compile(r"^(?:[-*•]|\d+[.)])\s+")


@dataclass(frozen=True)
class Citation:
    """One source number the answer cites, and how well the passage backs what cites it.

    ``support`` is the lowest share, over the sentences citing this source, that this
    passage backs by itself; a sentence citing several sources can be backed by them
    together while each backs less alone, so read ``supported`` for the verdict.
    """

    number: int
    point_id: str
    doc_id: str
    file_name: str
    page: int
    supported: bool
    support: float
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class CitationReport:
    """What :func:`check_citations` found.

    ``text`` is the answer with citation markers rewritten to ``[1]`` / ``[1, 2]`` and
    numbers that match no source removed (listed in ``removed``).
    """

    text: str
    citations: tuple[Citation, ...]
    removed: tuple[int, ...]
    unsupported_sentences: tuple[str, ...]
    uncited_sentences: tuple[str, ...]

    @property
    def all_supported(self) -> bool:
        return not self.unsupported_sentences and all(c.supported for c in self.citations)

    def citation(self, number: int) -> Citation | None:
        return next((c for c in self.citations if c.number == number), None)


def overlap(sentence_words: set[str], passage_words: set[str]) -> float:
    """Share of the sentence's content words found in the passage (1.0 when it has none)."""
    if not sentence_words:
        return 1.0
    return len(sentence_words & passage_words) / len(sentence_words)


def _parse_number(token: str) -> int:
    return int(re.sub(r"\D", "", token))


def cited_numbers(marker: str) -> list[int]:
    """The numbers in one marker: ``[1]``, ``[1, 2]``, ``[1-3]``, ``[Source 2]``, in order."""
    numbers: list[int] = []
    for match in _PART_RE.finditer(marker.strip("[] ")):
        low = _parse_number(match.group(1))
        if match.group(2) is None:
            numbers.append(low)
            continue
        high = _parse_number(match.group(2))
        low, high = min(low, high), max(low, high)
        if high - low > _MAX_RANGE:
            numbers.extend((low, high))
        else:
            numbers.extend(range(low, high + 1))
    return list(dict.fromkeys(numbers))


def _canonical(numbers: Iterable[int]) -> str:
    return "[" + ", ".join(str(n) for n in numbers) + "]"


def _clean_markers(answer: str, count: int) -> tuple[str, set[int]]:
    removed: set[int] = set()

    def replace(match: re.Match[str]) -> str:
        numbers = cited_numbers(match.group(2))
        kept = [n for n in numbers if 1 <= n <= count]
        removed.update(n for n in numbers if not 1 <= n <= count)
        # A marker left empty goes with the space before it: "Paris [9]." -> "Paris."
        return match.group(1) + _canonical(kept) if kept else ""

    return _MARKER_RE.sub(replace, answer), removed


@dataclass(frozen=True)
class _Sentence:
    text: str
    words: frozenset[str]
    cited: tuple[int, ...]


class _Scorer:
    """Scores sentences against sets of passages, remembering similarity calls."""

    def __init__(
        self,
        hits: Sequence[Hit],
        similarity: Callable[[str, str], float] | None,
    ) -> None:
        self._hits = hits
        self._words = [content_words(hit.text) for hit in hits]
        self._similarity = similarity
        self._cache: dict[tuple[str, int], float] = {}

    def _similar(self, sentence: str, number: int) -> float:
        key = (sentence, number)
        if key not in self._cache:
            assert self._similarity is not None
            self._cache[key] = float(self._similarity(sentence, self._hits[number - 1].text))
        return self._cache[key]

    def score(self, sentence: _Sentence, numbers: Iterable[int]) -> float:
        numbers = list(numbers)
        if not numbers:
            return 0.0
        passage_words: set[str] = set().union(*(self._words[n - 1] for n in numbers))
        lexical = overlap(set(sentence.words), passage_words)
        if self._similarity is None:
            return lexical
        return max(lexical, *(self._similar(sentence.text, n) for n in numbers))


def check_citations(
    answer: str,
    hits: Sequence[Hit],
    *,
    similarity: Callable[[str, str], float] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> CitationReport:
    """Check the [n] markers of ``answer`` against ``hits`` (source n is ``hits[n-1]``).

    A cited sentence is supported when its content words are found, at ``threshold`` or
    more, in the union of the passages it cites (or, given ``similarity``, e.g. an
    embedding cosine, when either measure reaches it). A citation is supported when every
    sentence citing it is, and the source is not idle there: it backs the sentence alone
    or the sentence's other sources do not (the citation precision test of ALCE, Gao et
    al. 2023).

    >>> report = check_citations("Paris is the capital [1]. Lyon too [7].", hits)
    >>> report.removed
    (7,)
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    text, removed = _clean_markers(answer, len(hits))
    scorer = _Scorer(hits, similarity)

    sentences = []
    for begin, end in sentence_spans(text):
        raw = text[begin:end]
        cited = [n for m in CITATION_MARKER.findall(raw) for n in cited_numbers(m)]
        plain = _BULLET_RE.sub("", strip_markers(raw))
        if plain:
            sentences.append(
                _Sentence(plain, frozenset(content_words(plain)), tuple(dict.fromkeys(cited)))
            )

    unsupported: list[str] = []
    uncited: list[str] = []
    by_number: dict[int, list[tuple[_Sentence, bool]]] = {}
    for sentence in sentences:
        if not sentence.cited:
            if len(sentence.words) >= _MIN_CLAIM_WORDS and not sentence.text.endswith(":"):
                uncited.append(sentence.text)
            continue
        backed = scorer.score(sentence, sentence.cited) >= threshold
        if not backed:
            unsupported.append(sentence.text)
        for number in sentence.cited:
            others = [n for n in sentence.cited if n != number]
            idle = (
                scorer.score(sentence, [number]) < threshold
                and bool(others)
                and scorer.score(sentence, others) >= threshold
            )
            by_number.setdefault(number, []).append((sentence, backed and not idle))

    citations = []
    for number in sorted(by_number):
        hit = hits[number - 1]
        entries = by_number[number]
        citations.append(
            Citation(
                number=number,
                point_id=hit.point_id,
                doc_id=hit.doc_id,
                file_name=hit.file_name,
                page=hit.page,
                supported=all(ok for _, ok in entries),
                support=min(scorer.score(s, [number]) for s, _ in entries),
                sentences=tuple(s.text for s, _ in entries),
            )
        )
    return CitationReport(
        text=text,
        citations=tuple(citations),
        removed=tuple(sorted(removed)),
        unsupported_sentences=tuple(unsupported),
        uncited_sentences=tuple(uncited),
    )
