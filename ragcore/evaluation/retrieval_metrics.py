"""Retrieval measures: BEIR-format data, and nDCG@k, Recall@k, MRR@k computed as trec_eval does."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

Qrels = Mapping[str, Mapping[str, int]]  # query id -> document id -> relevance grade
Run = Mapping[str, Mapping[str, float]]  # query id -> document id -> score (higher is better)

DEFAULT_MEASURES = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
_MEASURE = re.compile(r"^(ndcg|recall|mrr)@([1-9][0-9]*)$")


# ── the measures ───────────────────────────────────────────────────


def ranked(run_q: Mapping[str, float]) -> list[str]:
    """Document ids best first; equal scores go by document id, descending, as in trec_eval.

    Matching trec_eval's tie order is what lets our numbers equal pytrec_eval's to the last digit.
    """
    return [doc for doc, _ in sorted(run_q.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def ndcg_at_k(qrels_q: Mapping[str, int], run_q: Mapping[str, float], k: int) -> float:
    """Normalised discounted cumulative gain of the top ``k`` (gain = grade, discount log2(rank+1)).

    Grades <= 0 count as not relevant, as in trec_eval's ``ndcg_cut``.
    """
    _check_k(k)
    dcg = sum(
        qrels_q.get(doc, 0) / math.log2(rank + 1)
        for rank, doc in enumerate(ranked(run_q)[:k], start=1)
        if qrels_q.get(doc, 0) > 0
    )
    ideal_grades = sorted((g for g in qrels_q.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_grades, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(qrels_q: Mapping[str, int], run_q: Mapping[str, float], k: int) -> float:
    """The share of the relevant documents (grade >= 1) found in the top ``k``."""
    _check_k(k)
    relevant = {doc for doc, g in qrels_q.items() if g > 0}
    if not relevant:
        return 0.0
    return sum(1 for doc in ranked(run_q)[:k] if doc in relevant) / len(relevant)


def mrr_at_k(qrels_q: Mapping[str, int], run_q: Mapping[str, float], k: int) -> float:
    """1 / the rank of the first relevant document in the top ``k``; 0 when there is none."""
    _check_k(k)
    for rank, doc in enumerate(ranked(run_q)[:k], start=1):
        if qrels_q.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


_FUNCTIONS = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}


def _check_k(k: int) -> None:
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")


def parse_measure(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; raises ValueError naming the measures we know."""
    match = _MEASURE.match(name.strip().lower())
    if match is None:
        raise ValueError(
            f"unknown measure {name!r}: use ndcg@K, recall@K or mrr@K with K a positive whole number"
        )
    return match.group(1), int(match.group(2))


@dataclass(frozen=True)
class Evaluation:
    """Per-query and mean values of each measure, over every query that has judgments."""

    per_query: dict[str, dict[str, float]]  # query id -> measure -> value
    mean: dict[str, float]  # measure -> mean over the judged queries
    queries: int
    missing: int  # judged queries absent from the run (they score 0)


def evaluate(qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES) -> Evaluation:
    """Score ``run`` against ``qrels``.

    The mean is over every query with at least one relevant judgment; a query the run lacks
    scores 0 (pytrec_eval would silently leave it out, flattering an incomplete run).

    >>> evaluate({"q1": {"d1": 1}}, {"q1": {"d1": 2.0, "d2": 1.0}}).mean["ndcg@10"]
    1.0
    """
    parsed = [(m, *parse_measure(m)) for m in measures]
    judged = [q for q, rels in qrels.items() if any(g > 0 for g in rels.values())]
    per_query: dict[str, dict[str, float]] = {}
    for qid in judged:
        run_q = run.get(qid, {})
        per_query[qid] = {m: _FUNCTIONS[kind](qrels[qid], run_q, k) for m, kind, k in parsed}
    mean = {
        m: (sum(v[m] for v in per_query.values()) / len(per_query) if per_query else 0.0)
        for m, _, _ in parsed
    }
    return Evaluation(
        per_query=per_query,
        mean=mean,
        queries=len(judged),
        missing=sum(1 for q in judged if q not in run),
    )


def run_from_ranking(ranked_ids: Sequence[str]) -> dict[str, float]:
    """A run entry from ids in rank order (repeats keep their first place): scores n, n-1, … 1.

    Distinct descending scores make the order exact, whatever the tie rule of the evaluator.
    """
    order: dict[str, None] = dict.fromkeys(ranked_ids)
    n = len(order)
    return {doc: float(n - i) for i, doc in enumerate(order)}


# ── BEIR-format data ───────────────────────────────────────────────


@dataclass(frozen=True)
class BeirDoc:
    id: str
    title: str
    text: str

    @property
    def full_text(self) -> str:
        """Title and body as one document, the way the benchmark indexes it."""
        return f"{self.title}\n\n{self.text}" if self.title.strip() else self.text


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR folder's corpus, the queries of one split, and that split's judgments."""

    name: str
    split: str
    corpus: dict[str, BeirDoc]
    queries: dict[str, str]  # only the queries the split judges
    qrels: dict[str, dict[str, int]]


def read_corpus(path: Path) -> dict[str, BeirDoc]:
    corpus: dict[str, BeirDoc] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                doc = BeirDoc(str(row["_id"]), row.get("title") or "", row.get("text") or "")
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path} line {line_no} is not a BEIR corpus row: {exc}") from exc
            corpus[doc.id] = doc
    return corpus


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                queries[str(row["_id"])] = str(row["text"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path} line {line_no} is not a BEIR query row: {exc}") from exc
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """A BEIR qrels TSV (``query-id``, ``corpus-id``, ``score`` with a header line)."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for line_no, row in enumerate(rows, start=1):
            cells = [c.strip() for c in row]
            if not any(cells) or (line_no == 1 and not cells[-1].lstrip("-").isdigit()):
                continue  # blank line, or the header
            if len(cells) != 3:
                raise ValueError(
                    f"{path} line {line_no} has {len(cells)} columns; a qrels line has 3 "
                    "(query-id, corpus-id, score)"
                )
            qid, doc, grade = cells
            try:
                qrels.setdefault(qid, {})[doc] = int(grade)
            except ValueError:
                raise ValueError(
                    f"{path} line {line_no}: the score {grade!r} is not a whole number"
                ) from None
    return qrels


def load_beir(folder: Path, split: str) -> BeirDataset:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` from a BEIR folder."""
    folder = Path(folder)
    needed = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a BEIR folder with a {split!r} split: missing {', '.join(missing)}"
        )
    corpus = read_corpus(needed[0])
    qrels = read_qrels(needed[2])
    all_queries = read_queries(needed[1])
    unknown = sorted(q for q in qrels if q not in all_queries)
    if unknown:
        raise ValueError(
            f"{needed[2]} judges {len(unknown)} queries missing from queries.jsonl "
            f"(first: {unknown[0]!r})"
        )
    return BeirDataset(
        name=folder.name,
        split=split,
        corpus=corpus,
        queries={q: all_queries[q] for q in qrels},
        qrels=qrels,
    )
