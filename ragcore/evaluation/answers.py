"""Answer quality and speed over a question set: key facts, cited pages, refusals, first token."""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from ragcore.answering import Answer, Answerer
from ragcore.catalog import DocumentStatus
from ragcore.errors import EvaluationError, RagError
from ragcore.generation.quoted import SYSTEM_PROMPT, parse_reply
from ragcore.generation.quoted import is_refusal as says_no_answer
from ragcore.retrieval import RetrievalConfig
from ragcore.runtime import LLMChoice, Runtime, build_answerer
from ragcore.text_rules import NUMBER_WORDS, split_sentences, strip_markers
from ragcore.types import AnswerMode

# The target: the answer starts within this many milliseconds of the question.
FIRST_TOKEN_TARGET_MS = 3000.0

# A sentence of fewer words is not a claim ("Yes.", "In short:"); ALCE recall skips it.
MIN_CLAIM_WORDS = 3


class QuestionKind(StrEnum):
    KEYWORD = "keyword"  # the question uses the document's own words
    PARAPHRASE = "paraphrase"  # the same fact asked in other words
    NUMERIC = "numeric"  # the answer is a number, a year, a count
    DEFINITION = "definition"  # what a term means, as the document defines it
    TABLE = "table"  # the answer sits in a table's cells
    MULTI_COLUMN = "multi-column"  # from a two- or three-column page layout
    CROSS_DOCUMENT = "cross-document"  # needs facts from two documents
    UNANSWERABLE = "unanswerable"  # plausible, but no document says it


@dataclass(frozen=True)
class Location:
    """A page of a file: where an answer is (expected) or what a citation points at."""

    file: str
    page: int  # 1-based


@dataclass(frozen=True)
class AnswerCase:
    """One question of the set, with where its answer is and the facts a right answer states.

    Each fact is a tuple of acceptable surface forms; an answer states the fact when it
    holds any of them (see :func:`contains`).

    >>> case = AnswerCase.from_json({"id": "fips-1", "question": "…", "kind": "keyword",
    ...     "file": "nist_fips199.pdf", "pages": [2], "facts": [["three", "3"]]})
    >>> case.locations
    (Location(file='nist_fips199.pdf', page=2),)
    """

    id: str
    question: str
    kind: QuestionKind
    files: tuple[str, ...]
    locations: tuple[Location, ...]
    facts: tuple[tuple[str, ...], ...]

    @property
    def answerable(self) -> bool:
        return self.kind != QuestionKind.UNANSWERABLE

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> AnswerCase:
        """Read one question-set row; raises ValueError naming what is wrong with it.

        ``file`` is a name, or for a cross-document question a list of names with ``pages``
        then a list of page lists, one per file. An unanswerable question has an empty
        ``file``, ``pages`` and ``facts``.
        """
        missing = [k for k in ("id", "question", "kind", "file", "pages", "facts") if k not in obj]
        if missing:
            raise ValueError(f"question {obj.get('id', '?')!r} lacks {', '.join(missing)}")
        qid = str(obj["id"])
        try:
            kind = QuestionKind(obj["kind"])
        except ValueError:
            known = ", ".join(k.value for k in QuestionKind)
            raise ValueError(f"{qid}: kind {obj['kind']!r} is not one of {known}") from None
        question = str(obj["question"]).strip()
        if not question:
            raise ValueError(f"{qid}: the question is empty")
        raw_file, raw_pages = obj["file"], obj["pages"]
        if isinstance(raw_file, str):
            files = (raw_file,) if raw_file else ()
            page_lists = [raw_pages] if raw_file or raw_pages else []
        elif isinstance(raw_file, list) and all(isinstance(f, str) and f for f in raw_file):
            files = tuple(raw_file)
            page_lists = list(raw_pages)
            if not all(isinstance(p, list) for p in page_lists):
                raise ValueError(f"{qid}: with a list of files, pages must be a list of lists")
        else:
            raise ValueError(f"{qid}: file must be a name or a list of names, got {raw_file!r}")
        if len(page_lists) != len(files):
            raise ValueError(
                f"{qid}: {len(files)} file(s) but {len(page_lists)} page list(s); "
                "give one page list per file"
            )
        locations: list[Location] = []
        for name, pages in zip(files, page_lists, strict=True):
            if not pages or not all(isinstance(p, int) and p >= 1 for p in pages):
                raise ValueError(
                    f"{qid}: pages of {name} must be 1-based page numbers, got {pages}"
                )
            locations.extend(Location(name, p) for p in pages)
        facts = tuple(tuple(str(a) for a in fact) for fact in obj["facts"])
        if any(not fact or not all(a.strip() for a in fact) for fact in facts):
            raise ValueError(f"{qid}: every fact needs at least one non-empty surface form")
        if kind == QuestionKind.UNANSWERABLE:
            if files or facts:
                raise ValueError(f"{qid}: an unanswerable question has no file, pages or facts")
        else:
            if not files or not facts:
                raise ValueError(f"{qid}: an answerable question needs a file, pages and facts")
            if kind == QuestionKind.CROSS_DOCUMENT and len(set(files)) < 2:
                raise ValueError(f"{qid}: a cross-document question names two files or more")
        return cls(qid, question, kind, files, tuple(locations), facts)


def load_cases(path: Path) -> list[AnswerCase]:
    """The question set in ``path`` (JSON lines); ValueError names the bad line."""
    with Path(path).open(encoding="utf-8") as handle:
        return read_cases(handle, source=str(path))


def read_cases(lines: Iterable[str], *, source: str) -> list[AnswerCase]:
    """A question set's JSON lines (an uploaded file's, say); ValueError names ``source`` and
    the bad line."""
    cases: list[AnswerCase] = []
    seen: set[str] = set()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            case = AnswerCase.from_json(json.loads(line))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{source} line {line_no}: {exc}") from exc
        if case.id in seen:
            raise ValueError(f"{source} line {line_no}: the id {case.id!r} is used twice")
        seen.add(case.id)
        cases.append(case)
    return cases


# ── matching facts ─────────────────────────────────────────────────

_NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b")
_DASHES_RE = re.compile(r"[\u2010-\u2015\u2212\-]")
_BROKEN_WORD_RE = re.compile(r"(\w)[\u2010\u2011\-]\s*\n\s*(\w)")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}\b)")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "\u00ad": None})


def normalise(text: str) -> str:
    """Text as facts are matched: case, width, ligatures, dashes, hyphenation and spacing aside.

    Lowercased after NFKC (``ﬁ`` → ``fi``); a word hyphenated at a line end is joined; other
    hyphens and dashes are spaces; citation markers go; ``1,000`` is ``1000``; number words one
    to twenty (and the round tens to sixty, and hundred) are digits; whitespace is one space.

    >>> normalise("Zero-Trust   [2] architecture has ﬁve tenets")
    'zero trust architecture has 5 tenets'
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _BROKEN_WORD_RE.sub(r"\1\2", text)
    text = strip_markers(text).lower()
    text = _DASHES_RE.sub(" ", text)
    text = _THOUSANDS_RE.sub("", text)
    text = _NUMBER_WORD_RE.sub(lambda m: NUMBER_WORDS[m.group(1)], text)
    return " ".join(text.split())


def contains(text: str, surface: str) -> bool:
    """Whether ``surface`` occurs in ``text`` as whole words, both normalised (see above).

    Whole words: the fact ``"5"`` is not found in ``"2015"``, nor ``"SP"`` in ``"spoke"``.
    """
    wanted = normalise(surface)
    if not wanted:
        return False
    return re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", normalise(text)) is not None


def fact_found(fact: Sequence[str], text: str) -> bool:
    """A fact is stated when any of its acceptable surface forms is."""
    return any(contains(text, surface) for surface in fact)


def facts_found(facts: Sequence[Sequence[str]], text: str) -> tuple[bool, ...]:
    return tuple(fact_found(fact, text) for fact in facts)


# ── what the model wrote, and refusals ─────────────────────────────


def own_words(mode: str, text: str, model_text: str = "") -> str:
    """What the language model answered, in its own words, without what the pipeline adds.

    An ``llm`` answer's text is the model's answer line, shown because its quote was found
    on the page. When the pipeline did not show the reply (``extract``: the documents' own
    sentences instead; ``not_found``), ``model_text`` keeps it, and its answer line (after
    "Answer:", without the quotes) is the model's words. An ``extractive`` answer has none:
    no model wrote it.
    """
    if model_text:
        return parse_reply(model_text).answer.strip()
    return text.strip() if mode == AnswerMode.LLM else ""


def is_refusal(mode: str, own: str) -> bool:
    """Whether the answer says the documents do not hold one: nothing was found
    (``not_found``), or the model's own words say so (the pipeline's own refusal test,
    ``ragcore.generation.quoted.is_refusal``: "The documents do not say.", "could not find",
    "no information", …). A row also counts as refused when the pipeline judged that the
    model declined (``Answer.declined``).

    >>> is_refusal(AnswerMode.LLM, "The documents do not say.")
    True
    """
    return mode == AnswerMode.NOT_FOUND or says_no_answer(own)


# ── one question's row ─────────────────────────────────────────────


@dataclass(frozen=True)
class CitedLocation:
    """One citation of an answer: where it points and whether that is where the answer is."""

    number: int
    file: str
    page: int
    correct: bool  # file and page among the question's expected locations
    supported: bool  # the citation checker's verdict on the sentences citing it
    own: bool  # cited by the model's own words (not only by an appended passage)


@dataclass(frozen=True)
class SentenceSupport:
    """A claim of the model's own words and whether the passages it cites back it (ALCE)."""

    text: str
    cited: bool
    supported: bool


@dataclass(frozen=True)
class AnswerRow:
    """What one question produced, measured. Times in milliseconds; None = not measured."""

    id: str
    kind: QuestionKind
    question: str
    answerable: bool
    mode: str  # llm | extractive | not_found | error
    answer: str  # the whole text shown to the person
    own_words: str  # what the model wrote (see own_words())
    facts_own: tuple[bool, ...]  # each fact, in the model's own words
    facts_shown: tuple[bool, ...]  # each fact, anywhere in the text shown
    citations: tuple[CitedLocation, ...]
    sentences: tuple[SentenceSupport, ...]
    refused: bool
    out_of_range_citations: int  # [n] with no source n, removed from the text
    first_token_ms: float | None  # from the question to the first text the person sees
    llm_first_token_ms: float | None  # the stream's own clock: after retrieval (timings)
    total_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_per_s: float | None  # completion tokens after the first / time after the first
    quotes: int = 0  # quotes of the model's reply found on their page
    quote_located: bool = False  # one of them on an expected page
    timings: dict[str, float] = field(default_factory=dict)  # Answer.timings, per stage
    notes: tuple[str, ...] = ()
    error: str = ""
    # Each fact in the evidence the model read: the most its answer could state. A fact missing
    # here is lost by retrieval or evidence picking, not by the model.
    facts_read: tuple[bool, ...] = ()
    model_text: str = ""  # the reply as the model wrote it, quotes included
    verdict: str = ""  # why the model's reply is not the headline (Answer.verdict)

    @property
    def correct_read(self) -> bool:
        return bool(self.facts_read) and all(self.facts_read)

    @property
    def correct_own(self) -> bool:
        return bool(self.facts_own) and all(self.facts_own)

    @property
    def correct_shown(self) -> bool:
        return bool(self.facts_shown) and all(self.facts_shown)

    @property
    def located(self) -> bool:
        return any(c.correct for c in self.citations)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "question": self.question,
            "answerable": self.answerable,
            "mode": self.mode,
            "answer": self.answer,
            "own_words": self.own_words,
            "facts_own": list(self.facts_own),
            "facts_shown": list(self.facts_shown),
            "correct_own": self.correct_own,
            "correct_shown": self.correct_shown,
            "citations": [c.__dict__ for c in self.citations],
            "sentences": [s.__dict__ for s in self.sentences],
            "refused": self.refused,
            "out_of_range_citations": self.out_of_range_citations,
            "first_token_ms": self.first_token_ms,
            "llm_first_token_ms": self.llm_first_token_ms,
            "total_ms": self.total_ms,
            "quotes": self.quotes,
            "quote_located": self.quote_located,
            "timings": self.timings,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens_per_s": self.tokens_per_s,
            "notes": list(self.notes),
            "error": self.error,
            "facts_read": list(self.facts_read),
            "correct_read": self.correct_read,
            "model_text": self.model_text,
            "verdict": self.verdict,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> AnswerRow:
        return cls(
            id=obj["id"],
            kind=QuestionKind(obj["kind"]),
            question=obj["question"],
            answerable=obj["answerable"],
            mode=obj["mode"],
            answer=obj["answer"],
            own_words=obj["own_words"],
            facts_own=tuple(obj["facts_own"]),
            facts_shown=tuple(obj["facts_shown"]),
            citations=tuple(CitedLocation(**c) for c in obj["citations"]),
            sentences=tuple(SentenceSupport(**s) for s in obj["sentences"]),
            refused=obj["refused"],
            out_of_range_citations=obj["out_of_range_citations"],
            first_token_ms=obj["first_token_ms"],
            llm_first_token_ms=obj["llm_first_token_ms"],
            total_ms=obj["total_ms"],
            quotes=obj.get("quotes", 0),
            quote_located=obj.get("quote_located", False),
            timings=dict(obj.get("timings", {})),
            prompt_tokens=obj["prompt_tokens"],
            completion_tokens=obj["completion_tokens"],
            tokens_per_s=obj["tokens_per_s"],
            notes=tuple(obj.get("notes", ())),
            error=obj.get("error", ""),
            facts_read=tuple(obj.get("facts_read", ())),
            model_text=obj.get("model_text", ""),
            verdict=obj.get("verdict", ""),
        )


_BULLET_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_WORDS_RE = re.compile(r"\w+")


def _sentence_key(sentence: str) -> tuple[str, ...]:
    """A sentence's words without markers or a list bullet, to match the checker's sentences."""
    return tuple(_WORDS_RE.findall(_BULLET_RE.sub("", strip_markers(sentence)).lower()))


def sentence_support(answer: Answer) -> tuple[SentenceSupport, ...]:
    """Each claim of a shown ``llm`` answer: cited, and backed by the passages it cites.

    Read from the answer's citation report: a sentence is backed when some citation lists it
    and it is not among ``unsupported_sentences``. Other modes show the documents' own
    sentences (or nothing), not claims of the model's.
    """
    if answer.mode != AnswerMode.LLM:
        return ()
    cited = {_sentence_key(s) for c in answer.citations for s in c.sentences}
    unsupported = {_sentence_key(s) for s in answer.unsupported_sentences}
    out = []
    for sentence in split_sentences(answer.text):
        key = _sentence_key(sentence)
        if len(key) < MIN_CLAIM_WORDS or sentence.rstrip().endswith(":"):
            continue
        is_cited = key in cited
        out.append(
            SentenceSupport(strip_markers(sentence), is_cited, is_cited and key not in unsupported)
        )
    return tuple(out)


def cited_locations(answer: Answer, case: AnswerCase) -> tuple[CitedLocation, ...]:
    """The answer's citations, each marked right when its file and page are expected."""
    expected = set(case.locations)
    return tuple(
        CitedLocation(
            number=c.number,
            file=c.file_name,
            page=c.page,
            correct=Location(c.file_name, c.page) in expected,
            supported=c.supported,
            # Else the citations are of the documents' own sentences.
            own=answer.mode == AnswerMode.LLM,
        )
        for c in answer.citations
    )


def quote_located(answer: Answer, case: AnswerCase) -> bool:
    """Whether a quote found on its page is on one of the question's expected pages."""
    expected = set(case.locations)
    for quote in answer.quotes:
        if 1 <= quote.number <= len(answer.sources):
            hit = answer.sources[quote.number - 1]
            if Location(hit.file_name, hit.page) in expected:
                return True
    return False


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of a text; ``method`` says how, for the report."""

    count: Callable[[str], int]
    method: str


APPROX_TOKENS = TokenCounter(
    lambda text: math.ceil(len(text) / 4), "approximate: characters / 4 (no tokenizer)"
)

# Qwen's chat template wraps each message in <|im_start|>role\n … <|im_end|>\n: two messages.
_TEMPLATE_TOKENS = 10


def prompt_tokens(answer: Answer, tokens: TokenCounter) -> int | None:
    """Tokens the model read: the system prompt, the sources as shown to it, the question."""
    if not answer.prompt_sources or answer.mode == AnswerMode.EXTRACTIVE:
        return None
    text = f"{SYSTEM_PROMPT}\n{answer.prompt_sources}\nQuestion: {answer.standalone_question}"
    return tokens.count(text) + _TEMPLATE_TOKENS


def run_case(
    answerer: Answerer,
    case: AnswerCase,
    config: RetrievalConfig,
    *,
    tokens: TokenCounter = APPROX_TOKENS,
) -> AnswerRow:
    """Ask one question as the chat does (start, stream the tokens, take the result); measure it."""
    started = time.perf_counter()
    first: float | None = None
    last: float | None = None
    pieces: list[str] = []
    try:
        stream = answerer.start(case.question, config=config)
        for piece in stream.tokens():
            last = time.perf_counter()
            first = first if first is not None else last
            pieces.append(piece)
        answer = stream.result()
    except RagError as exc:
        return _error_row(case, f"{type(exc).__name__}: {exc}")
    own = own_words(answer.mode, answer.text, answer.model_text)
    # The model wrote what was streamed unless it failed and an extractive answer replaced it.
    wrote = answer.mode in (AnswerMode.LLM, AnswerMode.EXTRACT) or bool(answer.model_text)
    completion = tokens.count("".join(pieces)) if wrote and pieces else None
    rate = None
    if completion and completion > 1 and first is not None and last is not None and last > first:
        rate = round((completion - 1) / (last - first), 2)
    return AnswerRow(
        id=case.id,
        kind=case.kind,
        question=case.question,
        answerable=case.answerable,
        mode=answer.mode,
        answer=answer.text,
        own_words=own,
        facts_own=facts_found(case.facts, own),
        facts_shown=facts_found(case.facts, answer.text),
        citations=cited_locations(answer, case),
        sentences=sentence_support(answer),
        refused=answer.declined or is_refusal(answer.mode, own),
        out_of_range_citations=len(answer.removed_citations),
        first_token_ms=_ms(first - started) if first is not None else None,
        llm_first_token_ms=answer.timings.get("first_token"),
        total_ms=answer.timings.get("total", _ms(time.perf_counter() - started)),
        prompt_tokens=prompt_tokens(answer, tokens),
        completion_tokens=completion,
        tokens_per_s=rate,
        quotes=len(answer.quotes),
        quote_located=quote_located(answer, case),
        timings=dict(answer.timings),
        notes=answer.notes,
        facts_read=facts_found(case.facts, answer.prompt_sources),
        model_text="".join(pieces) if wrote else "",
        verdict=answer.verdict,
    )


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _error_row(case: AnswerCase, error: str) -> AnswerRow:
    return AnswerRow(
        id=case.id,
        kind=case.kind,
        question=case.question,
        answerable=case.answerable,
        mode="error",
        answer="",
        own_words="",
        facts_own=tuple(False for _ in case.facts),
        facts_shown=tuple(False for _ in case.facts),
        citations=(),
        sentences=(),
        refused=False,
        out_of_range_citations=0,
        first_token_ms=None,
        llm_first_token_ms=None,
        total_ms=None,
        prompt_tokens=None,
        completion_tokens=None,
        tokens_per_s=None,
        error=error,
    )


Progress = Callable[[int, int, AnswerRow], None]


def run_answers(
    cases: Sequence[AnswerCase],
    runtime: Runtime,
    choice: LLMChoice,
    *,
    config: RetrievalConfig | None = None,
    tokens: TokenCounter = APPROX_TOKENS,
    progress: Progress | None = None,
) -> list[AnswerRow]:
    """Ask every question through the app's own path (``build_answerer``, settings' retrieval
    defaults, no document filter, no history), one at a time, and measure each answer.

    >>> rows = run_answers(load_cases(path), build_runtime(settings), connect_llm(settings))
    >>> score(rows).fact_accuracy_own
    0.61
    """
    config = config or runtime.settings.retrieval
    rows: list[AnswerRow] = []
    for i, case in enumerate(cases, start=1):
        row = run_case(build_answerer(runtime, choice), case, config, tokens=tokens)
        rows.append(row)
        if progress is not None:
            progress(i, len(cases), row)
    return rows


def in_library(
    cases: Iterable[AnswerCase], files: Collection[str]
) -> tuple[list[AnswerCase], list[AnswerCase]]:
    """The cases whose every file is among ``files`` (the library's ready documents), and the
    others; an unanswerable case names no file, so it can always be asked."""
    present: list[AnswerCase] = []
    absent: list[AnswerCase] = []
    for case in cases:
        (present if all(f in files for f in case.files) else absent).append(case)
    return present, absent


@dataclass(frozen=True)
class QuestionSetRun:
    """A question set asked of a library: the measured rows, their scores, and what was left
    out (questions about files the library lacks; questions beyond the limit)."""

    source: str  # where the questions came from, for the report
    llm: str  # the language model's status line
    questions: int  # in the set
    rows: tuple[AnswerRow, ...]
    scores: AnswerScores
    skipped: tuple[AnswerCase, ...]  # a file they name is not in the library
    missing_files: tuple[str, ...]
    beyond_limit: int
    tokens_method: str
    seconds: float


def run_question_set(
    cases: Sequence[AnswerCase],
    runtime: Runtime,
    choice: LLMChoice,
    *,
    source: str,
    limit: int = 0,
    config: RetrievalConfig | None = None,
    tokens: TokenCounter = APPROX_TOKENS,
    progress: Progress | None = None,
) -> QuestionSetRun:
    """Ask the first ``limit`` (0: all) of the questions whose files are ready in the library,
    as :func:`run_answers` does, and score them; the others are counted as skipped.

    Raises EvaluationError when nothing worth asking is left: no question, or every
    answerable one is about files the library lacks.

    >>> run = run_question_set(load_cases(path), runtime, choice, source=str(path), limit=10)
    >>> run.scores.fact_accuracy_own, len(run.skipped), run.missing_files
    (0.7, 2, ('dpr.pdf',))
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0 questions, got {limit}")
    if not cases:
        raise EvaluationError(f"{source} holds no questions.")
    ready = {d.name for d in runtime.catalog.list_documents() if d.status == DocumentStatus.READY}
    askable, skipped = in_library(cases, ready)
    missing = tuple(sorted({f for c in skipped for f in c.files if f not in ready}))
    if not any(c.answerable for c in askable) and any(c.answerable for c in cases):
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        answerable = sum(1 for c in cases if c.answerable)
        raise EvaluationError(
            f"The {answerable} answerable question(s) cannot be asked: the files they are "
            f"about are not in your library ({shown}). Add them on the Library page first."
        )
    asked = askable[:limit] if limit else askable
    started = time.perf_counter()
    rows = run_answers(asked, runtime, choice, config=config, tokens=tokens, progress=progress)
    return QuestionSetRun(
        source=source,
        llm=choice.status,
        questions=len(cases),
        rows=tuple(rows),
        scores=score(rows),
        skipped=tuple(skipped),
        missing_files=missing,
        beyond_limit=len(askable) - len(asked),
        tokens_method=tokens.method,
        seconds=round(time.perf_counter() - started, 1),
    )


# ── the scores ─────────────────────────────────────────────────────


def percentile(values: Iterable[float | None], p: float) -> float | None:
    """The p-th percentile (linear interpolation) of the measured values; None for none."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return round(float(np.percentile(np.asarray(present, dtype=np.float64), p)), 2)


def _share(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def evidence_accuracy(rows: Sequence[AnswerRow]) -> float | None:
    """Share of answerable questions whose every key fact was in the evidence the model read:
    the ceiling of what any model could answer from that evidence."""
    answerable = [r for r in rows if r.answerable]
    return _share(sum(1 for r in answerable if r.correct_read), len(answerable))


def fact_accuracy(rows: Sequence[AnswerRow], *, shown: bool = False) -> float | None:
    """Share of answerable questions whose answer states every key fact.

    ``shown=False`` reads the model's own words (its answer line, shown or not);
    ``shown=True`` reads the text the person is shown as the answer (the documents' own
    sentences when the pipeline put them in place of the model's reply).
    """
    answerable = [r for r in rows if r.answerable]
    hits = sum(1 for r in answerable if (r.correct_shown if shown else r.correct_own))
    return _share(hits, len(answerable))


def verified_accuracy(rows: Sequence[AnswerRow]) -> float | None:
    """Share of answerable questions answered in the model's words, shown as verified
    (mode ``llm``: its quote is on the page), stating every key fact: the issue's goal."""
    answerable = [r for r in rows if r.answerable]
    hits = sum(1 for r in answerable if r.mode == AnswerMode.LLM and r.correct_shown)
    return _share(hits, len(answerable))


def quote_location_recall(rows: Sequence[AnswerRow]) -> float | None:
    """Share of answerable questions whose answer rests on a verified quote from an expected page."""
    answerable = [r for r in rows if r.answerable]
    return _share(sum(1 for r in answerable if r.quote_located), len(answerable))


def location_precision(rows: Sequence[AnswerRow], *, own_only: bool = False) -> float | None:
    """Share of the citations of answerable questions' answers that point at an expected page.

    ``own_only`` keeps the citations the model made in its own words.
    """
    cites = [c for r in rows if r.answerable for c in r.citations if c.own or not own_only]
    return _share(sum(1 for c in cites if c.correct), len(cites))


def location_recall(rows: Sequence[AnswerRow]) -> float | None:
    """Share of answerable questions with at least one citation on an expected page."""
    answerable = [r for r in rows if r.answerable]
    return _share(sum(1 for r in answerable if r.located), len(answerable))


def citation_recall(rows: Sequence[AnswerRow]) -> float | None:
    """ALCE citation recall: per answer, the share of its claims that cite passages which back
    them (uncited claims count as unbacked), averaged over the answers with claims.

    Claims are the sentences of the model's own words with three words or more, in answers
    that do not refuse.
    """
    per_answer = [
        sum(1 for s in r.sentences if s.supported) / len(r.sentences)
        for r in rows
        if r.sentences and not r.refused
    ]
    return round(sum(per_answer) / len(per_answer), 4) if per_answer else None


def citation_support(rows: Sequence[AnswerRow], *, own_only: bool = True) -> float | None:
    """Share of citations the checker found supported (ALCE's citation precision, by overlap)."""
    cites = [c for r in rows for c in r.citations if c.own or not own_only]
    return _share(sum(1 for c in cites if c.supported), len(cites))


def refusal_precision(rows: Sequence[AnswerRow]) -> float | None:
    """Of the answers that refused, the share whose question is indeed unanswerable."""
    refused = [r for r in rows if r.refused]
    return _share(sum(1 for r in refused if not r.answerable), len(refused))


def refusal_recall(rows: Sequence[AnswerRow]) -> float | None:
    """Of the unanswerable questions, the share the answer refused."""
    unanswerable = [r for r in rows if not r.answerable]
    return _share(sum(1 for r in unanswerable if r.refused), len(unanswerable))


@dataclass(frozen=True)
class KindScores:
    questions: int
    fact_accuracy_own: float | None
    fact_accuracy_shown: float | None
    fact_accuracy_verified: float | None
    location_recall: float | None
    refused: int
    first_token_p50_ms: float | None


@dataclass(frozen=True)
class AnswerScores:
    """The aggregate of a run; see each function above for what a number means."""

    questions: int
    answerable: int
    unanswerable: int
    errors: int
    modes: dict[str, int]
    fact_accuracy_own: float | None
    fact_accuracy_shown: float | None
    fact_accuracy_verified: float | None  # right, in the model's words, quote verified
    fact_accuracy_extract: float | None  # shown-text accuracy of the answers in extract modes
    fact_accuracy_read: float | None  # every fact in the evidence the model read
    quote_location_recall: float | None
    location_precision: float | None
    location_precision_own: float | None
    location_recall: float | None
    citation_recall: float | None
    citation_support: float | None
    refusal_precision: float | None
    refusal_recall: float | None
    false_refusals: int  # answerable questions the answer refused
    out_of_range_citations: int
    answers_with_out_of_range: int
    first_token_p50_ms: float | None
    first_token_p95_ms: float | None
    first_token_within_target: float | None  # share starting within FIRST_TOKEN_TARGET_MS
    llm_first_token_p50_ms: float | None
    llm_first_token_p95_ms: float | None
    total_p50_ms: float | None
    total_p95_ms: float | None
    prompt_tokens_p50: float | None
    prompt_tokens_p95: float | None
    tokens_per_s_p50: float | None
    by_kind: dict[str, KindScores] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["by_kind"] = {k: v.__dict__ for k, v in self.by_kind.items()}
        return out


def score(rows: Sequence[AnswerRow]) -> AnswerScores:
    """Every aggregate of a run's rows."""
    modes: dict[str, int] = {}
    for r in rows:
        modes[r.mode] = modes.get(r.mode, 0) + 1
    extracts = [r for r in rows if r.mode in (AnswerMode.EXTRACT, AnswerMode.EXTRACTIVE)]
    first = [r.first_token_ms for r in rows]
    measured = [v for v in first if v is not None]
    by_kind = {}
    for kind in QuestionKind:
        of_kind = [r for r in rows if r.kind == kind]
        if of_kind:
            by_kind[kind.value] = KindScores(
                questions=len(of_kind),
                fact_accuracy_own=fact_accuracy(of_kind),
                fact_accuracy_shown=fact_accuracy(of_kind, shown=True),
                fact_accuracy_verified=verified_accuracy(of_kind),
                location_recall=location_recall(of_kind),
                refused=sum(1 for r in of_kind if r.refused),
                first_token_p50_ms=percentile((r.first_token_ms for r in of_kind), 50),
            )
    return AnswerScores(
        questions=len(rows),
        answerable=sum(1 for r in rows if r.answerable),
        unanswerable=sum(1 for r in rows if not r.answerable),
        errors=sum(1 for r in rows if r.error),
        modes=modes,
        fact_accuracy_own=fact_accuracy(rows),
        fact_accuracy_shown=fact_accuracy(rows, shown=True),
        fact_accuracy_verified=verified_accuracy(rows),
        fact_accuracy_extract=fact_accuracy(extracts, shown=True),
        fact_accuracy_read=evidence_accuracy(rows),
        quote_location_recall=quote_location_recall(rows),
        location_precision=location_precision(rows),
        location_precision_own=location_precision(rows, own_only=True),
        location_recall=location_recall(rows),
        citation_recall=citation_recall(rows),
        citation_support=citation_support(rows),
        refusal_precision=refusal_precision(rows),
        refusal_recall=refusal_recall(rows),
        false_refusals=sum(1 for r in rows if r.answerable and r.refused),
        out_of_range_citations=sum(r.out_of_range_citations for r in rows),
        answers_with_out_of_range=sum(1 for r in rows if r.out_of_range_citations),
        first_token_p50_ms=percentile(first, 50),
        first_token_p95_ms=percentile(first, 95),
        first_token_within_target=_share(
            sum(1 for v in measured if v <= FIRST_TOKEN_TARGET_MS), len(measured)
        ),
        llm_first_token_p50_ms=percentile((r.llm_first_token_ms for r in rows), 50),
        llm_first_token_p95_ms=percentile((r.llm_first_token_ms for r in rows), 95),
        total_p50_ms=percentile((r.total_ms for r in rows), 50),
        total_p95_ms=percentile((r.total_ms for r in rows), 95),
        prompt_tokens_p50=percentile((r.prompt_tokens for r in rows), 50),
        prompt_tokens_p95=percentile((r.prompt_tokens for r in rows), 95),
        tokens_per_s_p50=percentile((r.tokens_per_s for r in rows), 50),
        by_kind=by_kind,
    )
