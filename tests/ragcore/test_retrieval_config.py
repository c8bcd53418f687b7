"""RetrievalConfig is the one home of the retrieval knobs: Settings derive it, names parse to enums."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from ragcore.retrieval_config import RetrievalConfig, RetrievalMode
from ragcore.settings import Settings
from ragcore.types import Fusion


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No RAG_* variable of the machine running the tests leaks into Settings."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_settings_default_to_the_config_defaults(clean_env: pytest.MonkeyPatch) -> None:
    assert Settings(data_dir=Path("unused")).retrieval == RetrievalConfig()


def test_environment_variables_reach_the_config(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RAG_RETRIEVAL_MODE", "bm25")
    clean_env.setenv("RAG_HYBRID_FUSION", "dbsf")
    clean_env.setenv("RAG_RRF_K", "20")
    clean_env.setenv("RAG_TOP_K", "3")
    config = Settings(data_dir=Path("unused")).retrieval
    assert (config.mode, config.hybrid_fusion, config.rrf_k, config.top_k) == (
        RetrievalMode.BM25,
        Fusion.DBSF,
        20,
        3,
    )
    # Everything not set keeps its tuned default.
    assert config.bm25_weight == RetrievalConfig().bm25_weight


def test_names_become_enums_and_replace_overrides_one_knob() -> None:
    config = RetrievalConfig(mode="dense", fusion="dbsf")  # type: ignore[arg-type]
    assert config.mode is RetrievalMode.DENSE and config.fusion is Fusion.DBSF
    changed = replace(config, mode="hybrid", top_k=2)  # type: ignore[arg-type]
    assert changed.mode is RetrievalMode.HYBRID and changed.top_k == 2
    assert replace(changed, top_k=config.top_k, mode=config.mode) == config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mode", "sparse", r"mode must be one of \('hybrid', 'dense', 'bm25'\), got 'sparse'"),
        ("fusion", "sum", r"fusion must be one of \('rrf', 'dbsf'\), got 'sum'"),
        ("top_k", 0, "top_k must be > 0, got 0"),
        ("bm25_weight", -1.0, "weights must be >= 0"),
    ],
)
def test_a_bad_value_is_named(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetrievalConfig(**{field: value})  # type: ignore[arg-type]


def test_a_bad_setting_fails_when_the_config_is_made(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RAG_DENSE_K", "0")
    with pytest.raises(ValueError, match="dense_k must be > 0, got 0"):
        _ = Settings(data_dir=Path("unused")).retrieval
