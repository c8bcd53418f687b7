"""Rank fusion: weighted reciprocal-rank fusion and distribution-based score fusion.

The store fuses its dense legs itself (RRF or DBSF, no weights); we fuse the store's dense list
with the BM25 list here, where weights and k are ours to choose.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]],
    *,
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[K, float]]:
    """Sum of ``weight / (k + rank)`` over the lists an item appears in (rank counted from 1).

    Ties keep the order of first appearance, so the result is deterministic.

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=1)
    [('b', 0.8333333333333333), ('a', 0.5), ('c', 0.3333333333333333)]
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"got {len(weights)} weights for {len(rankings)} rankings")
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def _dbsf_normalise(scores: Sequence[float]) -> list[float]:
    """Scale by mean ± 3 standard deviations, as Qdrant's DBSF does (population std)."""
    if not scores:
        return []
    mean = statistics.fmean(scores)
    std = statistics.pstdev(scores) if len(scores) > 1 else 0.0
    low, high = mean - 3 * std, mean + 3 * std
    if high == low:
        return [0.5] * len(scores)
    return [min(1.0, max(0.0, (s - low) / (high - low))) for s in scores]


def distribution_based_score_fusion(
    scored_lists: Sequence[Sequence[tuple[K, float]]],
    *,
    weights: Sequence[float] | None = None,
) -> list[tuple[K, float]]:
    """Normalise each list's scores to [0, 1] by its distribution, then take the weighted mean.

    With equal weights this is the VectorAI SDK's ``distribution_based_score_fusion``.
    """
    if weights is None:
        weights = [1.0] * len(scored_lists)
    if len(weights) != len(scored_lists):
        raise ValueError(f"got {len(weights)} weights for {len(scored_lists)} lists")
    fused: dict[K, float] = {}
    for items, weight in zip(scored_lists, weights, strict=True):
        normalised = _dbsf_normalise([s for _, s in items])
        for (item, _), score in zip(items, normalised, strict=True):
            fused[item] = fused.get(item, 0.0) + weight * score
    total = sum(weights) or 1.0
    return sorted(((item, s / total) for item, s in fused.items()), key=lambda kv: -kv[1])


def ranks(items: Sequence[K]) -> Mapping[K, int]:
    """1-based rank of each item in a list (first occurrence wins)."""
    out: dict[K, int] = {}
    for i, item in enumerate(items, start=1):
        out.setdefault(item, i)
    return out
