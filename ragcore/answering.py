"""From a question to a streamed answer whose every [n] is checked against the passage it cites."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ragcore.catalog.fts import has_terms
from ragcore.errors import LLMUnavailable
from ragcore.generation.citations import DEFAULT_THRESHOLD, Citation, check_citations
from ragcore.generation.extractive import extractive_answer
from ragcore.generation.llm import ChatLLM
from ragcore.generation.prompt import build_messages, build_rewrite_messages, sources_block
from ragcore.models.base import TextEmbedder
from ragcore.retrieval import RetrievalConfig, RetrievalResult, Retriever
from ragcore.types import ChunkKind, Hit

NOT_FOUND = "I could not find this in your documents."
UNCITED_LABEL = "The model cited no sources; these passages bear on the question:"
NO_WORDS = "Please ask a question with words in it: there is nothing to search for in this one."
LLM_FAILED_LABEL = (
    "The configured language model could not be used ({reason}); instead, an extractive answer, "
    "the most relevant sentences from your documents:"
)


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
class Answer:
    question: str
    standalone_question: str
    text: str  # the checked answer: out-of-range [n] removed
    mode: str  # "llm" | "extractive" | "not_found"
    citations: tuple[Citation, ...]
    removed_citations: tuple[int, ...]
    unsupported_sentences: tuple[str, ...]
    sources: tuple[Hit, ...]  # exactly what the model saw, source n = sources[n-1]
    prompt_sources: str
    timings: dict[str, float]
    notes: tuple[str, ...] = ()
    llm: str = ""
    closest: tuple[Hit, ...] = ()  # when not found: the nearest passages, for the person to judge

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "answer": self.text,
            "mode": self.mode,
            "llm": self.llm,
            "citations": [c.__dict__ | {"sentences": list(c.sentences)} for c in self.citations],
            "removed_citations": list(self.removed_citations),
            "unsupported_sentences": list(self.unsupported_sentences),
            "sources": [hit_json(h, n) for n, h in enumerate(self.sources, start=1)],
            "closest": [hit_json(h, None) for h in self.closest],
            "prompt_sources": self.prompt_sources,
            "timings_ms": self.timings,
            "notes": list(self.notes),
        }


def hit_json(hit: Hit, number: int | None) -> dict[str, object]:
    ev = hit.evidence
    return {
        "n": number,
        "file_name": hit.file_name,
        "doc_id": hit.doc_id,
        "page": hit.page,
        "chunk_no": hit.chunk_no,
        "kind": str(hit.kind),
        "start": hit.start,
        "end": hit.end,
        "section": hit.section,
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


@dataclass
class AnswerStream:
    """A started answer: iterate ``tokens()`` to stream it, then read ``result()``."""

    question: str
    standalone_question: str
    retrieval: RetrievalResult
    sources: tuple[Hit, ...]
    timings: dict[str, float]
    notes: list[str]
    _finish: Callable[[str, str], Answer]
    _producer: Iterator[str]
    _mode: str
    _parts: list[str] = field(default_factory=list)
    _done: bool = False
    _started: float = field(default_factory=time.perf_counter)

    def tokens(self) -> Iterator[str]:
        first = True
        try:
            for piece in self._producer:
                if first:
                    self.timings["first_token"] = _ms(self._started)
                    first = False
                self._parts.append(piece)
                yield piece
        except LLMUnavailable as exc:
            # The endpoint died mid-answer: fall back rather than leave the person with nothing.
            self.notes.append(f"language model failed ({exc}); showing an extractive answer")
            self._mode = "extractive"
            label = LLM_FAILED_LABEL.format(reason=exc)
            self._parts = [extractive_answer(self.standalone_question, self.sources, label=label)]
            yield "\n\n" + self._parts[0]
        self.timings["generate"] = _ms(self._started)
        self._done = True

    def result(self) -> Answer:
        if not self._done:
            for _ in self.tokens():
                pass
        return self._finish("".join(self._parts), self._mode)


class Answerer:
    """Rewrites follow-ups, retrieves, asks the LLM (or answers extractively), checks citations.

    >>> stream = Answerer(retriever, llm, embedder=models.text).start("What is ZTA?", config=cfg)
    >>> for token in stream.tokens(): print(token, end="")
    >>> stream.result().citations[0].supported
    True
    """

    def __init__(
        self,
        retriever: Retriever,
        llm: ChatLLM | None,
        *,
        embedder: TextEmbedder | None = None,
        gate: RelevanceGate = RelevanceGate(),
        llm_note: str = "",
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.embedder = embedder
        self.gate = gate
        self.llm_note = llm_note

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
        doc_ids: Sequence[str] | None = None,
    ) -> AnswerStream:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        # Emoji or punctuation alone match nothing by keyword, but any text has a nearest
        # passage by embedding: searching would cite an unrelated sentence, so nothing is.
        searchable = has_terms(question)
        standalone = self.rewrite(question, history) if searchable else question
        if history and searchable:
            timings["rewrite"] = _ms(t0)
        retrieval = (
            self.retriever.run(standalone, config, doc_ids=doc_ids)
            if searchable
            else RetrievalResult(standalone, (), {})
        )
        timings.update({k: v for k, v in retrieval.timings.items() if k != "total"})
        notes = list(retrieval.notes)
        sources = retrieval.hits
        if not searchable:
            mode = "not_found"
            producer: Iterator[str] = iter([NO_WORDS])
            shown: tuple[Hit, ...] = ()
        elif not sources or not self.gate.passes(sources):
            mode = "not_found"
            producer = iter([NOT_FOUND])
            shown = ()
        elif self.llm is not None:
            mode = "llm"
            messages = build_messages(standalone, sources, history=history)
            producer = self.llm.stream(messages)
            shown = sources
        else:
            mode = "extractive"
            if self.llm_note:
                notes.append(self.llm_note)
            producer = iter([extractive_answer(standalone, sources)])
            shown = sources
        llm_name = self.llm.describe() if (self.llm is not None and mode == "llm") else ""

        def finish(raw: str, final_mode: str) -> Answer:
            t1 = time.perf_counter()
            similarity = self._similarity()
            report = check_citations(raw, shown, similarity=similarity) if shown else None
            if report is not None and final_mode == "llm" and not report.citations:
                # Small local models often answer without any [n]: rather than present an
                # unsourced answer, show the passages that bear on it, each with its number.
                raw = (
                    raw.rstrip()
                    + "\n\n"
                    + extractive_answer(standalone, shown, label=UNCITED_LABEL)
                )
                notes.append("the model cited no sources; the closest passages were added, cited")
                report = check_citations(raw, shown, similarity=similarity)
            timings["check"] = _ms(t1)
            timings["total"] = _ms(started)
            removed = report.removed if report else ()
            if removed:
                notes.append(
                    "removed citation numbers that match no source: "
                    + ", ".join(f"[{n}]" for n in removed)
                )
            return Answer(
                question=question,
                standalone_question=standalone,
                text=report.text if report else raw,
                mode=final_mode,
                citations=report.citations if report else (),
                removed_citations=removed,
                unsupported_sentences=report.unsupported_sentences if report else (),
                sources=shown,
                prompt_sources=sources_block(shown) if shown else "",
                timings=timings,
                notes=tuple(notes),
                llm=llm_name,
                closest=retrieval.hits[:3] if final_mode == "not_found" else (),
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
        )

    def ask(
        self,
        question: str,
        *,
        config: RetrievalConfig,
        history: Sequence[tuple[str, str]] = (),
        doc_ids: Sequence[str] | None = None,
    ) -> Answer:
        return self.start(question, config=config, history=history, doc_ids=doc_ids).result()


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 2)
