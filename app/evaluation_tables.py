"""Pure helpers that turn evaluation reports into the tables and chart data the Evaluate view shows."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ragcore.evaluation.answers import AnswerRow, AnswerScores
from ragcore.evaluation.beir_folder import BeirReport
from ragcore.evaluation.chunking import ChunkingReport, SyntheticQuestions

THIS_APP = "this app"
PUBLISHED = "published"
PASSAGE_PREVIEW = 160  # characters of the source passage shown beside each question
ANSWER_PREVIEW = 200  # characters of each answer in the per-question table
NOT_MEASURED = "—"


def beir_table(report: BeirReport) -> pd.DataFrame:
    """One row per mode; a mode that could not run keeps its row, with the reason."""
    published = {a.compare_with: f"{a.ndcg_at_10:.3f} ({a.name})" for a in report.anchors}
    rows = [
        {
            "mode": row.mode,
            "nDCG@10": row.ndcg_at_10,
            "R@10": row.recall_at_10,
            "R@100": row.recall_at_100,
            "MRR@10": row.mrr_at_10,
            "p50 ms": row.p50_ms,
            "published nDCG@10": published.get(row.mode, ""),
            "note": row.unavailable,
        }
        for row in report.rows
    ]
    table = pd.DataFrame(rows)
    if not report.anchors:
        table = table.drop(columns=["published nDCG@10"])
    if not any(row.unavailable for row in report.rows):
        table = table.drop(columns=["note"])
    return table


def beir_chart(report: BeirReport) -> pd.DataFrame:
    """nDCG@10 per mode that ran, then each published number, told apart by ``source``."""
    bars = [
        {"mode": row.mode, "nDCG@10": row.ndcg_at_10, "source": THIS_APP}
        for row in report.rows
        if row.ndcg_at_10 is not None
    ]
    bars += [
        {"mode": anchor.name, "nDCG@10": anchor.ndcg_at_10, "source": PUBLISHED}
        for anchor in report.anchors
    ]
    return pd.DataFrame(bars, columns=["mode", "nDCG@10", "source"])


def questions_table(questions: SyntheticQuestions) -> pd.DataFrame:
    rows = []
    for q in questions.questions:
        passage = " ".join(q.passage.split())
        if len(passage) > PASSAGE_PREVIEW:
            passage = passage[: PASSAGE_PREVIEW - 1] + "…"
        rows.append({"synthetic question": q.text, "document": q.doc_name, "written from": passage})
    return pd.DataFrame(rows, columns=["synthetic question", "document", "written from"])


def chunking_table(report: ChunkingReport) -> pd.DataFrame:
    rows = [
        {
            "strategy": str(row.params.strategy),
            "chunk size": row.params.chunk_size,
            "overlap": row.params.overlap,
            "chunks": row.chunks,
            "build s": row.build_seconds,
            "Hit@1": round(row.hit_at_1, 3),
            "Hit@5": round(row.hit_at_5, 3),
            "MRR@10": round(row.mrr_at_10, 3),
        }
        for row in report.rows
    ]
    return pd.DataFrame(rows)


def chunking_chart(report: ChunkingReport) -> pd.DataFrame:
    """Hit@5 and MRR@10 side by side for each strategy."""
    rows = [
        {"strategy": row.label, "Hit@5": row.hit_at_5, "MRR@10": row.mrr_at_10}
        for row in report.rows
    ]
    return pd.DataFrame(rows, columns=["strategy", "Hit@5", "MRR@10"])


def share(value: float | None) -> str:
    """A share as a percentage, "—" when nothing was there to count."""
    return NOT_MEASURED if value is None else f"{value:.0%}"


def seconds(ms: float | None) -> str:
    return NOT_MEASURED if ms is None else f"{ms / 1000:.1f} s"


def _pair(first: str, second: str) -> str:
    return f"{first} / {second}"


def _number(value: float | None, digits: int = 0) -> str:
    return NOT_MEASURED if value is None else f"{value:,.{digits}f}"


def answer_summary_table(scores: AnswerScores) -> pd.DataFrame:
    """The answer benchmark's summary, one measure a row, formatted for a person."""
    rows = [
        ("key facts stated, in the model's own words", share(scores.fact_accuracy_own)),
        ("key facts stated, in the text shown", share(scores.fact_accuracy_shown)),
        (
            "right and verified (model's words, quote found on the page)",
            share(scores.fact_accuracy_verified),
        ),
        (
            "key facts in the evidence the model read (the most it could state)",
            share(scores.fact_accuracy_read),
        ),
        (
            "cited-location precision (citations on an expected page)",
            share(scores.location_precision),
        ),
        ("cited-location recall (answers citing an expected page)", share(scores.location_recall)),
        ("refusal precision (refusals of unanswerable questions)", share(scores.refusal_precision)),
        ("refusal recall (unanswerable questions refused)", share(scores.refusal_recall)),
        ("answerable questions refused", str(scores.false_refusals)),
        (
            "out-of-range citations (in answers)",
            f"{scores.out_of_range_citations} ({scores.answers_with_out_of_range})",
        ),
        (
            "first token p50 / p95",
            _pair(seconds(scores.first_token_p50_ms), seconds(scores.first_token_p95_ms)),
        ),
        (
            "whole answer p50 / p95",
            _pair(seconds(scores.total_p50_ms), seconds(scores.total_p95_ms)),
        ),
        (
            "prompt tokens p50 / p95",
            _pair(_number(scores.prompt_tokens_p50), _number(scores.prompt_tokens_p95)),
        ),
        ("writing speed p50 (tokens/s)", _number(scores.tokens_per_s_p50, 1)),
    ]
    return pd.DataFrame(rows, columns=["measure", "value"])


def answer_kind_table(scores: AnswerScores) -> pd.DataFrame:
    """One row per kind of question asked."""
    rows = [
        {
            "kind": kind,
            "questions": k.questions,
            "right and verified": share(k.fact_accuracy_verified),
            "facts, own words": share(k.fact_accuracy_own),
            "facts, shown": share(k.fact_accuracy_shown),
            "expected page cited": share(k.location_recall),
            "refused": k.refused,
            "first token p50": seconds(k.first_token_p50_ms),
        }
        for kind, k in scores.by_kind.items()
    ]
    columns = [
        "kind",
        "questions",
        "right and verified",
        "facts, own words",
        "facts, shown",
        "expected page cited",
        "refused",
        "first token p50",
    ]
    return pd.DataFrame(rows, columns=columns)


def answer_rows_table(rows: Sequence[AnswerRow]) -> pd.DataFrame:
    """Each question asked: what came back and how it was judged."""

    def verdict(row: AnswerRow) -> str:
        if row.error:
            return f"error: {row.error}"
        if row.refused:
            return "refused"
        if not row.answerable:
            return "answered (should refuse)"
        return "right" if row.correct_shown else "key facts missing"

    table = []
    for row in rows:
        answer = " ".join(row.answer.split())
        if len(answer) > ANSWER_PREVIEW:
            answer = answer[: ANSWER_PREVIEW - 1] + "…"
        table.append(
            {
                "id": row.id,
                "kind": row.kind.value,
                "mode": row.mode,
                "verdict": verdict(row),
                "cited pages right": f"{sum(c.correct for c in row.citations)} of {len(row.citations)}",
                "first token": seconds(row.first_token_ms),
                "total": seconds(row.total_ms),
                "question": row.question,
                "answer": answer,
            }
        )
    return pd.DataFrame(table)
