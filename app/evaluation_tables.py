"""Pure helpers that turn evaluation reports into the tables and chart data the Evaluate view shows."""

from __future__ import annotations

import pandas as pd

from bench.beir_folder import BeirReport
from bench.chunking_compare import ChunkingReport, SyntheticQuestions

THIS_APP = "this app"
PUBLISHED = "published"
PASSAGE_PREVIEW = 160  # characters of the source passage shown beside each question


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
