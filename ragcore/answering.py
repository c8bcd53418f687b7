"""From a question to a streamed answer whose every [n] is checked against the passage it cites."""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from ragcore.catalog.fts import has_terms
from ragcore.errors import LLMUnavailable
from ragcore.generation.citations import (
    DEFAULT_THRESHOLD,
    Citation,
    check_citations,
    cited_numbers,
    overlap,
)
from ragcore.generation.evidence import Evidence, EvidenceSelector, clean_text, opens_list
from ragcore.generation.extractive import extractive_answer
from ragcore.generation.llm import ChatLLM
from ragcore.generation.prompt import build_rewrite_messages
from ragcore.generation.queue import GenerationQueue
from ragcore.generation.quoted import (
    GRAMMAR,
    QuotedReply,
    build_quoted_messages,
    evidence_block,
    finish_restated_answer,
    parse_reply,
    quote_then_answer,
    through_answer_line,
)
from ragcore.generation.quotes import find_quote, find_row, normalise, row_misses
from ragcore.models.base import TextEmbedder
from ragcore.passages import passages_to_read
from ragcore.retrieval import WHOLE, RetrievalConfig, RetrievalResult, Retriever
from ragcore.scope import Scope
from ragcore.text_rules import (
    CITATION_MARKER,
    content_words,
    numbers,
    strip_markers,
    without_enumerators,
)
from ragcore.types import AnswerMode, ChunkKind, Hit

NOT_FOUND = "I could not find this in your documents."
NO_WORDS = "Please ask a question with words in it: there is nothing to search for in this one."
LLM_FAILED_LABEL = (
    "The configured language model could not be used ({reason}); instead, an extractive answer, "
    "the most relevant sentences from your documents:"
)
UNCITED_LABEL = "The model cited no sources; these passages bear on the question:"
EXTRACT_LABEL = "The model's answer could not be checked against your documents; they say:"
REFUSED_LABEL = "The model did not answer, but your documents say:"
UNVERIFIED = "unverified"
# Longer questions are refused with a message: a pasted page is not a question, and its
# prompt alone would take minutes on a small machine.
MAX_QUESTION_CHARS = 1000
# A verified answer may use the question's and the quoted passage's words; at least this
# share of its content words must come from them, and every number must.
MIN_GROUNDED_SHARE = 0.6
# Of the words an answer adds to the question's, at least this share must be in the sources it
# quoted or cited (as the model read them): the claim must be checkable there.
MIN_CLAIM_SHARE = 0.5
# Words (not numbers) of an answer's claim that a source it did not cite must hold, and the
# sources it quoted and cited must not, before that source is cited for it (_cited_where_held).
MIN_CITED_ELSEWHERE = 2
# The best evidence sentence must score this much (EvidenceWeights) before a refused or
# unverifiable reply is replaced by an extract; below it the answer is "not found".
STRONG_EVIDENCE = 0.62
# Why an answer is not shown when it gives a number no source holds; _judge tells it apart.
INVENTED_NUMBER = "it gives a number its sources do not contain"
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class RelevanceGate:
    """Below both bars the answer says it could not find the answer instead of guessing.

    The cosine bar suits MiniLM-class models (unrelated text scores ~0.0–0.15); the rerank bar
    is an ms-marco cross-encoder logit (about 2 % relevance probability).
    """

    min_text_similarity: float = 0.2
    min_rerank_score: float = -4.0

    def relevance(self, hit: Hit) -> float:
        ev = hit.evidence
        if ev.rerank_score is not None:
            return 1.0 / (1.0 + math.exp(-ev.rerank_score))
        return ev.text_score if ev.text_score is not None else 0.0

    def passes(self, hits: Sequence[Hit]) -> bool:
        for hit in hits:
            ev = hit.evidence
            if ev.rerank_score is not None and ev.rerank_score >= self.min_rerank_score:
                return True
            if ev.rerank_score is None and (ev.text_score or 0.0) >= self.min_text_similarity:
                return True
            if ev.image_rank is not None and ev.image_rank <= 3 and hit.kind == ChunkKind.IMAGE:
                return True
            # Keyword-only evidence counts when dense search is off or the store has no vectors.
            if ev.text_score is None and ev.rerank_score is None and ev.bm25_rank is not None:
                return True
        return False


@dataclass(frozen=True)
class VerifiedQuote:
    """Words the model copied, found in source ``number`` at ``start:end`` of its text."""

    number: int
    start: int
    end: int
    text: str  # the passage's own words at that span
    score: float  # 100 = exact after normalising; else the fuzzy match score
    cited: int | None  # the number the model gave, when it named another source
    # A table row the model wrote as a sentence (quotes.find_row): its numbers and most of its
    # words are in the row, not its wording.
    row: bool = False


@dataclass(frozen=True)
class Answer:
    """A finished answer. ``mode`` says what the headline ``text`` is:

    - ``llm``: the model's answer, resting on a quote found on the cited page;
    - ``extract``: the model refused or could not be verified, so the headline is the
      documents' own sentences (``model_text`` keeps the unverified reply, labelled);
    - ``extractive``: no model is configured (or it failed): the best sentences, cited;
    - ``not_found``: nothing good enough was found; ``closest`` shows what was.
    """

    question: str
    standalone_question: str
    text: str  # the checked answer: out-of-range [n] removed
    mode: AnswerMode
    citations: tuple[Citation, ...]
    removed_citations: tuple[int, ...]
    unsupported_sentences: tuple[str, ...]
    sources: tuple[Hit, ...]  # exactly what the model saw, source n = sources[n-1]
    prompt_sources: str
    timings: dict[str, float]
    notes: tuple[str, ...] = ()
    llm: str = ""
    closest: tuple[Hit, ...] = ()  # when not found: the nearest passages, for the person to judge
    quotes: tuple[VerifiedQuote, ...] = ()
    # Per source, the (start, end) spans of its text that the model read.
    excerpts: tuple[tuple[tuple[int, int], ...], ...] = ()
    model_text: str = ""  # the model's reply as written, when it is not the headline
    verdict: str = ""  # why the headline is what it is, in a person's words
    # The model gave no answer: it said the documents do not say, or only restated the question.
    declined: bool = False

    @property
    def unverified(self) -> bool:
        return bool(self.model_text)

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "answer": self.text,
            "mode": self.mode,
            "verdict": self.verdict,
            "declined": self.declined,
            "llm": self.llm,
            "quotes": [q.__dict__ for q in self.quotes],
            "model_text": self.model_text,
            "citations": [c.__dict__ | {"sentences": list(c.sentences)} for c in self.citations],
            "removed_citations": list(self.removed_citations),
            "unsupported_sentences": list(self.unsupported_sentences),
            "sources": [
                hit_json(h, n) | {"excerpt": [list(s) for s in self.excerpt_spans(n)]}
                for n, h in enumerate(self.sources, start=1)
            ],
            "closest": [hit_json(h, None) for h in self.closest],
            "prompt_sources": self.prompt_sources,
            "timings_ms": self.timings,
            "notes": list(self.notes),
        }

    def excerpt_spans(self, number: int) -> tuple[tuple[int, int], ...]:
        """The spans of source ``number`` the model read (its whole text if not cut down)."""
        if 1 <= number <= len(self.excerpts):
            return self.excerpts[number - 1]
        hit = self.sources[number - 1] if 1 <= number <= len(self.sources) else None
        return ((0, len(hit.text)),) if hit is not None else ()


def hit_json(hit: Hit, number: int | None) -> dict[str, object]:
    ev = hit.evidence
    return {
        "n": number,
        "point_id": hit.point_id,
        "file_name": hit.file_name,
        "doc_id": hit.doc_id,
        "page": hit.page,
        "chunk_no": hit.chunk_no,
        "kind": str(hit.kind),
        "start": hit.start,
        "end": hit.end,
        "section": hit.section,
        "location": hit.where,
        "text": hit.text,
        "evidence": {
            "bm25_rank": ev.bm25_rank,
            "bm25_score": ev.bm25_score,
            "text_rank": ev.text_rank,
            "text_score": ev.text_score,
            "image_rank": ev.image_rank,
            "image_score": ev.image_score,
            "dense_rank": ev.dense_rank,
            "dense_score": ev.dense_score,
            "fused_rank": ev.fused_rank,
            "fused_score": ev.fused_score,
            "rerank_score": ev.rerank_score,
        },
    }


Status = Callable[[str], None]


@dataclass
class AnswerStream:
    """A started answer: iterate ``tokens()`` to stream it, then read ``result()``.

    ``cancel()`` (a Stop button, a closed page) ends the model's request: llama.cpp stops
    generating as soon as the connection closes.
    """

    question: str
    standalone_question: str
    retrieval: RetrievalResult
    sources: tuple[Hit, ...]
    timings: dict[str, float]
    notes: list[str]
    _finish: Callable[[str, AnswerMode], Answer]
    _producer: Iterator[str]
    _mode: AnswerMode
    _queue: GenerationQueue | None = None
    _parts: list[str] = field(default_factory=list)
    _done: bool = False
    _cancelled: bool = False
    _started: float = field(default_factory=time.perf_counter)

    def tokens(self, status: Status | None = None) -> Iterator[str]:
        """The reply as it is written; ``status`` hears the stage ("waiting: 1 answer ahead",
        "reading 3 sources", "writing")."""
        say = status or (lambda _text: None)
        try:
            with self._turn(say):
                if self._mode == AnswerMode.LLM:
                    say(
                        f"reading {len(self.sources)} source{'s' if len(self.sources) != 1 else ''}"
                    )
                # Stopped while waiting in line: the model is never asked (the producer is a
                # generator, so its request starts only when it is first iterated).
                pieces = iter(()) if self._cancelled else self._producer
                count, first_at, last_at = 0, 0.0, 0.0
                for piece in pieces:
                    if self._cancelled:
                        break
                    last_at = time.perf_counter()
                    count += 1
                    if count == 1:
                        self.timings["first_token"] = _ms(self._started)
                        first_at = last_at
                        if self._mode == AnswerMode.LLM:
                            say("writing")
                    self._parts.append(piece)
                    yield piece
                if self._mode == AnswerMode.LLM and count > 1 and last_at > first_at:
                    # An OpenAI-style stream sends one token a chunk (llama.cpp does), so
                    # chunks after the first over the time they took is the writing speed.
                    self.timings["completion_tokens"] = float(count)
                    self.timings["tokens_per_s"] = round((count - 1) / (last_at - first_at), 2)
        except LLMUnavailable as exc:
            # The endpoint died mid-answer: fall back rather than leave the person with nothing.
            self.notes.append(f"language model failed ({exc}); showing an extractive answer")
            self._mode = AnswerMode.EXTRACTIVE
            label = LLM_FAILED_LABEL.format(reason=exc)
            self._parts = [extractive_answer(self.standalone_question, self.sources, label=label)]
            yield "\n\n" + self._parts[0]
        finally:
            close = getattr(self._producer, "close", None)
            if close is not None:
                close()  # a generator over an HTTP stream: closing it ends the request
        self.timings["generate"] = _ms(self._started)
        self._done = True

    @contextlib.contextmanager
    def _turn(self, say: Status) -> Iterator[None]:
        if self._mode != AnswerMode.LLM or self._queue is None:
            yield
            return
        waited = time.perf_counter()
        with self._queue.turn(
            lambda ahead: say(_waiting(ahead)), cancelled=lambda: self._cancelled
        ):
            if time.perf_counter() - waited > 0.05:
                self.timings["queue"] = _ms(waited)
            yield

    def cancel(self) -> None:
        """Stop the model's reply; ``result()`` then reports what was written, marked stopped."""
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def result(self) -> Answer:
        if not self._done:
            for _ in self.tokens():
                pass
        if self._cancelled:
            self.notes.append("stopped by the person before the model finished")
        return self._finish("".join(self._parts), self._mode)


def _waiting(ahead: int) -> str:
    return f"waiting: {ahead} answer{'s' if ahead != 1 else ''} ahead of this one"


class Answerer:
    """Rewrites follow-ups, retrieves, picks the evidence sentences, asks the LLM to quote then
    answer (or answers extractively), and checks the quote on the page and the answer against it.

    >>> stream = Answerer(retriever, llm, embedder=models.text).start("What is ZTA?", config=cfg)
    >>> for token in stream.tokens(): print(token, end="")
    >>> stream.result().quotes[0].number
    1
    """

    def __init__(
        self,
        retriever: Retriever,
        llm: ChatLLM | None,
        *,
        embedder: TextEmbedder | None = None,
        gate: RelevanceGate = RelevanceGate(),
        llm_note: str = "",
        selector: EvidenceSelector | None = None,
        queue: GenerationQueue | None = None,
        grammar: bool = False,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.embedder = embedder
        self.gate = gate
        self.llm_note = llm_note
        self.selector = selector or EvidenceSelector(embedder=embedder)
        self.queue = queue
        # llama.cpp's server takes a GBNF grammar; other endpoints would reject the field.
        self.grammar = grammar

    def _similarity(self) -> Callable[[str, str], float] | None:
        embedder = self.embedder
        if embedder is None:
            return None
        cache: dict[str, np.ndarray] = {}

        def vec(text: str) -> np.ndarray:
            if text not in cache:
                v = embedder.embed_passages([text])[0]
                # Dot-product models store raw vectors: normalise here, a cosine is wanted.
                norm = float(np.linalg.norm(v))
                cache[text] = v / norm if norm > 0 else v
            return cache[text]

        # MiniLM's cosine runs high even for made-up claims (0.3–0.7 measured against 0.55–0.9
        # for faithful ones), so it only vouches for a sentence at 0.75 and above: scaled here
        # so that the checker's shared bar (0.6) means cosine 0.75.
        scale = DEFAULT_THRESHOLD / 0.75
        return lambda a, b: scale * float(np.dot(vec(a), vec(b)))

    def rewrite(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        if not history or self.llm is None:
            return question
        try:
            text = self.llm.complete(build_rewrite_messages(question, history)).strip()
        except LLMUnavailable:
            return question
        first_line = text.splitlines()[0].strip().strip('"') if text else ""
        return first_line if 3 <= len(first_line) <= 500 else question

    def start(
        self,
        question: str,
        *,
        config: RetrievalConfig,
        history: Sequence[tuple[str, str]] = (),
        scope: Scope = WHOLE,
        standalone: str | None = None,
    ) -> AnswerStream:
        """Begin answering. ``standalone`` is the question as the person confirmed or edited it
        after seeing the rewrite; given, no rewrite is asked for."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        question = question.strip()
        if len(question) > MAX_QUESTION_CHARS:
            raise ValueError(
                f"the question is {len(question):,} characters long; ask in at most "
                f"{MAX_QUESTION_CHARS:,} (a question, not a document)"
            )
        t0 = time.perf_counter()
        # Emoji or punctuation alone match nothing by keyword, but any text has a nearest
        # passage by embedding: searching would cite an unrelated sentence, so nothing is.
        searchable = has_terms(question) or (standalone is not None and has_terms(standalone))
        if standalone is None:
            standalone = self.rewrite(question, history) if searchable else question
            if history and searchable:
                timings["rewrite"] = _ms(t0)
        retrieval = (
            self.retriever.run(standalone, config, scope=scope)
            if searchable
            else RetrievalResult(standalone, (), {})
        )
        timings.update({k: v for k, v in retrieval.timings.items() if k != "total"})
        notes = list(retrieval.notes)
        hits = retrieval.hits
        evidence = Evidence(())
        mode = AnswerMode.NOT_FOUND
        producer: Iterator[str] = iter([NOT_FOUND if searchable else NO_WORDS])
        if hits and self.gate.passes(hits):
            t0 = time.perf_counter()
            read = passages_to_read(
                standalone,
                hits,
                self.retriever.catalog,
                lambda docs: (
                    self.retriever.run(standalone, config, scope=replace(scope, doc_ids=docs)).hits
                ),
            )
            hits = read.hits
            notes += read.notes
            evidence = self.selector.select(standalone, hits, first=read.named)
            timings["evidence"] = _ms(t0)
            if not evidence.sources:
                pass
            elif self.llm is not None:
                mode = AnswerMode.LLM
                messages = build_quoted_messages(standalone, evidence)
                timings["prompt_tokens"] = float(sum(len(m["content"]) for m in messages) // 4)
                # The reply is begun for the model with its quote label when its template is
                # known, which holds it to the form without a grammar's cost per token.
                producer = (
                    through_answer_line(self.llm.stream(messages, grammar=GRAMMAR))
                    if self.grammar
                    else finish_restated_answer(
                        through_answer_line(quote_then_answer(self.llm, messages, evidence)),
                        self.llm,
                        messages,
                        partial(restates, question=standalone),
                    )
                )
            else:
                mode = AnswerMode.EXTRACTIVE
                if self.llm_note:
                    notes.append(self.llm_note)
                producer = iter([extractive_answer(standalone, evidence.hits)])
        shown = evidence.hits
        llm_name = self.llm.describe() if (self.llm is not None and mode == AnswerMode.LLM) else ""

        def finish(raw: str, final_mode: AnswerMode) -> Answer:
            t1 = time.perf_counter()
            verdict = _Verdict(text=raw, mode=final_mode)
            if final_mode == AnswerMode.LLM:
                verdict = self._judge(standalone, raw, evidence)
            report = None
            if (
                verdict.mode in (AnswerMode.LLM, AnswerMode.EXTRACT, AnswerMode.EXTRACTIVE)
                and shown
            ):
                report = check_citations(
                    verdict.text, _as_read(evidence), similarity=self._similarity()
                )
            timings["check"] = _ms(t1)
            timings["total"] = _ms(started)
            removed = report.removed if report else ()
            if removed:
                notes.append(
                    "removed citation numbers that match no source: "
                    + ", ".join(f"[{n}]" for n in removed)
                )
            closest = retrieval.hits[:3] if verdict.mode == AnswerMode.NOT_FOUND else ()
            return Answer(
                question=question,
                standalone_question=standalone,
                text=report.text if report else verdict.text,
                mode=verdict.mode,
                citations=report.citations if report else (),
                removed_citations=removed,
                unsupported_sentences=report.unsupported_sentences if report else (),
                sources=shown if verdict.mode != AnswerMode.NOT_FOUND or verdict.model_text else (),
                prompt_sources=evidence_block(evidence) if shown else "",
                timings=timings,
                notes=tuple(notes),
                llm=llm_name,
                closest=closest,
                quotes=verdict.quotes,
                excerpts=tuple(
                    tuple((s.start, s.end) for s in src.spans) for src in evidence.sources
                ),
                model_text=verdict.model_text,
                verdict=verdict.why,
                declined=verdict.declined,
            )

        return AnswerStream(
            question=question,
            standalone_question=standalone,
            retrieval=retrieval,
            sources=shown,
            timings=timings,
            notes=notes,
            _finish=finish,
            _producer=producer,
            _mode=mode,
            _queue=self.queue,
        )

    def _mentions(self, hit: Hit, name: str) -> bool:
        """Whether the document of ``hit`` mentions ``name`` anywhere (its keyword index)."""
        return bool(self.retriever.catalog.bm25_search(name, limit=1, doc_ids=[hit.doc_id]))

    def _judge(self, question: str, raw: str, evidence: Evidence) -> _Verdict:
        """What the person reads: the model's answer if its quote is on the page and the answer
        rests on it; else the documents' own words when they are strong; else "not found"."""
        reply = parse_reply(raw)
        texts = [s.hit.text for s in evidence.sources]
        quotes: list[VerifiedQuote] = []
        failed = 0
        for quote in reply.quotes:
            match = find_quote(quote.text, texts, cited=quote.number)
            row = match is None
            if match is None:
                match = find_row(quote.text, texts, cited=quote.number)
                # A row is about what its cells name: asked of Yahoo!'s closure in Burbank,
                # the row of another Burbank company does not answer, whatever its number.
                if match and row_misses(question, texts[match.number - 1], match.start, match.end):
                    match = None
            if match is None:
                failed += 1
                continue
            hit = evidence.sources[match.number - 1].hit
            quotes.append(
                VerifiedQuote(
                    number=match.number,
                    start=match.start,
                    end=match.end,
                    text=hit.text[match.start : match.end],
                    score=round(match.score, 1),
                    cited=quote.number if quote.number != match.number else None,
                    row=row,
                )
            )
        # A title page matches any question that names its document ("How much does Semantic
        # Scholar charge …" against "… Construction of the Literature Graph in Semantic
        # Scholar"), so it does not make the evidence strong enough to show for itself.
        strong = evidence.strength >= STRONG_EVIDENCE
        # "The torque should a nut be tightened to [1]." answers nothing: a small model asked
        # what the sources do not hold often turns the question into a statement and cites it.
        quoted = " ".join(q.text for q in quotes) if quotes else None
        echoed = bool(reply.answer) and restates(reply.answer, question, quoted)
        problem = None
        if not (reply.refused or not reply.answer or echoed):
            problem = _ungrounded(question, reply, quotes, evidence, failed, self._mentions)
            recited = (
                _cited_where_held(question, reply, quotes, evidence, self._mentions)
                if problem
                else None
            )
            if recited is not None:
                reply, problem = recited, None
            # Its first answer line only restated the question, and the one it was made to
            # finish does not rest on its quote: the model had no answer.
            echoed = reply.finished and problem is not None
        # A number no source holds, beside quotes that hold no number at all: the model found
        # nothing to give and made one up ("tightened to a torque of 10 Nm", quoting what the
        # nut is made of). Its quote is then the closest sentence, not what the documents say
        # about the question.
        invented = problem == INVENTED_NUMBER and not numbers(quoted or "")
        if reply.refused or not reply.answer or echoed or invented:
            how = (
                "only restated the question"
                if echoed
                else "gave a number no source holds"
                if invented
                else "declined to answer"
            )
            if quotes and not any(_telling(q, evidence) for q in quotes):
                # Asked to quote "the closest sentence" when it finds no answer, the model does;
                # a sentence that matches the question this loosely is not what the documents
                # say about it ("Boots self-locking nuts are made with three spring styles"
                # for a torque no document gives).
                return _Verdict(
                    NOT_FOUND, AnswerMode.NOT_FOUND, (), raw.strip(),
                    f"the model {how}; the sentence it quoted is only loosely related",
                    declined=True,
                )  # fmt: skip
            if quotes:
                # "The documents do not say" beside a quote that is on the page: the quote is
                # the better answer, and it has been checked.
                return _Verdict(
                    _extract(REFUSED_LABEL, quotes), AnswerMode.EXTRACT, tuple(quotes), raw.strip(),
                    f"the model {how}, but the sentence it quoted is on the page",
                    declined=True,
                )  # fmt: skip
            if strong:
                return _Verdict(
                    _evidence_extract(REFUSED_LABEL, evidence), AnswerMode.EXTRACT, (), raw.strip(),
                    f"the model {how}; the closest sentences are shown instead",
                    declined=True,
                )  # fmt: skip
            return _Verdict(
                NOT_FOUND, AnswerMode.NOT_FOUND, (), raw.strip() if echoed else "",
                f"the model {how}" if echoed else "the model found no answer",
                declined=True,
            )  # fmt: skip
        if problem is None:
            return _Verdict(
                _with_citation(reply.answer, quotes, evidence),
                AnswerMode.LLM,
                tuple(quotes),
                "",
                "",
            )
        if quotes and any(_telling(q, evidence) for q in quotes):
            return _Verdict(
                _extract(EXTRACT_LABEL, quotes),
                AnswerMode.EXTRACT,
                tuple(quotes),
                raw.strip(),
                problem,
            )
        if quotes and not strong:
            # The same bar as for a declined reply: an unverifiable answer beside a loosely
            # related quote ("Privacy Control (Adapted from NIST SP 800-37)" for which hash
            # function the framework requires) is an answer the documents do not give.
            return _Verdict(
                NOT_FOUND, AnswerMode.NOT_FOUND, (), raw.strip(),
                f"{problem}; the sentence it quoted is only loosely related",
            )  # fmt: skip
        if strong:
            # The sentence it quoted, checked on the page, leads: it is what the model read the
            # answer in ("A loss of integrity is the unauthorized modification or destruction of
            # information." under an answer that wandered off it).
            return _Verdict(
                _evidence_extract(EXTRACT_LABEL, evidence, quotes),
                AnswerMode.EXTRACT,
                tuple(quotes),
                raw.strip(),
                problem,
            )
        return _Verdict(NOT_FOUND, AnswerMode.NOT_FOUND, (), raw.strip(), problem)

    def ask(
        self,
        question: str,
        *,
        config: RetrievalConfig,
        history: Sequence[tuple[str, str]] = (),
        scope: Scope = WHOLE,
        standalone: str | None = None,
    ) -> Answer:
        return self.start(
            question, config=config, history=history, scope=scope, standalone=standalone
        ).result()


@dataclass(frozen=True)
class _Verdict:
    text: str
    mode: AnswerMode
    quotes: tuple[VerifiedQuote, ...] = ()
    model_text: str = ""
    why: str = ""
    declined: bool = False


def restates(answer: str, question: str, quoted: str | None = None) -> bool:
    """Whether ``answer`` says nothing the question did not: no number and no content word of
    its own, or, given the text it ``quoted``, a single one that text does not hold, which is
    filler ("Which hash function does the Privacy Framework require?" answered "The Privacy
    Framework requires the use of a hash function [2]." beside a quoted heading). A yes or a no
    is an answer. (An answer with words of its own that its quote does not hold is judged by
    ``_ungrounded``: it answered, unverifiably.)"""
    said = strip_markers(answer)
    if re.match(r"\W*(?:yes|no)\b", said, re.IGNORECASE):
        return False
    if numbers(said) - numbers(question):
        return False
    new = content_words(said) - content_words(question)
    if quoted is not None and len(new) == 1:
        return not new & content_words(quoted)
    return not new


def _telling(quote: VerifiedQuote, evidence: Evidence) -> bool:
    """Whether the evidence sentence a quote copies matched the question strongly."""
    spans = evidence.sources[quote.number - 1].spans
    score = max((s.score for s in spans if s.start < quote.end and quote.start < s.end), default=0)
    return score >= STRONG_EVIDENCE


def _as_read(evidence: Evidence) -> list[Hit]:
    """The sources with the text the model read, for checking what the answer says."""
    return [replace(s.hit, text=s.text) for s in evidence.sources]


def _ungrounded(
    question: str,
    reply: QuotedReply,
    quotes: Sequence[VerifiedQuote],
    evidence: Evidence,
    failed: int,
    mentions: Callable[[Hit, str], bool] | None = None,
) -> str | None:
    """Why the answer cannot be shown as verified, or None when it rests on its quotes."""
    if not quotes:
        if failed:
            return "its quote is not on the cited page"
        return "it quoted nothing from the sources"
    # "How many were laid off in 2017?" answered from a 2015 table: the quote is on the page,
    # but it is about something else. A number the question states must be in some source.
    given = " ".join(s.hit.text for s in evidence.sources)
    absent = sorted(set(_NUMBER.findall(question)) - set(_NUMBER.findall(given)))
    if absent:
        return f"no source mentions the question's {', '.join(absent)}"
    backing = " ".join([q.text for q in quotes] + [_its_list(q, evidence) for q in quotes])
    said = without_enumerators(strip_markers(reply.answer))
    sources = _read_text(reply, quotes, evidence)
    # "5 essential characteristics" rests on "five essential characteristics"; "100 words long;
    # there are 21,015,324 passages [1]" quoted the first and read the second in source 1.
    numbers_ok = numbers(said) <= numbers(backing + " " + question + " " + sources)
    if not numbers_ok:
        return INVENTED_NUMBER
    # The quotes are what the answer rests on: a [1] beside a quote found in source 3 was the
    # quote's label, not a second source for the claim.
    rests_on = [evidence.sources[q.number - 1].hit for q in quotes]
    absent = _unmentioned(question, said, rests_on, mentions)
    if absent:
        return f"it names {', '.join(absent)}, which the document it rests on never mentions"
    allowed = content_words(backing) | content_words(question)
    # Its numbers are checked above, in digits or words alike.
    answer_words = {w for w in content_words(said) if not w.isdigit()}
    if overlap(answer_words, allowed) < MIN_GROUNDED_SHARE:
        return "it says more than the sentence it quoted"
    # What the answer adds to the question is its claim, and the sources it rests on must hold
    # it: "The Privacy Framework requires the use of a conventional hash function for
    # pseudonymizing personal data" is nearly all the question's words, but "conventional" is
    # in no source it quoted or cited (it came from another file's sentence).
    held = content_words(backing + " " + sources)
    claim = answer_words - content_words(question)
    if claim and overlap(claim, held) < MIN_CLAIM_SHARE:
        return "what it adds to the question is not in the sources it quoted"
    return None


def _cited_where_held(
    question: str,
    reply: QuotedReply,
    quotes: Sequence[VerifiedQuote],
    evidence: Evidence,
    mentions: Callable[[Hit, str], bool] | None = None,
) -> QuotedReply | None:
    """The reply citing also the one source the model read that holds what its answer adds,
    when the sources it quoted and cited do not: "The five Functions are: Identify-P, Govern-P,
    Control-P, Communicate-P, and Protect-P [1]" quoted source 1, which names only the first,
    while source 3 names all five. The citation then points where a person can check the
    claim; the quote is kept as the model copied it. None when no single source holds it."""
    if not quotes:
        return None
    said = strip_markers(reply.answer)
    claim = content_words(said) - content_words(question)
    missing = claim - content_words(
        " ".join(q.text for q in quotes) + " " + _read_text(reply, quotes, evidence)
    )
    # The other source must supply the substance in words, not a word of phrasing beside a
    # number: "The PRESENT S-box needed 395 GEs", quoting a sentence about DESL, lacked "395"
    # and "GEs", which another source has, said of the AES S-box; citing it would vouch for a
    # number given to the wrong thing, which word checks cannot see.
    if len({w for w in missing if not w.isdigit()}) < MIN_CITED_ELSEWHERE:
        return None
    for number, source in enumerate(evidence.sources, start=1):
        # All it lacks, in that one source: words gathered from several make a claim none of
        # them states.
        if not missing <= content_words(source.text):
            continue
        cited = replace(reply, answer=_cite_also(reply.answer, number, quotes))
        if (
            cited.answer != reply.answer
            and _ungrounded(question, cited, quotes, evidence, 0, mentions) is None
        ):
            return cited
    return None


def _cite_also(answer: str, number: int, quotes: Sequence[VerifiedQuote]) -> str:
    """``answer`` with ``number`` joined to its last citation marker (or, without one, to its
    quotes' sources); unchanged when that marker already names it."""
    markers = list(CITATION_MARKER.finditer(answer))
    if not markers:
        return _marked(answer.strip(), {q.number for q in quotes} | {number})
    last = markers[-1]
    names = cited_numbers(last[0])
    if number in names:
        return answer
    return answer[: last.start()] + _marker({*names, number}) + answer[last.end() :]


def _marker(numbers: set[int]) -> str:
    return "[" + ", ".join(str(n) for n in sorted(numbers)) + "]"


def _its_list(quote: VerifiedQuote, evidence: Evidence) -> str:
    """The items the model read after a quote that opens a list ("The practices are organized
    into four groups: 1."), which back an answer naming them as the quote itself does; "" for
    any other quote."""
    if not opens_list(quote.text):
        return ""
    source = evidence.sources[quote.number - 1]
    return " ".join(span.text for span in source.spans if span.start >= quote.end - 1)


def _read_numbers(
    reply: QuotedReply, quotes: Sequence[VerifiedQuote], evidence: Evidence
) -> list[int]:
    """The numbers of the sources the reply quoted or cited."""
    read = {q.number for q in quotes} | {
        n for n in cited_in(reply.answer) if 1 <= n <= len(evidence.sources)
    }
    return sorted(read)


def _read_text(reply: QuotedReply, quotes: Sequence[VerifiedQuote], evidence: Evidence) -> str:
    """The sources the reply quoted or cited, as the model read them."""
    return " ".join(evidence.sources[n - 1].text for n in _read_numbers(reply, quotes, evidence))


# A name written in capitals: a document's or a standard's ("SSDF", "FIPS", "CVSS", "NIST").
_NAME = re.compile(r"\b[A-Z][A-Z0-9]{2,}\b")


def _unmentioned(
    question: str,
    said: str,
    hits: Sequence[Hit],
    mentions: Callable[[Hit, str], bool] | None,
) -> list[str]:
    """The names the question gives and the answer repeats that none of ``hits``' documents
    mentions: "The SSDF requires a key size of 112 bits [1]", quoting the lightweight-crypto
    report's "the minimum key size required by NIST is 112 bits", puts that report's fact to
    the SSDF. A name in the passage or its file's name is mentioned; else the document is
    asked (``mentions``), when it can be."""
    names = set(_NAME.findall(question)) & set(_NAME.findall(said))
    seen = " ".join(f"{h.text} {h.file_name}" for h in hits).lower()
    return sorted(
        name
        for name in names
        if not re.search(rf"\b{name.lower()}", seen)
        and not (mentions is not None and any(mentions(h, name) for h in hits))
    )


def cited_in(text: str) -> set[int]:
    """The source numbers the citation markers of ``text`` name."""
    return {n for m in CITATION_MARKER.finditer(text) for n in cited_numbers(m[0])}


def _with_citation(answer: str, quotes: Sequence[VerifiedQuote], evidence: Evidence) -> str:
    """The answer, cited by its quotes' sources when the model left the [n] out or cited only
    numbers no source has (it quoted source 2 of 2 and cited [3]): the verified quote says where
    the answer comes from. The wrong number stays for the citation check to remove and report,
    unless it is the number the model gave a quote found in another source (below)."""
    answer = answer.strip()
    # A reply that is a phrase copied from its quote ("five [1]") is shown as a sentence would be.
    if answer[:1].islower():
        answer = answer[0].upper() + answer[1:]
    numbers = {q.number for q in quotes}
    sources = len(evidence.sources)
    # A quote numbered [3] that is source 1's words (the model misnumbered it, or its words
    # were finished from source 1): an answer citing [3] meant that quote, unless source 3 holds
    # the answer itself (its quote came from one source, its "200 to 2,000" from the other).
    moved = {
        q.cited: q.number
        for q in quotes
        if q.cited is not None
        and q.cited not in numbers
        and not (1 <= q.cited <= sources and _backs(answer, evidence.sources[q.cited - 1].text))
    }
    if moved:
        answer = CITATION_MARKER.sub(
            lambda m: _marker({moved.get(n, n) for n in cited_numbers(m[0])}), answer
        )
    if any(1 <= n <= sources for n in cited_in(answer)) or not numbers:
        return answer
    return _marked(answer, numbers)


def _backs(answer: str, text: str) -> bool:
    """Whether ``text`` holds the answer: its numbers, and most of its words."""
    said = strip_markers(answer)
    words = content_words(said)
    return numbers(said) <= numbers(text) and overlap(words, content_words(text)) >= (
        MIN_GROUNDED_SHARE
    )


def _marked(answer: str, numbers: set[int]) -> str:
    """``answer`` with a marker citing ``numbers`` before its closing stop."""
    marker = _marker(numbers)
    if answer.endswith((".", "!", "?")):
        return f"{answer[:-1]} {marker}{answer[-1]}"
    return f"{answer} {marker}"


def _extract(label: str, quotes: Sequence[VerifiedQuote]) -> str:
    return label + "\n" + "\n".join(dict.fromkeys(_quote_lines(quotes)))


def _quote_lines(quotes: Sequence[VerifiedQuote]) -> list[str]:
    """Each verified quote as an extract's line: its words on the page, and its source."""
    return [f"- {clean_text(q.text)} [{q.number}]" for q in quotes]


def _evidence_extract(
    label: str, evidence: Evidence, quotes: Sequence[VerifiedQuote] = (), count: int = 2
) -> str:
    """``label``, the verified ``quotes``, then the best evidence sentences up to ``count``
    lines in all."""
    lines = _quote_lines(quotes)
    spans = sorted(
        ((span, n) for n, src in enumerate(evidence.sources, start=1) for span in src.spans),
        key=lambda pair: -pair[0].score,
    )
    quoted = [normalise(q.text).text for q in quotes]
    for span, n in spans:
        if len(lines) >= count:
            break
        said = normalise(span.text).text
        if not any(said in q or q in said for q in quoted):  # not the quote again
            lines.append(f"- {span.text} [{n}]")
    return label + "\n" + "\n".join(dict.fromkeys(lines))


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 2)
