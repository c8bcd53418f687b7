"""The benchmark's machinery with a fake embedder: cached index, offline fusion = Retriever, modes."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench import beir as beir_bench
from bench import models as model_bench
from bench.beir import main as beir_main
from bench.common import REPO_ROOT
from bench.latency import RandomUnitVectors
from ingest.service import ingest_texts
from ragcore.evaluation import BeirDataset, BeirDoc
from ragcore.evaluation.beir import ModeRow, UnavailableRow, evaluate_modes, mode_config
from ragcore.evaluation.beir_index import BeirIndex, beir_doc_id, beir_doc_ids, open_index
from ragcore.evaluation.tuning import collect_legs, fuse_legs, point_to_beir
from ragcore.models.base import TextEmbedder
from ragcore.models.loader import Models
from ragcore.retrieval import Retriever
from ragcore.retrieval_config import RetrievalConfig
from ragcore.testing.beir import TWIN_CORPUS, TWIN_QRELS, write_beir_folder
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.tokenizers import WhitespaceTokenizer
from ragcore.types import ChunkingParams, Fusion, Strategy

_rng = random.Random(5)
WORDS = [f"{a}{b}" for a in ("trust", "policy", "audit", "token", "cipher") for b in "aeiouy"]
CORPUS = {
    str(i): BeirDoc(
        str(i),
        f"Report {i} on {_rng.choice(WORDS)}",
        " ".join(_rng.choice(WORDS) for _ in range(6 + i % 9)) + f". Item number {i}.",
    )
    for i in range(40)
}
QUERIES = {"q1": "policya trusti audity", "q2": "ciphero tokene", "q3": "report 7 trustu item"}
DATASET = BeirDataset(
    name="tiny",
    split="test",
    corpus=CORPUS,
    queries=QUERIES,
    qrels={"q1": {"1": 1}, "q2": {"9": 1, "19": 1}, "q3": {"7": 1}},
)
PARAMS = ChunkingParams(Strategy.RECURSIVE, 8, 2)


def fake_models(embedder: TextEmbedder, tmp_path: Path) -> Models:
    return Models(text_model=embedder, image_model=None, reranker_model=None, cache_dir=tmp_path)


@pytest.fixture()
def index(tmp_path: Path) -> Iterator[tuple[BeirIndex, Models]]:
    # Random unit vectors per text: no two chunks tie on the dense leg (tied scores may come
    # back in any order, from any exact search, and the comparison below is of exact orders).
    models = fake_models(RandomUnitVectors(WhitespaceTokenizer(), 64), tmp_path)
    idx = open_index(
        DATASET, models, PARAMS, tmp_path / "work", index_texts=ingest_texts, batch_size=16
    )
    yield idx, models
    idx.close()


def test_index_maps_every_document_and_is_reused(tmp_path: Path) -> None:
    embedder = HashingEmbedder(dim=32)
    first = open_index(
        DATASET, fake_models(embedder, tmp_path), PARAMS, tmp_path / "w", index_texts=ingest_texts
    )
    assert first.stats["documents"] == 40
    assert int(first.stats["chunks"]) > 40  # small chunks: documents split
    assert set(first.beir_ids.values()) == set(CORPUS)
    assert first.beir_ids[beir_doc_id(CORPUS["3"])] == "3"
    first.close()
    calls = embedder.calls
    again = open_index(
        DATASET, fake_models(embedder, tmp_path), PARAMS, tmp_path / "w", index_texts=ingest_texts
    )
    assert embedder.calls == calls  # cached: nothing embedded again
    assert again.path == first.path
    again.close()
    other = open_index(
        DATASET,
        fake_models(embedder, tmp_path),
        PARAMS,
        tmp_path / "w",
        index_texts=ingest_texts,
        doc_ids=["1", "2"],
    )
    assert other.path != first.path and other.stats["documents"] == 2
    other.close()


@pytest.mark.parametrize(
    "params",
    [
        RetrievalConfig(dense_k=20, bm25_k=20, rrf_k=60, dense_weight=1.0, bm25_weight=1.0),
        RetrievalConfig(dense_k=5, bm25_k=12, rrf_k=2, dense_weight=1.0, bm25_weight=2.0),
        RetrievalConfig(
            hybrid_fusion=Fusion.DBSF,
            dense_k=10,
            bm25_k=7,
            rrf_k=60,
            dense_weight=1.0,
            bm25_weight=0.5,
        ),
    ],
)
def test_offline_fusion_equals_the_retriever(
    index: tuple[BeirIndex, Models], params: RetrievalConfig
) -> None:
    """Tuning fuses cached legs; it is only valid if that is exactly what Retriever.run does."""
    idx, models = index
    retriever = Retriever(idx.catalog, idx.store, models)
    legs = collect_legs(retriever, QUERIES, depth=30)
    mode = "hybrid-dbsf" if params.hybrid_fusion == "dbsf" else "hybrid-rrf"
    for qid, text in QUERIES.items():
        live = [h.point_id for h in retriever.run(text, mode_config(mode, params)).hits]
        assert fuse_legs(legs[qid], params) == live
    mapping = point_to_beir(idx)
    assert set(mapping.values()) == set(CORPUS)


def test_modes_map_to_retrieval_configs() -> None:
    p = RetrievalConfig(dense_k=80, bm25_k=60, rrf_k=30, dense_weight=1.0, bm25_weight=1.5)
    bm25 = mode_config("bm25", p)
    assert (bm25.mode, bm25.rerank, bm25.use_image_leg) == ("bm25", False, False)
    dbsf = mode_config("hybrid-dbsf", p)
    assert (dbsf.mode, dbsf.hybrid_fusion, dbsf.top_k) == ("hybrid", "dbsf", 140)
    reranked = mode_config("hybrid-rrf+rerank", p)
    assert (reranked.rerank, reranked.rerank_top_n, reranked.top_k) == (True, 100, 100)
    with pytest.raises(ValueError, match="got 'hybrid'"):
        mode_config("hybrid", p)


def test_rerank_rows_say_unavailable_without_a_number(index: tuple[BeirIndex, Models]) -> None:
    idx, models = index
    tuned = {"rrf": RetrievalConfig(), "dbsf": RetrievalConfig(hybrid_fusion=Fusion.DBSF)}
    bm25, rerank = evaluate_modes(DATASET, idx, models, ["bm25", "hybrid-rrf+rerank"], tuned)
    assert isinstance(bm25, ModeRow) and bm25.mode == "bm25" and 0.0 <= bm25.ndcg_at_10 <= 1.0
    assert isinstance(rerank, UnavailableRow) and rerank.mode == "hybrid-rrf+rerank"
    assert rerank.to_json() == {
        "mode": "hybrid-rrf+rerank",
        "status": "unavailable",
        "reason": rerank.reason,
    }


def test_a_mode_row_prints_the_keys_bench_beir_json_always_had() -> None:
    row = ModeRow(
        mode="hybrid-rrf",
        ndcg_at_10=0.7,
        recall_at_10=0.8,
        recall_at_100=0.9,
        mrr_at_10=0.6,
        queries=300,
        latency_p50_ms=12.5,
        latency_p95_ms=30.1,
        params={"fusion": "rrf", "rrf_k": 60},
    )
    assert list(row.to_json()) == [
        "mode",
        "ndcg@10",
        "recall@10",
        "recall@100",
        "mrr@10",
        "queries",
        "latency_p50_ms",
        "latency_p95_ms",
        "params",
    ]
    assert row.to_json()["ndcg@10"] == 0.7 and row.to_json()["params"] == {
        "fusion": "rrf",
        "rrf_k": 60,
    }
    # Only a mode with a published score says so.
    assert replace(row, published="0.665 (BEIR BM25)").to_json()["published"] == "0.665 (BEIR BM25)"


def test_models_flag_runs_the_model_comparison_on_the_same_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(list(argv))
        return 0

    monkeypatch.setattr(model_bench, "main", fake_main)
    (tmp_path / "beir").mkdir()
    code = beir_main(
        [
            "--data",
            str(tmp_path / "beir"),
            "--workdir",
            str(tmp_path / "w"),
            "--models",
            "a/one,b/two",
            "--limit-queries",
            "7",
            "--json",
        ]
    )
    assert code == 0
    (argv,) = seen
    assert "--models=a/one,b/two" in argv and "--limit-queries=7" in argv and "--json" in argv
    assert f"--data={tmp_path / 'beir'}" in argv
    assert f"--workdir={tmp_path / 'w' / 'models'}" in argv


def test_doc_ids_keep_the_content_hash_and_split_shared_texts() -> None:
    twin = BeirDoc("twin", CORPUS["3"].title, CORPUS["3"].text)
    ids = beir_doc_ids({**CORPUS, "twin": twin})
    # A text found once keeps its content hash: indexes of such corpora stay valid.
    assert ids["4"] == hashlib.sha256(CORPUS["4"].full_text.encode()).hexdigest()
    assert ids["4"] == beir_doc_id(CORPUS["4"]) == beir_doc_ids(CORPUS)["4"]
    # Two ids with one text are two documents.
    assert ids["3"] != ids["twin"] and ids["3"] != beir_doc_id(CORPUS["3"])
    assert len(set(ids.values())) == len(CORPUS) + 1


def test_index_holds_both_documents_of_a_shared_text(tmp_path: Path) -> None:
    corpus = {**CORPUS, "twin": BeirDoc("twin", CORPUS["3"].title, CORPUS["3"].text)}
    dataset = replace(DATASET, corpus=corpus)
    models = fake_models(HashingEmbedder(dim=32), tmp_path)
    idx = open_index(dataset, models, PARAMS, tmp_path, index_texts=ingest_texts)
    try:
        assert idx.stats["documents"] == 41
        assert set(idx.beir_ids.values()) == set(corpus)
        assert set(point_to_beir(idx).values()) == set(corpus)
    finally:
        idx.close()


def _twin_folder(tmp_path: Path) -> Path:
    return write_beir_folder(tmp_path / "twins", TWIN_CORPUS, qrels=TWIN_QRELS)


def test_main_scores_a_folder_with_shared_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        beir_bench,
        "bench_models",
        lambda settings, reranker: fake_models(HashingEmbedder(), tmp_path),
    )
    argv = ["--data", str(_twin_folder(tmp_path)), "--workdir", str(tmp_path / "w")]
    assert beir_main([*argv, "--modes", "bm25,dense", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] == 8 and report["queries"] == 3
    assert [r["mode"] for r in report["rows"]] == ["bm25", "dense"]
    assert report["rows"][0]["recall@10"] == 1.0  # each judged copy is retrieved


@pytest.mark.integration
def test_beir_cli_scores_a_folder_with_shared_texts(tmp_path: Path) -> None:
    """``python -m bench.beir`` as a person runs it, with the offline MiniLM."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_RERANKER_MODEL": ""}
    args = ["--data", str(_twin_folder(tmp_path)), "--workdir", str(tmp_path / "w")]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.beir", *args, "--modes", "bm25,dense", "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # run() kills the process when it expires
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["documents"] == 8
    rows = {r["mode"]: r for r in report["rows"]}
    assert rows["bm25"]["recall@10"] == 1.0 and rows["dense"]["recall@10"] == 1.0
