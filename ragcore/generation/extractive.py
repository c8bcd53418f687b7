"""An answer without a language model: the passages' best sentences, each cited [n]."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ragcore.text_rules import content_words, split_sentences, strip_markers
from ragcore.types import ChunkKind, Hit

EXTRACTIVE_LABEL = (
    "No language model is configured; these are the most relevant sentences from your documents:"
)

# Chunks cut at a token budget can hold a "sentence" with no full stop for a whole page;
# past this many characters it is cut at a word boundary and marked with an ellipsis.
_MAX_SENTENCE_CHARS = 320
# A "sentence" of fewer words is a term or a heading, read with the sentence after it.
_TERM_WORDS = 5
# Without one of these, so short a "sentence" is a term, not a statement ("It is tall.").
_VERBS = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "can",
        "could",
        "will",
        "would",
        "do",
        "does",
        "did",
        "may",
        "might",
        "must",
        "shall",
        "should",
    ]
)
_LINE_BREAK = re.compile(r"(?<!\n)[ \t]*\n[ \t]*(?!\n)")


@dataclass(frozen=True)
class _Candidate:
    score: float  # question words the sentence contains, rarer ones weighing more
    rank: int  # the hit's position: earlier hits were ranked more relevant
    position: int  # the sentence's position in its passage
    number: int
    text: str


def _reflow(text: str) -> str:
    """Join the hard line breaks PDF text has inside sentences; keep blank-line paragraph breaks.

    The sentence splitter treats a line break as a boundary (right for an LLM's bulleted
    answer, wrong for a PDF page whose lines wrap mid-sentence).
    """
    return _LINE_BREAK.sub(" ", text)


def _shorten(sentence: str) -> str:
    # Bracketed numbers in a document ("as shown in [12]") would read as our citations.
    sentence = strip_markers(sentence)
    if len(sentence) <= _MAX_SENTENCE_CHARS:
        return sentence
    cut = sentence[:_MAX_SENTENCE_CHARS].rsplit(" ", 1)[0]
    return cut + " …"


def _with_terms_joined(sentences: Sequence[str]) -> list[str]:
    """The sentences, with a term standing alone ("Rapid elasticity.", a glossary entry's
    head) joined to the sentence after it: alone it matches the question and says nothing."""
    out: list[str] = []
    pending = ""
    for sentence in sentences:
        text = f"{pending} {sentence}".strip() if pending else sentence
        words = text.lower().split()
        if len(words) < _TERM_WORDS and not _VERBS.intersection(w.strip(".,;:") for w in words):
            pending = text
            continue
        out.append(text)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _describe(hit: Hit) -> str:
    kind = "An image" if hit.kind == ChunkKind.IMAGE else "A passage"
    return f"{kind} on page {hit.page} of {hit.file_name}."


def extractive_answer(
    question: str,
    hits: Sequence[Hit],
    *,
    max_sentences: int = 3,
    label: str = EXTRACTIVE_LABEL,
) -> str:
    """The sentences of ``hits`` that best match ``question``'s words, each cited [n].

    A sentence scores the question words it holds, each weighted by how rare it is among
    the sentences (an IDF). ``hits`` are taken as ranked (best first, source n is
    ``hits[n-1]``): among equal scores, the earlier hit wins. With no matching sentence the
    top passage's first sentence is given, so a non-empty ``hits`` always yields a citation.
    ``label`` is the first line; pass another when the model is configured but failed.

    >>> print(extractive_answer("When was the tower built?", hits))
    No language model is configured; these are the most relevant sentences from your documents:
    - The tower was built from 1887 to 1889. [1]
    """
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be >= 1, got {max_sentences}")
    if not hits:
        return "The documents hold nothing that matches this question."
    wanted = content_words(question)
    sentences: list[tuple[int, int, str, set[str]]] = []
    seen: set[str] = set()
    for rank, hit in enumerate(hits):
        for position, sentence in enumerate(_with_terms_joined(split_sentences(_reflow(hit.text)))):
            text = _shorten(sentence)
            # Overlapping chunks repeat sentences; a repeat adds nothing.
            if text.lower() in seen:
                continue
            seen.add(text.lower())
            sentences.append((rank, position, text, content_words(text) & wanted))
    # A question word found in every sentence ("tower" in a search about a tower) tells
    # them apart less than one found in a single sentence ("tall"): weight by rarity.
    count = len(sentences)
    frequency = Counter(word for *_, words in sentences for word in words)
    weight = {word: math.log(1 + count / n) for word, n in frequency.items()}
    candidates = [
        _Candidate(sum(weight[w] for w in words), rank, position, rank + 1, text)
        for rank, position, text, words in sentences
        if words
    ]
    candidates.sort(key=lambda c: (-c.score, c.rank, c.position))
    chosen = candidates[:max_sentences]
    if not chosen:
        top = hits[0]
        top_sentences = split_sentences(_reflow(top.text))
        first = _shorten(top_sentences[0]) if top_sentences else _describe(top)
        chosen = [_Candidate(0, 0, 0, 1, first)]
    lines = [label, *(f"- {c.text} [{c.number}]" for c in chosen)]
    return "\n".join(lines)
