"""The app's BEIR evaluation of a folder: real numbers on a tiny folder, progress, cache, refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from ingest.service import ingest_texts
from ragcore.errors import EvaluationError
from ragcore.evaluation import BeirDataset, BeirDoc
from ragcore.evaluation.beir import per_fusion
from ragcore.evaluation.beir_folder import (
    SCIFACT_DOCUMENTS,
    BeirReport,
    eval_models,
    evaluate_beir_folder,
    published_anchors,
)
from ragcore.evaluation.runs import one_run_at_a_time
from ragcore.models.loader import Models
from ragcore.settings import Settings
from ragcore.testing.beir import TWIN_CORPUS, TWIN_QRELS, write_beir_folder
from ragcore.testing.embedders import HashingEmbedder
from ragcore.types import ChunkingParams, Strategy

PARAMS = ChunkingParams(Strategy.RECURSIVE, 64, 8)
FUSION = per_fusion(Settings(data_dir=Path("unused")).retrieval)


def _models(embedder: HashingEmbedder, tmp_path: Path) -> Models:
    return eval_models(embedder, None, tmp_path / "models")


def _run(folder: Path, tmp_path: Path, embedder: HashingEmbedder, **kwargs: Any) -> BeirReport:
    values: dict[str, Any] = {
        "split": "test",
        "models": _models(embedder, tmp_path),
        "params": PARAMS,
        "workdir": tmp_path / "eval",
        "modes": ["bm25", "dense", "hybrid-rrf", "hybrid-dbsf"],
        "fusion": FUSION,
        "index_texts": ingest_texts,
    }
    values.update(kwargs)
    return evaluate_beir_folder(folder, **values)


def test_scores_every_mode_with_real_numbers(tmp_path: Path) -> None:
    folder = write_beir_folder(tmp_path / "tiny")
    seen: list[tuple[str, int, int]] = []
    report = _run(folder, tmp_path, HashingEmbedder(dim=128), progress=lambda *a: seen.append(a))

    assert [r.mode for r in report.rows] == ["bm25", "dense", "hybrid-rrf", "hybrid-dbsf"]
    bm25 = report.rows[0]
    # Each judged query's words are in its one relevant document only: BM25 ranks it first.
    assert (bm25.ndcg_at_10, bm25.recall_at_10, bm25.recall_at_100, bm25.mrr_at_10) == (
        1.0,
        1.0,
        1.0,
        1.0,
    )
    assert bm25.queries == 3  # q4 is not judged in the test split
    for row in report.rows:
        assert row.ndcg_at_10 is not None and 0.0 <= row.ndcg_at_10 <= 1.0
        assert row.recall_at_100 == 1.0  # six documents: every list holds the relevant one
        assert row.p50_ms is not None and row.p50_ms >= 0.0
    assert (report.dataset, report.split, report.documents) == ("tiny", "test", 6)
    assert report.chunks >= 6 and report.model == "testing/hashing"
    assert report.anchors == ()  # not SciFact: no published numbers
    assert ("documents indexed", 6, 6) in seen
    assert [s for s in seen if s[0] == "queries run"][-1] == ("queries run", 3, 3)


def test_second_run_reuses_the_index_and_caps_queries(tmp_path: Path) -> None:
    folder = write_beir_folder(tmp_path / "tiny")
    embedder = HashingEmbedder(dim=128)
    first = _run(folder, tmp_path, embedder, modes=["bm25"])
    assert not first.index_reused
    again = _run(folder, tmp_path, embedder, modes=["bm25"], max_queries=1)
    assert again.index_reused and again.index_path == first.index_path
    assert (again.queries, again.queries_in_split, again.rows[0].queries) == (1, 3, 1)
    # Another chunking is another index.
    other = _run(
        folder, tmp_path, embedder, modes=["bm25"], params=ChunkingParams(Strategy.FIXED, 32, 4)
    )
    assert not other.index_reused and other.index_path != first.index_path


def test_a_rerank_mode_without_cross_encoder_says_why(tmp_path: Path) -> None:
    folder = write_beir_folder(tmp_path / "tiny")
    embedder = HashingEmbedder()
    models = eval_models(embedder, "nobody/no-such-reranker", tmp_path / "models")
    report = _run(folder, tmp_path, embedder, modes=["bm25", "bm25+rerank"], models=models)
    rerank = report.rows[1]
    assert rerank.mode == "bm25+rerank" and rerank.ndcg_at_10 is None
    assert rerank.unavailable.startswith("the cross-encoder is unavailable:")
    assert "nobody/no-such-reranker" in rerank.unavailable  # the reason, not just "off"
    assert report.rows[0].ndcg_at_10 == 1.0


def test_a_folder_that_is_not_beir_is_refused_in_words(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EvaluationError, match=r"missing .*corpus\.jsonl.*qrels/test\.tsv"):
        _run(empty, tmp_path, HashingEmbedder())
    with pytest.raises(EvaluationError, match="no folder"):
        _run(tmp_path / "nowhere", tmp_path, HashingEmbedder())
    broken = write_beir_folder(tmp_path / "broken")
    (broken / "corpus.jsonl").write_text('{"title": "no id"}\n')
    with pytest.raises(EvaluationError, match="not valid BEIR data"):
        _run(broken, tmp_path, HashingEmbedder())
    with pytest.raises(EvaluationError, match="'dev' split"):
        _run(write_beir_folder(tmp_path / "tiny"), tmp_path, HashingEmbedder(), split="dev")
    assert not (tmp_path / "eval").exists()  # nothing indexed for a refused folder


def test_unknown_mode_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        _run(write_beir_folder(tmp_path / "tiny"), tmp_path, HashingEmbedder(), modes=["magic"])


def test_one_evaluation_at_a_time(tmp_path: Path) -> None:
    folder = write_beir_folder(tmp_path / "tiny")
    with one_run_at_a_time(), pytest.raises(EvaluationError, match="Another evaluation"):
        _run(folder, tmp_path, HashingEmbedder(), modes=["bm25"])
    assert _run(folder, tmp_path, HashingEmbedder(), modes=["bm25"]).rows  # released after


def test_published_anchors_only_for_the_whole_scifact_test_split() -> None:
    corpus = {str(i): BeirDoc(str(i), "", f"abstract {i}") for i in range(SCIFACT_DOCUMENTS)}
    whole = BeirDataset("scifact", "test", corpus, {"q": "x"}, {"q": {"1": 1}})
    anchors = published_anchors(whole)
    assert {a.compare_with for a in anchors} == {"bm25", "bm25+rerank", "dense"}
    assert next(a.ndcg_at_10 for a in anchors if a.compare_with == "bm25") == 0.665
    part = BeirDataset("scifact", "test", dict(list(corpus.items())[:300]), {}, {})
    assert published_anchors(part) == ()
    train = BeirDataset("scifact", "train", corpus, {}, {})
    assert published_anchors(train) == ()


def test_the_tiny_folder_is_valid_beir(tmp_path: Path) -> None:
    folder = write_beir_folder(tmp_path / "tiny")
    header = (folder / "qrels" / "test.tsv").read_text().splitlines()[0]
    assert header == "query-id\tcorpus-id\tscore"
    first = json.loads((folder / "corpus.jsonl").read_text().splitlines()[0])
    assert set(first) == {"_id", "title", "text"}


def test_a_stopped_run_lets_go_of_the_index_and_the_next_one_resumes(tmp_path: Path) -> None:
    folder = write_beir_folder(tmp_path / "tiny")

    def stop(what: str, done: int, total: int) -> None:
        if what == "documents indexed":
            raise KeyboardInterrupt  # as a person stopping the page mid-build

    with pytest.raises(KeyboardInterrupt):
        _run(folder, tmp_path, HashingEmbedder(), modes=["bm25"], progress=stop)
    # The store folder admits one client: had it been kept open, this would fail to open it.
    report = _run(folder, tmp_path, HashingEmbedder(), modes=["bm25"])
    assert not report.index_reused and report.documents == 6
    assert report.rows[0].ndcg_at_10 == 1.0


def test_documents_with_the_same_text_are_two_documents_each_scored(tmp_path: Path) -> None:
    folder = write_beir_folder(tmp_path / "twins", TWIN_CORPUS, qrels=TWIN_QRELS)
    report = _run(folder, tmp_path, HashingEmbedder(dim=128), modes=["bm25", "hybrid-rrf"])
    assert report.documents == 8  # d7 and d8 are not merged into d1 and d2
    for row in report.rows:
        assert row.queries == 3
        # Every judged id is found: the copy q1 judges, and both copies q2 judges.
        assert row.recall_at_10 == 1.0, row
    bm25 = report.rows[0]
    # Copies tie in BM25: q2's two sit at the top (1.0); q1's one is first or second.
    assert bm25.ndcg_at_10 is not None and bm25.ndcg_at_10 >= (1 / math.log2(3) + 2) / 3 - 1e-4
