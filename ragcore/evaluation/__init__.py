"""Evaluation, part of the product (the app's Evaluate page) and run by ``bench/``'s command lines.

Retrieval measures over BEIR data (here, from ``.retrieval_metrics``); the cached BEIR index
(``.beir_index``), modes and rows (``.beir``), fusion tuning (``.tuning``), a folder a person
points to (``.beir_folder``), chunking strategies compared (``.chunking``), answer quality
(``.answers``), and what every run shares (``.runs``).
"""

from ragcore.evaluation.retrieval_metrics import (
    DEFAULT_MEASURES,
    BeirDataset,
    BeirDoc,
    Evaluation,
    Qrels,
    Run,
    evaluate,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    parse_measure,
    ranked,
    read_corpus,
    read_qrels,
    read_queries,
    recall_at_k,
    run_from_ranking,
)

__all__ = [
    "DEFAULT_MEASURES",
    "BeirDataset",
    "BeirDoc",
    "Evaluation",
    "Qrels",
    "Run",
    "evaluate",
    "load_beir",
    "mrr_at_k",
    "ndcg_at_k",
    "parse_measure",
    "ranked",
    "read_corpus",
    "read_qrels",
    "read_queries",
    "recall_at_k",
    "run_from_ranking",
]
