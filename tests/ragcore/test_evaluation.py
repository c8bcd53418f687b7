"""Our nDCG@k, Recall@k and MRR@k equal pytrec_eval's and ir_measures' on SciFact and on random runs."""

from __future__ import annotations

import math
import os
import re
from collections import Counter, defaultdict
from pathlib import Path

import ir_measures
import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st

from ragcore.catalog.fts import query_terms
from ragcore.evaluation import (
    BeirDataset,
    evaluate,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    parse_measure,
    ranked,
    read_qrels,
    recall_at_k,
    run_from_ranking,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("RAG_SHARED_DATA", REPO.parent / "shared" / "data"))
SCIFACT = SHARED / "beir" / "scifact"

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def oracle(qrels: Qrels, run: Run) -> dict[str, dict[str, float]]:
    """trec_eval's numbers through pytrec_eval.

    trec_eval has no cut-off reciprocal rank, but ``recip_rank`` is 1/rank of the first relevant
    document, so MRR@10 is it when that rank is <= 10, else 0.
    """
    measures = {"ndcg_cut.10", "recall.10,100", "recip_rank"}
    trec = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    return {
        qid: {
            "ndcg@10": v["ndcg_cut_10"],
            "recall@10": v["recall_10"],
            "recall@100": v["recall_100"],
            "mrr@10": v["recip_rank"] if v["recip_rank"] >= 0.1 - 1e-12 else 0.0,
        }
        for qid, v in trec.items()
    }


def assert_same(ours: dict[str, dict[str, float]], theirs: dict[str, dict[str, float]]) -> None:
    assert set(ours) == set(theirs)
    for qid, values in theirs.items():
        for measure, value in values.items():
            assert math.isclose(ours[qid][measure], value, abs_tol=1e-9), (qid, measure)


# ── on SciFact, with a real BM25 run from the catalog's keyword index ──


@pytest.fixture(scope="module")
def scifact() -> BeirDataset:
    if not SCIFACT.is_dir():
        pytest.skip(f"SciFact is not at {SCIFACT} (set RAG_SHARED_DATA to the shared data folder)")
    return load_beir(SCIFACT, "test")


@pytest.fixture(scope="module")
def bm25_run(scifact: BeirDataset) -> Run:
    """The top 100 of Okapi BM25 (k1 1.2, b 0.75) over title + text for every test query: a real run.

    Scored here over an inverted index: rank-bm25 scores every document for every term, which
    takes over a minute for 300 queries on a busy machine.
    """
    postings: dict[str, list[tuple[str, int]]] = defaultdict(list)
    lengths: dict[str, int] = {}
    for doc_id, doc in scifact.corpus.items():
        counts = Counter(words(doc.full_text))
        lengths[doc_id] = sum(counts.values())
        for term, tf in counts.items():
            postings[term].append((doc_id, tf))
    n, avgdl = len(lengths), sum(lengths.values()) / len(lengths)
    run: Run = {}
    for qid, query in scifact.queries.items():
        scores: dict[str, float] = defaultdict(float)
        for term in query_terms(query):  # stop words dropped, as our keyword search does
            df = len(postings.get(term, ()))
            idf = math.log((n - df + 0.5) / (df + 0.5) + 1)
            for doc_id, tf in postings.get(term, ()):
                norm = tf + 1.2 * (1 - 0.75 + 0.75 * lengths[doc_id] / avgdl)
                scores[doc_id] += idf * tf * 2.2 / norm
        run[qid] = dict(sorted(scores.items(), key=lambda kv: -kv[1])[:100])
    return run


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def test_scifact_loads_as_documented(scifact: BeirDataset) -> None:
    assert len(scifact.corpus) == 5183
    assert len(scifact.queries) == 300
    assert sum(len(v) for v in scifact.qrels.values()) == 339
    assert len(read_qrels(SCIFACT / "qrels" / "train.tsv")) == 809


@pytest.mark.parametrize("decimals", [None, 1])
def test_metrics_equal_pytrec_eval_on_scifact_bm25(
    scifact: BeirDataset, bm25_run: Run, decimals: int | None
) -> None:
    # Rounded scores make many ties, so trec_eval's tie order is tested too.
    run = {q: {d: round(s, decimals) for d, s in v.items()} for q, v in bm25_run.items()}
    if decimals is not None:
        assert sum(len(set(v.values())) < len(v) for v in run.values()) > 100
    result = evaluate(scifact.qrels, run)
    assert result.missing == 0
    assert_same(result.per_query, oracle(scifact.qrels, run))
    # A real run, not a degenerate one: BM25 on SciFact is near BEIR's published 0.665.
    assert 0.55 < result.mean["ndcg@10"] < 0.75, result.mean


def test_metrics_equal_ir_measures_where_no_ties(scifact: BeirDataset, bm25_run: Run) -> None:
    """ir_measures' RR@10 (its MS MARCO provider) orders ties its own way: compare tie-free queries."""
    tie_free = {q: v for q, v in bm25_run.items() if len(set(v.values())) == len(v)}
    assert len(tie_free) > 100
    qrels = {q: scifact.qrels[q] for q in tie_free}
    theirs = ir_measures.calc_aggregate(
        [ir_measures.RR @ 10, ir_measures.nDCG @ 10, ir_measures.R @ 100],  # type: ignore[operator]
        qrels,
        tie_free,
    )
    ours = evaluate(qrels, tie_free).mean
    assert ours["mrr@10"] == pytest.approx(theirs[ir_measures.RR @ 10], abs=1e-9)  # type: ignore[operator]
    assert ours["ndcg@10"] == pytest.approx(theirs[ir_measures.nDCG @ 10], abs=1e-9)  # type: ignore[operator]
    assert ours["recall@100"] == pytest.approx(theirs[ir_measures.R @ 100], abs=1e-9)  # type: ignore[operator]


def test_a_query_missing_from_the_run_scores_zero(scifact: BeirDataset, bm25_run: Run) -> None:
    dropped = sorted(bm25_run)[0]
    partial = {q: v for q, v in bm25_run.items() if q != dropped}
    result = evaluate(scifact.qrels, partial)
    assert result.missing == 1
    assert result.per_query[dropped] == {m: 0.0 for m in result.mean}
    full = evaluate(scifact.qrels, bm25_run)
    assert result.mean["ndcg@10"] == pytest.approx(
        full.mean["ndcg@10"] - full.per_query[dropped]["ndcg@10"] / full.queries
    )


# ── on random graded judgments and runs with ties ──

doc_ids = st.sampled_from([f"d{i}" for i in range(30)])
scores = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.25])  # few values: ties are common


@settings(max_examples=150, deadline=None)
@given(
    qrels=st.dictionaries(doc_ids, st.integers(min_value=0, max_value=3), min_size=1, max_size=12),
    run_q=st.dictionaries(doc_ids, scores, max_size=30),
)
def test_metrics_equal_pytrec_eval_on_random_runs(
    qrels: dict[str, int], run_q: dict[str, float]
) -> None:
    if not any(g > 0 for g in qrels.values()):
        qrels = {**qrels, "d0": 1}
    if not run_q:
        run_q = {"d29": 1.0}
    result = evaluate({"q": qrels}, {"q": run_q})
    assert_same(result.per_query, oracle({"q": qrels}, {"q": run_q}))


def test_metrics_by_hand() -> None:
    qrels = {"a": 2, "b": 1, "c": 0}
    run_q = {"x": 3.0, "a": 2.0, "b": 2.0}  # a and b tie: "b" > "a", so b ranks first
    assert ranked(run_q) == ["x", "b", "a"]
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(qrels, run_q, 10) == pytest.approx(dcg / idcg)
    assert recall_at_k(qrels, run_q, 2) == 0.5
    assert mrr_at_k(qrels, run_q, 10) == 0.5
    assert mrr_at_k(qrels, run_q, 1) == 0.0


def test_run_from_ranking_keeps_first_places() -> None:
    run_q = run_from_ranking(["b", "a", "b", "c"])
    assert ranked(run_q) == ["b", "a", "c"]


@pytest.mark.parametrize("bad", ["ndcg", "ndcg@0", "map@10", "recall@-1", "mrr@x"])
def test_unknown_measures_are_named(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown measure"):
        parse_measure(bad)


def test_a_folder_without_the_split_is_refused(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text('{"_id": "1", "title": "", "text": "x"}\n')
    with pytest.raises(FileNotFoundError, match="qrels"):
        load_beir(tmp_path, "test")
