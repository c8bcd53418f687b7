"""Tuning hybrid fusion on a BEIR train split: both legs once, fused offline over a grid."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragcore.evaluation.beir import MEASURES, fusion_knobs, per_fusion, with_knobs
from ragcore.evaluation.beir_index import BeirIndex
from ragcore.evaluation.retrieval_metrics import BeirDataset, evaluate, run_from_ranking
from ragcore.evaluation.runs import write_json
from ragcore.fusion import distribution_based_score_fusion, reciprocal_rank_fusion
from ragcore.models.loader import Models
from ragcore.retrieval import Retriever
from ragcore.retrieval_config import RetrievalConfig, RetrievalMode
from ragcore.types import Fusion

log = logging.getLogger(__name__).info


def load_tuned(path: Path, default: RetrievalConfig) -> tuple[dict[str, RetrievalConfig], str]:
    """The tuned config per fusion from a ``tune`` report at ``path``, else ``default`` for both.

    The knobs tuning does not choose (reranking, top_k, ...) come from ``default``.
    """
    if path.is_file():
        chosen = json.loads(path.read_text())["chosen"]
        return {name: with_knobs(default, knobs) for name, knobs in chosen.items()}, str(path)
    return per_fusion(default), "ragcore.settings defaults"


@dataclass(frozen=True)
class Legs:
    """One query's dense and BM25 candidates, deepest list first, as (point id, score)."""

    dense: list[tuple[str, float]]
    bm25: list[tuple[str, float]]


def collect_legs(retriever: Retriever, queries: Mapping[str, str], depth: int) -> dict[str, Legs]:
    """Each leg once, ``depth`` deep: shallower candidate lists are its prefixes (exact search)."""
    out: dict[str, Legs] = {}
    dense_cfg = RetrievalConfig(
        mode=RetrievalMode.DENSE, dense_k=depth, top_k=depth, rerank=False, use_image_leg=False
    )
    bm25_cfg = RetrievalConfig(mode=RetrievalMode.BM25, bm25_k=depth, top_k=depth, rerank=False)
    for n, (qid, text) in enumerate(queries.items(), start=1):
        legs = []
        for config in (dense_cfg, bm25_cfg):
            hits = retriever.run(text, config).hits
            legs.append([(h.point_id, h.evidence.fused_score or 0.0) for h in hits])
        out[qid] = Legs(*legs)
        if n % 200 == 0:
            log(f"  legs: {n}/{len(queries)} queries")
    return out


def cached_legs(
    index: BeirIndex, models: Models, dataset: BeirDataset, depth: int
) -> dict[str, Legs]:
    """Both legs of every query of ``dataset``, kept beside the index so re-tuning is instant."""
    path = index.path / f"legs-{dataset.split}-{depth}.json"
    if path.exists():
        raw = json.loads(path.read_text())
        if set(raw) == set(dataset.queries):
            return {
                q: Legs([(p, s) for p, s in v[0]], [(p, s) for p, s in v[1]])
                for q, v in raw.items()
            }
    log(f"collecting both legs {depth} deep for {len(dataset.queries)} {dataset.split} queries")
    retriever = Retriever(index.catalog, index.store, models)
    legs = collect_legs(retriever, dataset.queries, depth)
    write_json(path, {q: [both.dense, both.bm25] for q, both in legs.items()})
    return legs


def fuse_legs(legs: Legs, config: RetrievalConfig) -> list[str]:
    """The point ids Retriever.run would return in hybrid mode with ``config``, best first."""
    dense = legs.dense[: config.dense_k]
    bm25 = legs.bm25[: config.bm25_k]
    weights = [config.dense_weight, config.bm25_weight]
    if config.hybrid_fusion == Fusion.DBSF:
        fused = distribution_based_score_fusion([dense, bm25], weights=weights)
    else:
        fused = reciprocal_rank_fusion(
            [[p for p, _ in dense], [p for p, _ in bm25]], k=config.rrf_k, weights=weights
        )
    return [pid for pid, _ in fused]


def _candidate(fusion: Fusion, depth: int, rrf_k: int, bm25_weight: float) -> RetrievalConfig:
    return RetrievalConfig(
        hybrid_fusion=fusion,
        dense_k=depth,
        bm25_k=depth,
        rrf_k=rrf_k,
        dense_weight=1.0,
        bm25_weight=bm25_weight,
    )


def grid() -> list[RetrievalConfig]:
    out = []
    for depth in (50, 100, 200):
        for bm25_weight in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0):
            for rrf_k in (5, 10, 20, 40, 60, 100):
                out.append(_candidate(Fusion.RRF, depth, rrf_k, bm25_weight))
            out.append(_candidate(Fusion.DBSF, depth, 60, bm25_weight))
    return out


def score_grid(
    dataset: BeirDataset,
    legs: Mapping[str, Legs],
    point_docs: Mapping[str, str],
    candidates: Sequence[RetrievalConfig],
) -> list[tuple[RetrievalConfig, dict[str, float]]]:
    results = []
    for config in candidates:
        run = {
            qid: run_from_ranking([point_docs[p] for p in fuse_legs(q_legs, config)])
            for qid, q_legs in legs.items()
        }
        mean = evaluate(dataset.qrels, run, MEASURES).mean
        results.append((config, {m: round(v, 4) for m, v in mean.items()}))
    return results


def point_to_beir(index: BeirIndex) -> dict[str, str]:
    return {row.point_id: index.beir_ids[row.doc_id] for row in index.catalog.chunks()}


def tune(
    train: BeirDataset, index: BeirIndex, models: Models, *, depth: int = 200
) -> dict[str, object]:
    """Search the grid on ``train``; the best nDCG@10 per fusion is chosen (ties: earlier row)."""
    legs = cached_legs(index, models, train, depth)
    scored = score_grid(train, legs, point_to_beir(index), grid())
    chosen: dict[str, dict[str, object]] = {}
    for fusion in (Fusion.RRF, Fusion.DBSF):
        rows = [(c, m) for c, m in scored if c.hybrid_fusion == fusion]
        best = max(rows, key=lambda r: r[1]["ndcg@10"])
        chosen[str(fusion)] = fusion_knobs(best[0])
    # RRF as usually published: equal weights, k = 60, 50 candidates a leg.
    baseline = _candidate(Fusion.RRF, 50, 60, 1.0)
    baseline_score = score_grid(train, legs, point_to_beir(index), [baseline])[0][1]
    ranked_rows = sorted(scored, key=lambda r: -r[1]["ndcg@10"])
    return {
        "split": train.split,
        "queries": len(train.queries),
        "selection": "highest mean nDCG@10 on the train split, per fusion",
        "chosen": chosen,
        "baseline": {"params": fusion_knobs(baseline), **baseline_score},
        "grid": [{"params": fusion_knobs(c), **m} for c, m in ranked_rows],
    }
