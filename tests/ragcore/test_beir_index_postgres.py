"""A BEIR index's catalog copied into PostgreSQL ranks and scores as the SQLite one does."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.service import ingest_texts
from ragcore.catalog.factory import open_catalog
from ragcore.evaluation import load_beir
from ragcore.evaluation.beir import evaluate_modes, per_fusion
from ragcore.evaluation.beir_folder import eval_models
from ragcore.evaluation.beir_index import copied_to, open_index
from ragcore.settings import Settings
from ragcore.testing.beir import write_beir_folder
from ragcore.testing.embedders import HashingEmbedder
from ragcore.types import ChunkingParams, Strategy

pytestmark = pytest.mark.postgres

PARAMS = ChunkingParams(Strategy.RECURSIVE, 64, 8)
MODES = ["bm25", "dense", "hybrid-rrf"]


def test_a_copy_in_postgres_gives_the_same_rankings(tmp_path: Path, postgres_url: str) -> None:
    dataset = load_beir(write_beir_folder(tmp_path / "tiny"), "test")
    models = eval_models(HashingEmbedder(dim=128), None, tmp_path / "models")
    tuned = per_fusion(Settings(data_dir=Path("unused")).retrieval)

    index = open_index(dataset, models, PARAMS, tmp_path / "eval", index_texts=ingest_texts)
    try:
        sqlite_rows = evaluate_modes(dataset, index, models, MODES, tuned)
        sqlite_hits = {q: index.catalog.bm25_search(q, limit=10) for q in dataset.queries.values()}
    finally:
        index.close()

    index = open_index(dataset, models, PARAMS, tmp_path / "eval", index_texts=ingest_texts)
    target = open_catalog(postgres_url, path=tmp_path / "unused.sqlite3")
    index = copied_to(index, target)
    try:
        copy = index.stats["catalog_copy"]
        assert isinstance(copy, dict) and copy["reused"] is False and copy["documents"] == 6
        postgres_rows = evaluate_modes(dataset, index, models, MODES, tuned)
        for query, expected in sqlite_hits.items():
            ours = index.catalog.bm25_search(query, limit=10)
            assert [(r.point_id, r.text) for r, _ in ours] == [
                (r.point_id, r.text) for r, _ in expected
            ]
            assert [s for _, s in ours] == pytest.approx([s for _, s in expected], rel=1e-9)
    finally:
        index.close()
    assert [(r.mode, getattr(r, "ndcg_at_10", None)) for r in postgres_rows] == [
        (r.mode, getattr(r, "ndcg_at_10", None)) for r in sqlite_rows
    ]
    assert all(getattr(r, "ndcg_at_10", None) is not None for r in postgres_rows)

    # A second copy into the same database finds it complete and uses it as it is.
    index = open_index(dataset, models, PARAMS, tmp_path / "eval", index_texts=ingest_texts)
    index = copied_to(index, open_catalog(postgres_url, path=tmp_path / "unused.sqlite3"))
    try:
        copy = index.stats["catalog_copy"]
        assert isinstance(copy, dict) and copy["reused"] is True
    finally:
        index.close()
