"""Our fusion math equals the VectorAI SDK's reference functions on the same inputs."""

from __future__ import annotations

import random

import pytest
from actian_vectorai.hybrid.fusion import distribution_based_score_fusion as sdk_dbsf
from actian_vectorai.hybrid.fusion import reciprocal_rank_fusion as sdk_rrf
from actian_vectorai.models.points import ScoredPoint as SdkPoint

from ragcore.fusion import distribution_based_score_fusion, ranks, reciprocal_rank_fusion


def _lists(seed: int) -> list[list[tuple[int, float]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(rng.randint(2, 3)):
        ids = rng.sample(range(40), rng.randint(5, 25))
        scores = sorted((rng.uniform(-1, 5) for _ in ids), reverse=True)
        out.append(list(zip(ids, scores, strict=True)))
    return out


def _sdk(lists: list[list[tuple[int, float]]]) -> list[list[SdkPoint]]:
    return [
        [SdkPoint(id=i, version=0, score=s, payload=None, vectors=None) for i, s in lst]
        for lst in lists
    ]


@pytest.mark.parametrize("seed", range(20))
def test_rrf_equals_sdk(seed: int) -> None:
    lists = _lists(seed)
    weights = [random.Random(seed).uniform(0.2, 2.0) for _ in lists]
    ours = reciprocal_rank_fusion([[i for i, _ in lst] for lst in lists], k=60, weights=weights)
    theirs = sdk_rrf(_sdk(lists), limit=1000, ranking_constant_k=60, weights=weights)
    assert [p.score for p in theirs] == pytest.approx([s for _, s in ours])
    assert {p.id: p.score for p in theirs} == pytest.approx(dict(ours))


@pytest.mark.parametrize("seed", range(20))
def test_dbsf_equals_sdk(seed: int) -> None:
    lists = _lists(seed)
    ours = distribution_based_score_fusion(lists)
    theirs = sdk_dbsf(_sdk(lists), limit=1000)
    assert {p.id: p.score for p in theirs} == pytest.approx(dict(ours))


def test_rrf_weights_move_items() -> None:
    dense, bm25 = ["a", "b", "c"], ["c", "b", "a"]
    assert reciprocal_rank_fusion([dense, bm25], k=1, weights=[3.0, 1.0])[0][0] == "a"
    assert reciprocal_rank_fusion([dense, bm25], k=1, weights=[1.0, 3.0])[0][0] == "c"
    assert reciprocal_rank_fusion([dense, bm25], k=1, weights=[1.0, 0.0])[0][0] == "a"


def test_fusion_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0])
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_rank_fusion([["a"]], k=-1)


def test_ranks_are_one_based() -> None:
    assert ranks(["x", "y", "x"]) == {"x": 1, "y": 2}
