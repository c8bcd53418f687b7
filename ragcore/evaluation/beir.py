"""Retrieval quality on BEIR data through the real Retriever: modes, runs, one row per mode."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

import numpy as np

from ragcore.evaluation.beir_index import BeirIndex
from ragcore.evaluation.retrieval_metrics import BeirDataset, evaluate, run_from_ranking
from ragcore.models.loader import Models
from ragcore.retrieval import Retriever
from ragcore.retrieval_config import RetrievalConfig, RetrievalMode
from ragcore.types import Fusion

log = logging.getLogger(__name__).info

MODES = ("bm25", "dense", "hybrid-rrf", "hybrid-dbsf", "bm25+rerank", "hybrid-rrf+rerank")
MEASURES = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
# BEIR reranks the first-stage top 100 with the cross-encoder; so do the +rerank modes.
RERANK_DEPTH = 100


class PublishedScore(TypedDict):
    anchor: str  # who published it
    compare_with: str  # our mode it is comparable with
    value: float  # nDCG@10


# Published nDCG@10 on SciFact test, and which of our modes each is comparable with.
ANCHORS: tuple[PublishedScore, ...] = (
    {"anchor": "BEIR BM25 (Elasticsearch)", "compare_with": "bm25", "value": 0.665},
    {"anchor": "BEIR BM25 + MiniLM cross-encoder", "compare_with": "bm25+rerank", "value": 0.688},
    {"anchor": "MTEB all-MiniLM-L6-v2", "compare_with": "dense", "value": 0.645},
)

# The knobs tuning chooses, as bench/tuned.json and the report rows spell them.
FUSION_KNOBS = ("dense_k", "bm25_k", "rrf_k", "dense_weight", "bm25_weight")


def fusion_knobs(config: RetrievalConfig) -> dict[str, object]:
    """The hybrid knobs of ``config`` by name: ``fusion`` (how hybrid fuses) and FUSION_KNOBS."""
    return {"fusion": str(config.hybrid_fusion)} | {k: getattr(config, k) for k in FUSION_KNOBS}


def with_knobs(base: RetrievalConfig, knobs: Mapping[str, Any]) -> RetrievalConfig:
    """``base`` with the knobs of a ``fusion_knobs`` mapping (read back from JSON)."""
    return replace(
        base,
        hybrid_fusion=Fusion(str(knobs["fusion"])),
        dense_k=int(knobs["dense_k"]),
        bm25_k=int(knobs["bm25_k"]),
        rrf_k=int(knobs["rrf_k"]),
        dense_weight=float(knobs["dense_weight"]),
        bm25_weight=float(knobs["bm25_weight"]),
    )


def per_fusion(config: RetrievalConfig) -> dict[str, RetrievalConfig]:
    """``config`` for each fusion the benchmark has modes for, with the same knobs."""
    return {str(f): replace(config, hybrid_fusion=f) for f in (Fusion.RRF, Fusion.DBSF)}


def mode_config(mode: str, tuned: RetrievalConfig) -> RetrievalConfig:
    """The RetrievalConfig of a benchmark mode (candidate lists as deep as tuning chose)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    base, _, rerank = mode.partition("+")
    return replace(
        tuned,
        mode=RetrievalMode.HYBRID if base.startswith("hybrid") else RetrievalMode(base),
        hybrid_fusion=Fusion.DBSF if base == "hybrid-dbsf" else Fusion.RRF,
        rerank=bool(rerank),
        rerank_top_n=RERANK_DEPTH,
        # Every fused candidate, so Recall@100 sees the whole list (cut to the reranked part).
        top_k=RERANK_DEPTH if rerank else tuned.dense_k + tuned.bm25_k,
        use_image_leg=False,
    )


def params_for(mode: str, tuned: Mapping[str, RetrievalConfig]) -> RetrievalConfig:
    return tuned[Fusion.DBSF] if mode.startswith("hybrid-dbsf") else tuned[Fusion.RRF]


@dataclass(frozen=True)
class ModeRun:
    run: dict[str, dict[str, float]]  # query id -> BEIR doc id -> score
    timings: list[dict[str, float]]  # per query, ms per stage


# A search: query text -> (BEIR document ids, best first; milliseconds per stage incl. "total").
Search = Callable[[str], tuple[list[str], dict[str, float]]]


def retriever_search(index: BeirIndex, retriever: Retriever, config: RetrievalConfig) -> Search:
    """``Retriever.run`` with hits mapped to BEIR documents (a document ranks by its best chunk)."""

    def search(text: str) -> tuple[list[str], dict[str, float]]:
        result = retriever.run(text, config)
        return [index.beir_ids[h.doc_id] for h in result.hits], result.timings

    return search


def run_interleaved(
    queries: Mapping[str, str], searches: Mapping[str, Search]
) -> dict[str, ModeRun]:
    """Each query through every search in turn, so that all see the same machine load."""
    runs = {name: ModeRun({}, []) for name in searches}
    started = time.perf_counter()
    for n, (qid, text) in enumerate(queries.items(), start=1):
        for name, search in searches.items():
            ranked, timings = search(text)
            runs[name].run[qid] = run_from_ranking(ranked)
            runs[name].timings.append(timings)
        if n % 100 == 0:
            log(f"  {n}/{len(queries)} queries, {time.perf_counter() - started:.0f} s")
    return runs


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (linear interpolation); NaN for no values."""
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), p))


def number(value: object) -> float:
    """A measure read back from a report (reports are JSON-shaped dicts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ModeRow:
    """One mode's means over a split's queries (rounded as the report prints them)."""

    mode: str
    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    queries: int
    latency_p50_ms: float
    latency_p95_ms: float
    params: Mapping[str, object] | None = None  # a hybrid mode's fusion knobs
    published: str = ""  # the published score this mode is comparable with, and whose

    def to_json(self) -> dict[str, object]:
        """The report's row: MEASURES spelled as BEIR spells them, in the order ``--json`` had."""
        row: dict[str, object] = {
            "mode": self.mode,
            "ndcg@10": self.ndcg_at_10,
            "recall@10": self.recall_at_10,
            "recall@100": self.recall_at_100,
            "mrr@10": self.mrr_at_10,
            "queries": self.queries,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
        }
        if self.params is not None:
            row["params"] = dict(self.params)
        if self.published:
            row["published"] = self.published
        return row


@dataclass(frozen=True)
class UnavailableRow:
    """A mode that could not run (its cross-encoder did not load): a reason, no numbers."""

    mode: str
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"mode": self.mode, "status": "unavailable", "reason": self.reason}


def mode_row(mode: str, dataset: BeirDataset, mode_run: ModeRun, tuned: RetrievalConfig) -> ModeRow:
    result = evaluate(dataset.qrels, mode_run.run, MEASURES)
    totals = [t["total"] for t in mode_run.timings]
    published = [f"{a['value']} ({a['anchor']})" for a in ANCHORS if a["compare_with"] == mode]
    return ModeRow(
        mode=mode,
        ndcg_at_10=round(result.mean["ndcg@10"], 4),
        recall_at_10=round(result.mean["recall@10"], 4),
        recall_at_100=round(result.mean["recall@100"], 4),
        mrr_at_10=round(result.mean["mrr@10"], 4),
        queries=result.queries,
        latency_p50_ms=round(percentile(totals, 50), 1),
        latency_p95_ms=round(percentile(totals, 95), 1),
        params=fusion_knobs(tuned) if mode.startswith("hybrid") else None,
        # The last anchor wins, as it did when each overwrote the row's key.
        published=published[-1] if published else "",
    )


def evaluate_modes(
    dataset: BeirDataset,
    index: BeirIndex,
    models: Models,
    modes: Sequence[str],
    tuned: Mapping[str, RetrievalConfig],
) -> list[ModeRow | UnavailableRow]:
    """One row per mode; a +rerank mode whose cross-encoder cannot load says so, with no number."""
    retriever = Retriever(index.catalog, index.store, models)
    unavailable: dict[str, UnavailableRow] = {}
    searches: dict[str, Search] = {}
    for mode in modes:
        config = mode_config(mode, params_for(mode, tuned))
        if config.rerank and models.reranker is None:
            status = next(s for s in models.status(load=False) if s.role == "reranker")
            unavailable[mode] = UnavailableRow(mode, status.detail)
            log(f"{mode}: unavailable ({status.detail})")
        else:
            searches[mode] = retriever_search(index, retriever, config)
    log(f"{', '.join(searches)}: {len(dataset.queries)} queries each, interleaved")
    runs = run_interleaved(dataset.queries, searches)
    rows: list[ModeRow | UnavailableRow] = []
    for mode in modes:
        if mode in unavailable:
            rows.append(unavailable[mode])
            continue
        row = mode_row(mode, dataset, runs[mode], params_for(mode, tuned))
        rows.append(row)
        log(f"{mode}: nDCG@10 {row.ndcg_at_10}")
    return rows


def sample_subset(
    dataset: BeirDataset, n_queries: int, hard_per_query: int, n_random: int = 0, seed: int = 13
) -> tuple[list[str], list[str]]:
    """``n_queries`` judged queries, and a corpus of their relevant documents plus distractors.

    Distractors are each query's ``hard_per_query`` best non-relevant BM25 matches (rank-bm25 over
    the whole corpus, so a small corpus stays hard) and ``n_random`` random others.
    """
    from rank_bm25 import BM25Okapi

    rng = random.Random(seed)
    picked = sorted(rng.sample(sorted(dataset.queries), min(n_queries, len(dataset.queries))))
    relevant = {d for q in picked for d, g in dataset.qrels[q].items() if g > 0}
    ids = sorted(dataset.corpus)
    bm25 = BM25Okapi([_words(dataset.corpus[d].full_text) for d in ids])
    hard: set[str] = set()
    for q in picked:
        scores = bm25.get_scores(_words(dataset.queries[q]))
        best = sorted(range(len(ids)), key=lambda i: -scores[i])
        hard.update([ids[i] for i in best if ids[i] not in relevant][:hard_per_query])
    others = sorted(set(ids) - relevant - hard)
    docs = sorted(relevant | hard | set(rng.sample(others, min(n_random, len(others)))))
    return picked, docs


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def restrict(dataset: BeirDataset, query_ids: Sequence[str]) -> BeirDataset:
    return replace(
        dataset,
        queries={q: dataset.queries[q] for q in query_ids},
        qrels={q: dataset.qrels[q] for q in query_ids},
    )
