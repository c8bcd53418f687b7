"""The few sentences of the retrieved passages that bear on the question: what the model reads.

Six whole 200-token chunks cost a 2-core machine most of a minute of prompt processing before
the first word, and bury the one sentence that answers under a thousand that do not; a 1.5B
model then answers from the wrong one, or gives up. So the passages are cut down to their
best sentences, chosen by meaning (the text model's cosine to the question) and by the
question's words (weighted by rarity, as BM25 weighs them), within a small token budget.
Each sentence keeps its source and its span in that passage, so the person is shown exactly
what the model saw, in place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from ragcore.models.base import TextEmbedder
from ragcore.text_rules import (
    NUMBER_WORDS,
    STOP_WORDS,
    content_words,
    sentence_spans,
    strip_markers,
)
from ragcore.types import ChunkKind, Hit

# A PDF line break inside a sentence is layout; one character each, so offsets hold.
_SOFT_BREAK = re.compile(r"(?<!\n)\n(?!\n)")
# Line-break hyphenation ("pas-\nsages", "pas- sages") and footnote digits glued to a word
# ("Kindervag1 of") are extraction artefacts the model would copy into its answer.
_HYPHEN_BREAK = re.compile(r"(?<=[a-z])-\s+(?=[a-z])")
_FOOTNOTE = re.compile(r"(?<=[a-z]{3})\d{1,2}(?=[\s,.;:)]|$)")
_SPACES = re.compile(r"\s+")
# A sentence does not begin with a lower-case word or a bare number: the splitter stopped at
# an abbreviation's full stop ("Sec. 3542", "e.g. networks").
_CONTINUES = re.compile(r"\s*[a-z0-9(\]]")
# A line of at most this many words, without a full stop, before a capitalised line: a heading.
_HEADING_WORDS = 12
# A line drawn with characters ("_____", "-----", "=====").
_RULE = re.compile(r"[_=\-]{4,}")
# Questions about a quantity or a date: a sentence with a number is the likelier answer.
_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|long|often|old|far|large|big|high|low)\b"
    r"|\bwhat (?:\S+ ){0,3}?(?:year|date|percentage|number|size|amount|value|score|accuracy|rate"
    r"|dimension|length|width|height|weight|cost|price)s?\b|\bwhen\b",
    re.IGNORECASE,
)
# Questions about a document rather than its content: who wrote it, when and where it came out.
# Only these are answered by a title page; any other question that names the document matches
# its title page's words just as well (s2-1's title block scored 0.86 for "How many nodes does
# the Semantic Scholar literature graph have?", whose answer scored 0.58).
_ASKS_ABOUT_DOCUMENT = re.compile(
    r"\b(?:who|whom|whose|co-?authors?|authored|wrote|written|editors?|published|publish"
    r"|publication|issued|released|when|dates?|year|titled?|venue|conference|journal"
    r"|proceedings|version|edition|affiliations?|institutions?|organi[sz]ations?|contact)\b",
    re.IGNORECASE,
)
# Who wrote a document, or when it came out: its title page is the answer.
_ASKS_WHO_OR_WHEN = re.compile(
    r"\b(?:who (?:wrote|authored|published|edited)|co-?authors?|co-?authored|authored"
    r"|authors? of|written by|published|publication date)\b",
    re.IGNORECASE,
)


def asks_who_or_when(question: str) -> bool:
    """Whether ``question`` asks who wrote a document or when it was published."""
    return bool(_ASKS_WHO_OR_WHEN.search(question))


# A table's cell rule, an equals sign or a decimal: what no title page is made of.
_VALUES = re.compile(r"\||=|\d\.\d")
_HAS_NUMBER = re.compile(
    r"(?<![\w.-])\d+(?:[.,]\d+)*%?(?![\w-])|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"hundred|thousand|million|billion|dozen|half|once|twice)\b",
    re.IGNORECASE,
)
# A "sentence" longer than this (a table row run, a list without full stops) is cut into
# windows of about this many words, so one of them can be chosen without the rest.
_WINDOW_WORDS = 45
_PIECE = re.compile(r"\d|[^\W\d_]+|[^\w\s]")
_LETTERS_PER_TOKEN = 6
_PIECE_SCALE = 0.85  # real tokens per counted piece on the dev set's sentences (median 0.83)


@dataclass(frozen=True)
class EvidenceWeights:
    """How a sentence's score is made; fixed defaults, chosen on the development question set."""

    meaning: float = 0.6  # cosine between question and sentence
    words: float = 0.4  # share of the question's (IDF-weighted) words the sentence holds
    rank: float = 0.1  # a bonus for sentences of higher-ranked passages: 0.1 / (1 + rank)
    number: float = 0.1  # a bonus for a sentence with a number, when the question asks for one
    # A title block's score is multiplied by this unless the question is about the document
    # (who wrote it, when, where): then it is the answer, else it is only the document's name.
    title: float = 0.5


@dataclass(frozen=True)
class EvidenceBudget:
    """How much evidence the model reads.

    >>> EvidenceBudget(tokens=220, sentences=6, sources=4)
    """

    tokens: int = 190  # real tokens (see estimate_tokens); chosen with bench.evidence
    # 8 short sentences fit the same tokens as 6 (a list's items, a table row): 72% -> 74% of
    # dev-set facts in the evidence at +6 tokens p50.
    sentences: int = 8
    # 5 of the 6 passages: a figure repeating its page's text keeps a place of its own (the
    # chat shows its picture), so with 4 a repeat often took the last one (s2-1's title block
    # twice). Same 76.5% of dev-set facts in the evidence, +0.5 tokens p50; see RESULTS.md.
    sources: int = 5

    def __post_init__(self) -> None:
        for name in ("tokens", "sentences", "sources"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class EvidenceSpan:
    """One sentence given to the model: its span in the passage text and its cleaned words."""

    start: int
    end: int
    text: str
    score: float
    # A run of short lines without a full stop: a title page, an address block. It is given
    # to the model (who wrote what, and when), but it matches any question that names its
    # document, so it is no sign that the documents answer the question.
    title: bool = False
    # The sentence as its page finishes it, when its chunk cut it (``Hit.grown``): the model
    # reads ``text``, and a quote of it is finished with these words (``quoted._Quotes``).
    whole: str = ""


@dataclass(frozen=True)
class SourceEvidence:
    """A passage as the model saw it: the hit, and the spans of it that were shown."""

    hit: Hit
    spans: tuple[EvidenceSpan, ...]

    @property
    def text(self) -> str:
        """The excerpt exactly as the model read it; gaps between sentences shown as "…"."""
        parts: list[str] = []
        last_end: int | None = None
        for span in self.spans:
            if last_end is not None and _gap(self.hit.text, last_end, span.start):
                parts.append("…")
            parts.append(span.text)
            last_end = span.end
        return " ".join(parts)

    @property
    def best(self) -> float:
        return max((s.score for s in self.spans), default=0.0)


@dataclass(frozen=True)
class Evidence:
    """The sources the model reads, source n = ``sources[n-1]``, best first."""

    sources: tuple[SourceEvidence, ...]

    @property
    def hits(self) -> tuple[Hit, ...]:
        return tuple(s.hit for s in self.sources)

    @property
    def tokens(self) -> int:
        return estimate_tokens(" ".join(s.text for s in self.sources))

    @property
    def strength(self) -> float:
        """How well the best sentence that is not a title block matched the question."""
        return max(
            (span.score for s in self.sources for span in s.spans if not span.title), default=0.0
        )


def estimate_tokens(text: str) -> int:
    """About how many tokens a Qwen- or Llama-style tokenizer makes of ``text``.

    Characters / 4 holds for prose but not for tables: those tokenizers give every digit a
    token of its own, and a table row is mostly digits and rules ("| 4e(iii) | PO.3.1 |"), so a
    budget in characters let table evidence run to twice its tokens. Counted here instead: a
    token per digit and per punctuation mark, one per six letters of a word, scaled to the
    dev set's PDFs (on their sentences, real / estimated is 0.8–1.3 from the 5th to the 95th
    percentile, where characters / 4 gave 0.6–2.0).
    """
    pieces = 0
    for match in _PIECE.finditer(text):
        piece = match.group()
        pieces += 1 if len(piece) == 1 else math.ceil(len(piece) / _LETTERS_PER_TOKEN)
    return math.ceil(pieces * _PIECE_SCALE)


def clean_text(text: str) -> str:
    """PDF text as a person would type it: no line-break hyphens, footnote digits, or wraps."""
    text = _HYPHEN_BREAK.sub("", text)
    text = _FOOTNOTE.sub("", text)
    return _SPACES.sub(" ", strip_markers(text)).strip()


def _gap(text: str, end: int, start: int) -> bool:
    return bool(text[end:start].strip())


@dataclass(frozen=True)
class _Candidate:
    source: int  # index into hits
    start: int
    end: int
    text: str
    words: frozenset[str]
    title: bool = False
    # Wholly in the words a passage was read on by, past its chunk's end (``Hit.grown``).
    past_end: bool = False
    whole: str = ""  # as on EvidenceSpan


def _sentences(text: str, flat: str) -> list[tuple[int, int]]:
    """Sentence spans, mended where the splitter cut after an abbreviation ("Sec. 3542",
    "U.S.C., Sec." then "3542]") and cut again at a drawn rule ("_____"), which in PDF text
    separates a page's running header from its first sentence."""
    mended: list[tuple[int, int]] = []
    for begin, end in sentence_spans(flat):
        if mended and _CONTINUES.match(flat, begin):
            mended[-1] = (mended[-1][0], end)
        else:
            mended.append((begin, end))
    out: list[tuple[int, int]] = []
    for begin, end in mended:
        at = begin
        for cut in _cuts(text, begin, end):
            if text[at : cut[0]].strip():
                out.append((at, cut[0]))
            at = cut[1]
        if text[at:end].strip():
            out.append((at, end))
    return out


def _cuts(text: str, begin: int, end: int) -> list[tuple[int, int]]:
    """Where a sentence span holds two things PDF text glued together: a drawn rule, or a
    heading line ("2. The NIST Definition of Cloud Computing") before the first sentence."""
    cuts = [(m.start(), m.end()) for m in _RULE.finditer(text, begin, end)]
    line_start = begin
    for newline in re.finditer(r"\n", text[begin:end]):
        at = begin + newline.start()
        line = text[line_start:at].strip()
        nxt = text[at + 1 : at + 2]
        if line and len(line.split()) <= _HEADING_WORDS and _ends_heading(line) and nxt.isupper():
            cuts.append((at, at + 1))
        line_start = at + 1
    return sorted(cuts)


def _ends_heading(line: str) -> bool:
    """Whether a short line can be a heading by its end: a line that stops at a comma or on a
    word like "to" or "of" runs on into the next ("Ranging from Partial (Tier 1) to" /
    "Adaptive (Tier 4), Tiers describe …"), whatever the next line's capital says."""
    if line[-1] in ".,;:(-–":
        return False
    last = re.findall(r"\w+", line[-20:])
    return not last or last[-1].lower() not in STOP_WORDS


def candidate_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a passage, long runs cut into word windows; offsets into ``text``."""
    flat = _SOFT_BREAK.sub(" ", text)  # same length: offsets stay valid
    out: list[tuple[int, int]] = []
    for begin, end in _sentences(text, flat):
        words = list(re.finditer(r"\S+", flat[begin:end]))
        if len(words) <= _WINDOW_WORDS * 1.5:
            out.append((begin, end))
            continue
        for i in range(0, len(words), _WINDOW_WORDS):
            window = words[i : i + _WINDOW_WORDS]
            out.append((begin + window[0].start(), begin + window[-1].end()))
    return out


_BLOCK_WORDS = 30


def _line_blocks(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int, bool]]:
    """``spans`` with each run of adjacent unpunctuated lines joined, up to a few dozen words,
    and whether each is such a run.

    A title page is such a run: "The NIST Definition of Cloud Computing / Peter Mell / Timothy
    Grance / Special Publication 800-145". Apart, each line is a fragment that answers nothing;
    together they say who wrote what, and when, which is asked as often as anything else.
    """
    out: list[tuple[int, int, bool]] = []
    words = 0
    for start, end in spans:
        piece = text[start:end].strip()
        count = len(piece.split())
        if (
            out
            and not text[out[-1][0] : out[-1][1]].rstrip().endswith((".", "!", "?", ":"))
            and not piece.endswith((".", "!", "?"))
            and not text[out[-1][1] : start].strip()
            and words + count <= _BLOCK_WORDS
        ):
            out[-1] = (out[-1][0], end, True)
            words += count
        else:
            out.append((start, end, False))
            words = count
    return out


def _fragment(text: str) -> bool:
    """A heading, a date line, a caption stub: a few words with no full stop. It names what a
    page is about, so it matches the question, yet it answers nothing."""
    return len(text.split()) < 5 and text[-1] not in ".!?:"


_HEADER_WORDS = 4  # a shorter shared opening ("The NIST definition") is chance, not a header


# A page number in a running header: "4", "vii" ("4 This publication is available free of
# charge from: …" on page 13, "6 This publication …" on page 15).
_PAGE_NUMBER = re.compile(r"\d+|[ivxlc]+", re.IGNORECASE)


def _header_word(word: str) -> str:
    return "#" if _PAGE_NUMBER.fullmatch(word) else word.lower()


def _running_header(hit: Hit, hits: Sequence[Hit]) -> int:
    """Where ``hit``'s text begins after the running header it shares with another page of its
    file ("The NIST Definition of Cloud Computing" opens every page of SP 800-145), a page
    number in it matching any other: the header is glued to the page's first sentence in PDF
    text, and it would make that sentence match any question that names the document. 0 when
    there is none."""
    words = list(re.finditer(r"\S+", _chunk_text(hit)[:400]))
    mine = [_header_word(w.group()) for w in words]
    best = 0
    for other in hits:
        if other.doc_id != hit.doc_id or other.page == hit.page:
            continue
        theirs = [_header_word(w) for w in _chunk_text(other)[:400].split()]
        shared = 0
        for word, their in zip(mine, theirs, strict=False):
            if word != their:
                break
            shared += 1
        if shared >= _HEADER_WORDS and shared < len(words):
            best = max(best, words[shared - 1].end())
    return best


def _without_page_furniture(found: list[_Candidate], hits: Sequence[Hit]) -> list[_Candidate]:
    """The candidates without running headers and footers: a sentence that stands on two or
    more pages of one file ("FIPS Publication 199 Standards for Security Categorization …") is
    page furniture. It matches the question's words on every page and would fill the budget."""

    def key(cand: _Candidate) -> tuple[str, str]:
        # The page number in a footer ("NIST SP 800-218 SSDF VERSION 1.1 16") differs by page.
        return hits[cand.source].doc_id, " ".join(_header_word(w) for w in cand.text.split())

    pages: dict[tuple[str, str], set[object]] = {}
    for cand in found:
        pages.setdefault(key(cand), set()).add(hits[cand.source].page)
    kept = [c for c in found if len(pages[key(c)]) < 2]
    return kept or found


# An entry of a reference list: it opens with its key ("[MOT15] A. Mordvintsev, …"), or a key
# is followed by the authors' initials, or a link sits beside a year or a quoted title
# ("Available: http://arxiv.org/abs/1508.06576 … “Inceptionism: …,” Google").
_KEY = r"\[[A-Za-z]{0,12}\d{1,4}[a-z]?\]"
_REFERENCE_KEY = re.compile(
    # "[Cop87] D. Cope, …", "[Cop12] ——, …", "[Red] “Deepdream,” …", "… [Nie15] M. A. Nielsen"
    # ("[MOT15] proposes a technique …" is a sentence about the work, and stays).
    rf"^\s*{_KEY}\s+(?:[A-Z]\.|[“\"]|——)|{_KEY}\s+(?:[A-Z]\.\s?)+[A-Z]"
)
_LINK = re.compile(r"https?://|\barxiv\b|\bdoi\b", re.IGNORECASE)
# A quoted title has words ("“Long short-term memory,”"); a quoted code ("“AV:L/AC:M”") does not.
_TITLE_OR_YEAR = re.compile(r"[“\"][^”\"\s]+\s[^”\"]{4,}[”\"]|\b(?:19|20)\d\d\b")


def _reference(text: str) -> bool:
    return bool(_REFERENCE_KEY.search(text) or (_LINK.search(text) and _TITLE_OR_YEAR.search(text)))


def _without_references(found: list[_Candidate]) -> list[_Candidate]:
    """The candidates without entries of a reference list: a cited title repeats the words of a
    question about the work it names ("Why is the technique nicknamed Inceptionism?" matches
    "“Inceptionism: Going deeper into neural networks”"), yet says nothing about it."""
    kept = [c for c in found if not _reference(c.text)]
    return kept or found


# A text ends a sentence when its last character is one of these (a table's row ends on its
# cell rule); a colon opens what follows.
_STOPS = (".", "!", "?", '"', "”", "’", ")", "]", "|")


def cut_short(text: str) -> bool:
    """Whether a passage stops mid-sentence, or on a colon that opens what follows."""
    tail = text.rstrip()
    return bool(tail) and not tail.endswith(_STOPS)


def _chunk_text(hit: Hit) -> str:
    """The passage's text as its chunk holds it, without the words read on past its end."""
    return hit.text[: len(hit.text) - hit.grown]


def sentence_ends(text: str, after: int) -> list[int]:
    """Where the sentences of ``text`` that end past ``after`` end, in order. The spans are
    the selector's, which cut a long run into windows of words: a window's end that is no
    sentence's end is passed over."""
    return [e for _, e in candidate_spans(text) if e > after and not cut_short(text[:e])]


# A sentence its chunk cut this close to its end is read whole: the words it lacks cost a token
# or two and are the answer as often as not ("… by September 21," lacks "2020."). Longer ends
# are read only in a quote of the sentence (``EvidenceSpan.whole``): given to the model, they
# took the place of other sentences within the budget (bench/RESULTS.md, twelfth session).
_FINISH_CHARS = 30


def _cut(cand: _Candidate, hit: Hit) -> bool:
    """Whether a sentence was cut by its chunk's edge: it opens the chunk in lower case, or it
    closes the chunk without a stop ("… proposed AD by September 21,")."""
    text = _chunk_text(hit)
    opens = not text[: cand.start].strip() and cand.text[:1].islower()
    closes = not text[cand.end :].strip() and not cand.text.rstrip().endswith(
        (".", "!", "?", ":", '"', "”", ")")
    )
    return opens or closes


def _whole_sentences(found: list[_Candidate], hits: Sequence[Hit]) -> list[_Candidate]:
    """The candidates without a sentence cut by a chunk's edge when the overlapping chunk holds
    it whole: the cut copy can score higher (fewer words) and would take the whole one's place,
    leaving out the very words the question asked for ("… by September 21," without "2020")."""
    lowered = [(hits[c.source].doc_id, " ".join(c.text.lower().split())) for c in found]
    kept = []
    for cand, (doc, text) in zip(found, lowered, strict=True):
        if _cut(cand, hits[cand.source]) and any(
            d == doc and len(t) > len(text) and text in t for d, t in lowered
        ):
            continue
        kept.append(cand)
    return kept


def _by_file(groups: Sequence[SourceEvidence]) -> tuple[SourceEvidence, ...]:
    """``groups`` with each file's sources together, files in order of their best source.

    The model reads a file's name once above its sources (``quoted.evidence_block``): named on
    every source, a name like "nist_sp800-145_cloud_definition.pdf" cost 12 prompt tokens each
    time, a tenth of the prompt time on the dev set.
    """
    files = list(dict.fromkeys(g.hit.file_name for g in groups))
    return tuple(g for name in files for g in groups if g.hit.file_name == name)


# A sentence that opens a list: it ends on a colon, maybe with the first item's number after
# it ("The practices are organized into four groups: 1."), which the splitter leaves there.
# (A quote's check may end it before that number's stop: "… four groups:\n1".)
_OPENS_LIST = re.compile(r":\s*(?:\(?(?:\d{1,2}[.)]?|[a-z][.)])|[•*\-–])?\s*$")
_NOT_CHOSEN = -math.inf  # the score of a sentence that may only be lifted into the evidence
# A list item's number, left at the end of the sentence before it.
_NUMBERED = re.compile(r"(?:^|\s)\(?\d{1,2}[.)]\s*$")
_LIST_ITEMS = 3  # when the opening does not say how many
_MOST_LIST_ITEMS = 6


def opens_list(sentence: str) -> bool:
    """Whether ``sentence`` opens a list: it ends on a colon, maybe with the first item's number."""
    return bool(_OPENS_LIST.search(sentence))


def _list_length(opening: str) -> int:
    """How many items a list's opening sentence announces ("into four groups:"), or a few."""
    for word in re.findall(r"\w+", opening.lower()):
        if word in NUMBER_WORDS and 1 < int(NUMBER_WORDS[word]) < 10:  # "two" to "nine"
            return int(NUMBER_WORDS[word])
        if word.isdigit() and 1 < int(word) <= _MOST_LIST_ITEMS:
            return int(word)
    return _LIST_ITEMS


def _with_list_items(
    scored: list[tuple[float, _Candidate]],
) -> list[tuple[float, _Candidate]]:
    """``scored`` with the items of a list the best sentence opens lifted to just below it.

    "What are the four groups of practices?" matches "The practices are organized into four
    groups:" far better than it matches any of the groups, which share none of its words; yet
    the groups are the answer. Each item keeps its own place in the budget.
    """
    if not scored:
        return scored
    top_score, top = max(scored, key=lambda pair: pair[0])
    if not opens_list(top.text):
        return scored
    after = sorted(
        (c for _, c in scored if c.source == top.source and c.start >= top.end),
        key=lambda c: c.start,
    )
    if _NUMBERED.search(top.text):
        # A numbered list's items follow their numbers, which the splitter leaves at the end
        # of the sentence before ("… tampering. 3."): a remark between two items ("Many
        # organizations will find some PO practices …") is not one of them.
        before = [top, *after]
        numbered = [
            c for i, c in enumerate(after) if _NUMBERED.search(before[i].whole or before[i].text)
        ]
        if len(numbered) > 1:  # else the numbers were the first item's alone
            after = numbered
    after = after[: _list_length(top.text)]
    lifted = {id(c): top_score - 1e-3 * (i + 1) for i, c in enumerate(after)}
    return [(max(score, lifted.get(id(c), score)), c) for score, c in scored]


class EvidenceSelector:
    """Picks the sentences of ``hits`` that best answer ``question``, within a budget.

    >>> selector = EvidenceSelector(embedder=models.text)
    >>> evidence = selector.select("Who coined zero trust?", hits)
    >>> evidence.sources[0].text
    'The term "zero trust" was coined by John Kindervag of Forrester.'
    """

    def __init__(
        self,
        *,
        embedder: TextEmbedder | None = None,
        budget: EvidenceBudget = EvidenceBudget(),
        weights: EvidenceWeights = EvidenceWeights(),
    ) -> None:
        self.embedder = embedder
        self.budget = budget
        self.weights = weights

    def candidates(self, hits: Sequence[Hit]) -> list[_Candidate]:
        found = []
        for index, hit in enumerate(hits):
            header = _running_header(hit, hits)
            own = _chunk_text(hit)
            if not own.strip():
                continue
            # The chunk's sentences as they were, the one it cut included, so that a passage
            # read on past its chunk gives the model the same sentences; then the sentences
            # wholly past its end, which are read only as a list's items.
            spans = [(max(s, header), e) for s, e in candidate_spans(own) if e > header]
            blocks = _line_blocks(own, spans)
            finish = 0  # where the sentence the chunk cut ends on the page
            if hit.grown:
                past = [(s, e) for s, e in candidate_spans(hit.text) if s >= len(own)]
                blocks += _line_blocks(hit.text, past)
                finish = next(iter(sentence_ends(hit.text, len(own))), 0)
            for start, end, joined in blocks:
                text = clean_text(hit.text[start:end])
                # A table's rows, a formula's cases ("requires local access: 0.395") and a
                # list of values are runs of short lines too, but they are answers.
                title = joined and not _VALUES.search(text)
                words = frozenset(content_words(text))
                if len(text) >= 12 and words and not _fragment(text):
                    past_end = start >= len(own)
                    cut = finish and not past_end and not own[end:].strip()
                    whole = clean_text(hit.text[start:finish]) if cut else ""
                    if whole and finish - end <= _FINISH_CHARS:
                        # A few words short ("… by September 21," without "2020."): read whole.
                        end, text, whole = finish, whole, ""
                        words = frozenset(content_words(text))
                    found.append(_Candidate(index, start, end, text, words, title, past_end, whole))
        own_found = [c for c in found if not c.past_end]
        kept = _whole_sentences(_without_references(_without_page_furniture(own_found, hits)), hits)
        # Past a chunk's end, a page's footer ("NIST SP 800-218 SSDF VERSION 1.1 16") is no
        # item of the list that ran on there.
        past_found = _without_references(_without_page_furniture(found, hits))
        return kept + [c for c in past_found if c.past_end]

    def scores(self, question: str, candidates: Sequence[_Candidate]) -> list[float]:
        wanted = content_words(question)
        n = len(candidates)
        df = {w: sum(1 for c in candidates if w in c.words) for w in wanted}
        idf = {w: math.log(1.0 + (n + 1) / (df[w] + 0.5)) for w in wanted}
        total = sum(idf.values()) or 1.0
        lexical = [sum(idf[w] for w in wanted if w in c.words) / total for c in candidates]
        meaning = self._cosines(question, [c.text for c in candidates])
        w = self.weights
        numeric = w.number if _ASKS_NUMBER.search(question) else 0.0
        title = 1.0 if _ASKS_ABOUT_DOCUMENT.search(question) else w.title
        return [
            (
                w.meaning * cos
                + w.words * lex
                + w.rank / (1 + c.source)
                + (numeric if _HAS_NUMBER.search(c.text) else 0.0)
            )
            * (title if c.title else 1.0)
            for c, cos, lex in zip(candidates, meaning, lexical, strict=True)
        ]

    def _cosines(self, question: str, texts: Sequence[str]) -> list[float]:
        if self.embedder is None or not texts:
            return [0.0] * len(texts)
        q = np.asarray(self.embedder.embed_queries([question])[0], dtype=np.float32)
        s = np.asarray(self.embedder.embed_passages(list(texts)), dtype=np.float32)
        q /= float(np.linalg.norm(q)) or 1.0
        s /= np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-9)
        return [float(v) for v in s @ q]

    def select(
        self, question: str, hits: Sequence[Hit], *, first: Collection[str] = ()
    ) -> Evidence:
        """The evidence for ``question`` from ``hits``; the sentences of the documents in
        ``first`` (by id: those the question names) are read before any other's."""
        candidates = self.candidates(hits)
        if not candidates:
            # Nothing sentence-like (an image's caption, a table cell): the passages as they are.
            spans = [
                SourceEvidence(h, (EvidenceSpan(0, len(h.text), clean_text(h.text), 0.0),))
                for h in hits[: self.budget.sources]
                if h.text.strip()
            ]
            return Evidence(tuple(spans))
        # A sentence past its chunk's end is read only as a list's item or a follower, and it
        # does not count in the rarity of the question's words either.
        own = [c for c in candidates if not c.past_end]
        score_of = {id(c): s for c, s in zip(own, self.scores(question, own), strict=True)}
        free = [(score_of.get(id(c), _NOT_CHOSEN), c) for c in candidates]
        scored = [
            pair
            for pair in sorted(_with_list_items(free), key=lambda p: -p[0])
            if math.isfinite(pair[0])
        ]
        if first:
            # Another document's sentence that names one of these ("CVSS follows this general
            # model of FIPS 199") says second-hand what the document says itself, and would be
            # cited for it: other documents fill what is left.
            scored.sort(key=lambda pair: hits[pair[1].source].doc_id not in first)
        if asks_who_or_when(question):
            # Who wrote it and when it came out are on its cover: the title blocks are read
            # first, and the sentences that only name the document ("CVSS follows this general
            # model of FIPS 199") fill what is left.
            scored.sort(key=lambda pair: not pair[1].title)
        chosen: list[tuple[float, _Candidate]] = []
        sources: set[int] = set()
        tokens = 0
        seen: list[tuple[ChunkKind, str, frozenset[str]]] = []
        for score, cand in scored:
            # The same words again (four figures of one page captioned with its text, a page
            # indexed twice, a title page's lines in another order) tell the model nothing new
            # and take a source's place. A figure whose caption repeats a text passage stays:
            # the figure is a source of its own, shown to the person with its picture.
            kind, said = hits[cand.source].kind, cand.text.lower()
            if any(
                k == kind and (said in other or other in said or cand.words <= words)
                for k, other, words in seen
            ):
                continue
            cost = estimate_tokens(cand.text)
            new_source = cand.source not in sources
            if chosen and (tokens + cost > self.budget.tokens):
                continue
            if new_source and len(sources) >= self.budget.sources:
                continue
            chosen.append((score, cand))
            seen.append((kind, said, cand.words))
            sources.add(cand.source)
            tokens += cost
            if len(chosen) >= self.budget.sentences:
                break
        chosen = self._with_follower(chosen, candidates, tokens)
        by_source: dict[int, list[tuple[float, _Candidate]]] = {}
        for score, cand in chosen:
            by_source.setdefault(cand.source, []).append((score, cand))
        groups = [
            SourceEvidence(
                hits[index],
                tuple(
                    EvidenceSpan(c.start, c.end, c.text, round(s, 4), c.title, c.whole)
                    for s, c in sorted(items, key=lambda pair: pair[1].start)
                ),
            )
            for index, items in by_source.items()
        ]
        groups.sort(key=lambda g: -g.best)
        return Evidence(_by_file(groups))

    def _with_follower(
        self,
        chosen: list[tuple[float, _Candidate]],
        candidates: Sequence[_Candidate],
        tokens: int,
    ) -> list[tuple[float, _Candidate]]:
        """The best sentence's next sentence too, when it introduces it ("as follows:") or is a
        fragment: definitions and lists run on past the sentence that matched."""
        if not chosen:
            return chosen
        score, best = chosen[0]
        opens = best.text.rstrip().endswith(":")
        if not (opens or len(best.text.split()) < 10):
            return chosen
        # Past its chunk's end, only what a colon opened: a short sentence the chunk cut is
        # finished in its quote instead (``EvidenceSpan.whole``).
        after = [
            c
            for c in candidates
            if c.source == best.source and c.start >= best.end and (opens or not c.past_end)
        ]
        if not after:
            return chosen
        follower = min(after, key=lambda c: c.start)
        if any(c is follower for _, c in chosen):
            return chosen
        if tokens + estimate_tokens(follower.text) > self.budget.tokens * 1.25:
            return chosen
        return [*chosen, (score - 1e-3, follower)]
