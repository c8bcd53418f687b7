"""Hybrid retrieval: dense legs fused by the store, BM25 from the catalog, our weighted RRF, rerank."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from ragcore.catalog import ChunkRow
from ragcore.catalog.backend import CatalogBackend
from ragcore.errors import SpaceMoved
from ragcore.fusion import distribution_based_score_fusion, reciprocal_rank_fusion
from ragcore.models.base import ImageEmbedder, TextEmbedder
from ragcore.models.loader import Models
from ragcore.retrieval_config import RetrievalConfig, RetrievalMode
from ragcore.scope import Scope, allowed_documents
from ragcore.spaces import Pinned, SpaceSource, moves_checked, spaces_for
from ragcore.stores.base import DenseQuery, DenseResult, QueryLeg, VectorStore
from ragcore.types import IMAGE_SPACE, TEXT_SPACE, ChunkKind, Evidence, Fusion, Hit, ScoredPoint


@dataclass(frozen=True)
class RetrievalResult:
    query: str
    hits: tuple[Hit, ...]
    timings: dict[str, float]  # milliseconds per stage
    notes: tuple[str, ...] = ()  # e.g. "reranker off: ..." — shown to the person
    candidates: int = 0  # how many fused candidates there were before the cut
    legs: dict[str, int] = field(default_factory=dict)  # hits per signal


WHOLE = Scope()  # the whole library


@dataclass(frozen=True)
class _Only:
    """A scope as every search takes it: document ids (None: any) and a collection id."""

    doc_ids: list[str] | None
    collection: int | None


@dataclass(frozen=True)
class EncodedQuestion:
    """The encode stage's output: a query vector per space to search, and why one is missing."""

    legs: tuple[QueryLeg, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signals:
    """What each signal found for one question, before fusion: the store's dense result (its
    fused list and each leg's own ranking) and BM25's ranked chunks."""

    dense: DenseResult = field(default_factory=lambda: DenseResult(fused=[]))
    bm25: tuple[tuple[ChunkRow, float], ...] = ()


IMAGE_LEG_OFF = "image search off: the CLIP model is not loaded"
RERANKER_OFF = "reranker off: the cross-encoder is not loaded"


def encode(
    query: str, text: TextEmbedder, clip: ImageEmbedder | None, config: RetrievalConfig
) -> EncodedQuestion:
    """The question as dense query legs: the text model's vector, and CLIP's when it is on."""
    legs = [QueryLeg(TEXT_SPACE, text.embed_queries([query])[0].tolist(), config.dense_k)]
    if clip is not None:
        legs.append(QueryLeg(IMAGE_SPACE, clip.embed_texts([query])[0].tolist(), config.dense_k))
    notes = (IMAGE_LEG_OFF,) if config.use_image_leg and clip is None else ()
    return EncodedQuestion(tuple(legs), notes)


def fuse(signals: Signals, config: RetrievalConfig) -> list[tuple[str, float]]:
    """One ranked list of point ids from the signals the mode uses, best first."""
    dense, bm25 = signals.dense.fused, signals.bm25
    if config.mode == RetrievalMode.DENSE:
        return [(p.id, p.score) for p in dense]
    if config.mode == RetrievalMode.BM25:
        return [(row.point_id, score) for row, score in bm25]
    weights = [config.dense_weight, config.bm25_weight]
    if config.hybrid_fusion == Fusion.DBSF:
        return distribution_based_score_fusion(
            [[(p.id, p.score) for p in dense], [(row.point_id, s) for row, s in bm25]],
            weights=weights,
        )
    return reciprocal_rank_fusion(
        [[p.id for p in dense], [row.point_id for row, _ in bm25]], k=config.rrf_k, weights=weights
    )


class Retriever:
    """Runs a question through every signal and returns hits that carry their evidence.

    The stages, in order: ``encode`` the question with the pinned text model (and CLIP), the
    ``dense`` search in the pinned collection, ``bm25`` in the catalog, ``fuse`` the lists and
    attach each hit's chunk and evidence, ``rerank`` the head with the cross-encoder.

    ``spaces`` gives each question its (model, collection) pair; by default it is the store's
    own: the runtime's store follows model spaces (a ``SpaceRouter``), a plain collection is
    searched with the configured text model (benchmarks, tests).

    >>> result = Retriever(catalog, store, models).run("zero trust tenets", RetrievalConfig())
    >>> result.hits[0].evidence.bm25_rank, result.timings["dense"]
    (1, 31.2)
    """

    def __init__(
        self,
        catalog: CatalogBackend,
        store: VectorStore,
        models: Models,
        *,
        spaces: SpaceSource | None = None,
    ) -> None:
        self.catalog = catalog
        self.spaces = spaces or spaces_for(store, models)
        self.models = models

    def run(self, query: str, config: RetrievalConfig, *, scope: Scope = WHOLE) -> RetrievalResult:
        """Search the documents ``scope`` allows (the whole library by default)."""
        clock = _Stopwatch()
        only = _Only(allowed_documents(self.catalog, scope), scope.collection)
        notes: list[str] = []
        signals = Signals()
        if config.mode in (RetrievalMode.HYBRID, RetrievalMode.DENSE):
            dense, dense_notes = self._dense(query, config, only, clock)
            signals = replace(signals, dense=dense)
            notes += dense_notes
        if config.mode in (RetrievalMode.HYBRID, RetrievalMode.BM25):
            with clock.stage("bm25"):
                bm25 = self.catalog.bm25_search(
                    query, limit=config.bm25_k, doc_ids=only.doc_ids, collection=only.collection
                )
            signals = replace(signals, bm25=tuple(bm25))
        with clock.stage("fuse"):
            hits = _distinct_figures(self._hits(fuse(signals, config), signals))
        candidates = len(hits)
        hits = hits[: max(config.rerank_top_n, config.top_k)]
        if config.rerank:
            with clock.stage("rerank"):
                hits = self._rerank(query, hits, notes)
        return RetrievalResult(
            query=query,
            hits=tuple(hits[: config.top_k]),
            timings=clock.total(),
            notes=tuple(notes),
            candidates=candidates,
            legs={
                "bm25": len(signals.bm25),
                **{k: len(v) for k, v in signals.dense.legs.items()},
                "dense": len(signals.dense.fused),
            },
        )

    def _dense(
        self,
        query: str,
        config: RetrievalConfig,
        only: _Only,
        clock: _Stopwatch,
    ) -> tuple[DenseResult, tuple[str, ...]]:
        # One (model, collection) pair for this question, so a model switch meanwhile cannot
        # mix them.
        pinned = self.spaces.pin()
        try:
            with moves_checked(self.spaces, pinned):
                return self._search(pinned, query, config, only, clock)
        except SpaceMoved:
            # Switched between pinning the space and querying it (its collection just dropped):
            # a second try, with the new space.
            return self._search(self.spaces.pin(), query, config, only, clock)

    def _search(
        self,
        pinned: Pinned,
        query: str,
        config: RetrievalConfig,
        only: _Only,
        clock: _Stopwatch,
    ) -> tuple[DenseResult, tuple[str, ...]]:
        """Encode the question with the pinned model and search the pinned collection."""
        with clock.stage("encode"):
            clip = self.models.image if config.use_image_leg else None
            question = encode(query, pinned.text, clip, config)
        with clock.stage("dense"):
            result = pinned.store.query(
                DenseQuery(
                    question.legs,
                    fusion=config.fusion,
                    limit=config.dense_k,
                    doc_ids=only.doc_ids,
                    collection=only.collection,
                    with_legs=True,
                )
            )
        return result, question.notes

    def _hits(self, fused: list[tuple[str, float]], signals: Signals) -> list[Hit]:
        """The fused ids as hits with their chunk and evidence, from the catalog."""
        # The catalog is the authority: a point whose chunk is gone (a deleted document whose
        # vectors linger) is never shown.
        rows = self.catalog.chunks_by_point_ids([pid for pid, _ in fused])
        doc_ids = sorted({row.doc_id for row in rows.values()})
        # One query for every name: a round trip per document cost a networked catalog most of
        # a question's time (bench.load).
        known = self.catalog.document_names(doc_ids)
        names = {doc_id: known.get(doc_id, doc_id[:12]) for doc_id in doc_ids}
        kept = [(pid, s) for pid, s in fused if pid in rows]
        return _hits(kept, rows, names, signals.dense.fused, signals.dense.legs, signals.bm25)

    def _rerank(self, query: str, hits: list[Hit], notes: list[str]) -> list[Hit]:
        reranker = self.models.reranker
        if reranker is None:
            notes.append(RERANKER_OFF)
            return hits
        return _rerank(hits, lambda passages: reranker.score(query, passages))


class _Stopwatch:
    """Milliseconds per stage; ``total`` adds the time since the stopwatch started."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self._ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        # A stage run twice (a retry on a new space) keeps its last time.
        self._ms[name] = _ms(t0)

    def total(self) -> dict[str, float]:
        return {**self._ms, "total": _ms(self._started)}


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 2)


def _hits(
    fused: list[tuple[str, float]],
    rows: dict[str, ChunkRow],
    names: dict[str, str],
    dense: list[ScoredPoint],
    legs: dict[str, list[ScoredPoint]],
    bm25: Sequence[tuple[ChunkRow, float]],
) -> list[Hit]:
    def table(points: Sequence[ScoredPoint]) -> dict[str, tuple[int, float]]:
        out: dict[str, tuple[int, float]] = {}
        for rank, p in enumerate(points, start=1):
            out.setdefault(p.id, (rank, p.score))
        return out

    dense_t = table(dense)
    text_t = table(legs.get(TEXT_SPACE, []))
    image_t = table(legs.get(IMAGE_SPACE, []))
    bm25_t: dict[str, tuple[int, float]] = {}
    for rank, (row, score) in enumerate(bm25, start=1):
        bm25_t.setdefault(row.point_id, (rank, score))

    hits = []
    for rank, (pid, score) in enumerate(fused, start=1):
        row = rows[pid]
        b, t, i, d = bm25_t.get(pid), text_t.get(pid), image_t.get(pid), dense_t.get(pid)
        evidence = Evidence(
            bm25_rank=b[0] if b else None,
            bm25_score=b[1] if b else None,
            text_rank=t[0] if t else None,
            text_score=t[1] if t else None,
            image_rank=i[0] if i else None,
            image_score=i[1] if i else None,
            dense_rank=d[0] if d else None,
            dense_score=d[1] if d else None,
            fused_rank=rank,
            fused_score=score,
        )
        hits.append(row.to_hit(names[row.doc_id], evidence))
    return hits


def _distinct_figures(hits: list[Hit]) -> list[Hit]:
    """``hits`` without the figures found only by words another figure already has.

    Every figure of a page is indexed with the page's text around it, so six figures of one
    page are six results with the same words and, when CLIP is off, the same text vector: on
    the dev set they filled the whole top 6 of "When were the NIST Cybersecurity Framework
    and the Privacy Framework published?", and the answer could name one date only. A figure
    the image leg found keeps its place: by its picture it is a result of its own.
    """
    seen: set[tuple[str, int, str]] = set()
    out = []
    for hit in hits:
        if hit.kind == ChunkKind.IMAGE:
            # Only against other figures: a figure beside the passage it shares words with is
            # still the figure a person wants to see.
            key = (hit.doc_id, hit.page, hit.text)
            if hit.evidence.image_rank is None and key in seen:
                continue
            seen.add(key)
        out.append(hit)
    return out


def _rerank(hits: list[Hit], score: Callable[[list[str]], list[float]]) -> list[Hit]:
    """Text hits are re-ordered by the cross-encoder; image hits keep their fused positions."""
    text_slots = [i for i, h in enumerate(hits) if h.kind == ChunkKind.TEXT]
    text_hits = [hits[i] for i in text_slots]
    scores = score([h.text for h in text_hits]) if text_hits else []
    rescored = sorted(
        (
            replace(h, evidence=replace(h.evidence, rerank_score=s))
            for h, s in zip(text_hits, scores, strict=True)
        ),
        key=lambda h: -(h.evidence.rerank_score or 0.0),
    )
    out = list(hits)
    for slot, hit in zip(text_slots, rescored, strict=True):
        out[slot] = hit
    return out
