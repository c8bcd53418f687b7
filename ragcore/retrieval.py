"""Hybrid retrieval: dense legs fused by the store, BM25 from the catalog, our weighted RRF, rerank."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ragcore.catalog import Catalog, ChunkRow
from ragcore.fusion import distribution_based_score_fusion, reciprocal_rank_fusion
from ragcore.models.loader import Models
from ragcore.retrieval_config import RetrievalConfig
from ragcore.spaces import Pinned, moved_since, pin
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


class Retriever:
    """Runs a question through every signal and returns hits that carry their evidence.

    >>> result = Retriever(catalog, store, models).run("zero trust tenets", RetrievalConfig())
    >>> result.hits[0].evidence.bm25_rank, result.timings["dense"]
    (1, 31.2)
    """

    def __init__(self, catalog: Catalog, store: VectorStore, models: Models) -> None:
        self.catalog = catalog
        self.store = store
        self.models = models

    def run(
        self, query: str, config: RetrievalConfig, *, doc_ids: Sequence[str] | None = None
    ) -> RetrievalResult:
        timings: dict[str, float] = {}
        notes: list[str] = []
        start_all = time.perf_counter()
        doc_filter = list(doc_ids) if doc_ids else None

        dense_fused: list[ScoredPoint] = []
        legs: dict[str, list[ScoredPoint]] = {}
        if config.mode in ("hybrid", "dense"):
            # One (model, collection) pair for this question: the active space's, if it
            # follows spaces, so a model switch meanwhile cannot mix them.
            pinned = pin(self.store, self.models)
            try:
                dense = self._dense(pinned, query, config, doc_filter, notes, timings)
            except Exception:
                # A switch between pinning the space and querying it (its collection just
                # dropped) is the one failure worth a second try, with the new space.
                if not moved_since(pinned, self.store):
                    raise
                pinned = pin(self.store, self.models)
                dense = self._dense(pinned, query, config, doc_filter, notes, timings)
            dense_fused, legs = dense.fused, dense.legs

        bm25: list[tuple[ChunkRow, float]] = []
        if config.mode in ("hybrid", "bm25"):
            t0 = time.perf_counter()
            bm25 = self.catalog.bm25_search(query, limit=config.bm25_k, doc_ids=doc_filter)
            timings["bm25"] = _ms(t0)

        t0 = time.perf_counter()
        dense_ids = [p.id for p in dense_fused]
        bm25_ids = [row.point_id for row, _ in bm25]
        if config.mode == "hybrid" and config.hybrid_fusion == Fusion.DBSF:
            fused = distribution_based_score_fusion(
                [[(p.id, p.score) for p in dense_fused], [(row.point_id, s) for row, s in bm25]],
                weights=[config.dense_weight, config.bm25_weight],
            )
        elif config.mode == "hybrid":
            fused = reciprocal_rank_fusion(
                [dense_ids, bm25_ids],
                k=config.rrf_k,
                weights=[config.dense_weight, config.bm25_weight],
            )
        elif config.mode == "dense":
            fused = [(p.id, p.score) for p in dense_fused]
        else:
            fused = [(row.point_id, score) for row, score in bm25]
        # The catalog is the authority: a point whose chunk is gone (a deleted document whose
        # vectors linger) is never shown.
        rows = self.catalog.chunks_by_point_ids([pid for pid, _ in fused])
        fused = [(pid, s) for pid, s in fused if pid in rows]
        names = {}
        for doc_id in {row.doc_id for row in rows.values()}:
            doc = self.catalog.get_document(doc_id)
            names[doc_id] = doc.name if doc else doc_id[:12]
        hits = _hits(fused, rows, names, dense_fused, legs, bm25)
        timings["fuse"] = _ms(t0)

        candidates = len(hits)
        hits = hits[: max(config.rerank_top_n, config.top_k)]
        if config.rerank:
            t0 = time.perf_counter()
            reranker = self.models.reranker
            if reranker is None:
                notes.append("reranker off: the cross-encoder is not loaded")
            else:
                hits = _rerank(hits, lambda passages: reranker.score(query, passages))
            timings["rerank"] = _ms(t0)
        timings["total"] = _ms(start_all)
        return RetrievalResult(
            query=query,
            hits=tuple(hits[: config.top_k]),
            timings=timings,
            notes=tuple(notes),
            candidates=candidates,
            legs={
                "bm25": len(bm25),
                **{k: len(v) for k, v in legs.items()},
                "dense": len(dense_fused),
            },
        )

    def _dense(
        self,
        pinned: Pinned,
        query: str,
        config: RetrievalConfig,
        doc_filter: list[str] | None,
        notes: list[str],
        timings: dict[str, float],
    ) -> DenseResult:
        """Encode the question with the pinned model and search the pinned collection."""
        t0 = time.perf_counter()
        query_legs = [
            QueryLeg(TEXT_SPACE, pinned.text.embed_queries([query])[0].tolist(), config.dense_k)
        ]
        clip = self.models.image if config.use_image_leg else None
        if clip is not None:
            query_legs.append(
                QueryLeg(IMAGE_SPACE, clip.embed_texts([query])[0].tolist(), config.dense_k)
            )
        elif config.use_image_leg and "image search off: the CLIP model is not loaded" not in notes:
            notes.append("image search off: the CLIP model is not loaded")
        timings["encode"] = _ms(t0)
        t0 = time.perf_counter()
        dense = pinned.store.query(
            DenseQuery(
                query_legs,
                fusion=config.fusion,
                limit=config.dense_k,
                doc_ids=doc_filter,
                with_legs=True,
            )
        )
        timings["dense"] = _ms(t0)
        return dense


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 2)


def _hits(
    fused: list[tuple[str, float]],
    rows: dict[str, ChunkRow],
    names: dict[str, str],
    dense: list[ScoredPoint],
    legs: dict[str, list[ScoredPoint]],
    bm25: list[tuple[ChunkRow, float]],
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
        hits.append(
            Hit(
                point_id=pid,
                doc_id=row.doc_id,
                file_name=names[row.doc_id],
                page=row.page,
                chunk_no=row.chunk_no,
                start=row.start,
                end=row.end,
                kind=ChunkKind(row.kind),
                text=row.text,
                evidence=evidence,
                section=row.section or "",
                image_index=row.image_index,
                location=row.location or "",
                ocr_confidence=row.ocr_confidence,
            )
        )
    return hits


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
