"""The app's retrieval defaults are the ones tuning chose (bench/tuned.json): one set of numbers."""

from __future__ import annotations

import json
from pathlib import Path

from bench.beir import TUNED_FILE
from ragcore.evaluation.beir import fusion_knobs, mode_config, per_fusion, with_knobs
from ragcore.evaluation.tuning import load_tuned
from ragcore.retrieval_config import RetrievalConfig
from ragcore.types import Fusion


def test_the_config_defaults_are_the_tuned_rrf_knobs() -> None:
    chosen = json.loads(TUNED_FILE.read_text())["chosen"]
    assert fusion_knobs(RetrievalConfig()) == chosen["rrf"]
    assert with_knobs(RetrievalConfig(), chosen["rrf"]) == RetrievalConfig()


def test_tuned_configs_keep_what_tuning_does_not_choose() -> None:
    base = RetrievalConfig(top_k=3, rerank=False)
    tuned, source = load_tuned(TUNED_FILE, base)
    assert source == str(TUNED_FILE)
    assert tuned["dbsf"].hybrid_fusion == Fusion.DBSF and tuned["rrf"].hybrid_fusion == Fusion.RRF
    assert (tuned["dbsf"].top_k, tuned["dbsf"].rerank) == (3, False)
    # A mode sets the rest: candidate depth, reranking, the text leg only.
    hybrid = mode_config("hybrid-dbsf", tuned["dbsf"])
    assert hybrid.top_k == tuned["dbsf"].dense_k + tuned["dbsf"].bm25_k
    assert not hybrid.use_image_leg and not hybrid.rerank


def test_without_a_tuning_file_both_fusions_use_the_given_config(tmp_path: Path) -> None:
    base = RetrievalConfig(rrf_k=33)
    tuned, source = load_tuned(tmp_path / "absent.json", base)
    assert source == "ragcore.settings defaults"
    assert tuned == per_fusion(base)
    assert {c.rrf_k for c in tuned.values()} == {33}
