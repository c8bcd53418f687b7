"""A BEIR folder a person points to, evaluated the way `python -m bench.beir` does, for the app."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragcore.errors import EvaluationError
from ragcore.evaluation.beir import (
    ANCHORS,
    MODES,
    ModeRow,
    ModeRun,
    mode_config,
    mode_row,
    number,
    params_for,
    restrict,
    retriever_search,
)
from ragcore.evaluation.beir_index import BeirIndex, TextIndexer, open_index
from ragcore.evaluation.retrieval_metrics import BeirDataset, load_beir, run_from_ranking
from ragcore.evaluation.runs import Progress, one_run_at_a_time
from ragcore.models.base import Reranker, TextEmbedder
from ragcore.models.loader import Models
from ragcore.retrieval import Retriever
from ragcore.retrieval_config import RetrievalConfig
from ragcore.types import ChunkingParams

# The published SciFact numbers are for its whole corpus and test split; a folder that is
# called scifact but holds a part of it must not be compared with them.
SCIFACT_NAME = "scifact"
SCIFACT_DOCUMENTS = 5183
SCIFACT_SPLIT = "test"


@dataclass(frozen=True)
class Anchor:
    """A published nDCG@10 on the same data, and the mode of ours it is comparable with."""

    name: str
    compare_with: str
    ndcg_at_10: float


@dataclass(frozen=True)
class ModeScores:
    """One mode's means over the queries; a mode that could not run has no numbers, a reason."""

    mode: str
    ndcg_at_10: float | None = None
    recall_at_10: float | None = None
    recall_at_100: float | None = None
    mrr_at_10: float | None = None
    p50_ms: float | None = None
    queries: int = 0
    unavailable: str = ""


@dataclass(frozen=True)
class BeirReport:
    """What one evaluation of a BEIR folder found, and on what."""

    dataset: str
    split: str
    folder: Path
    queries: int  # evaluated (after the cap)
    queries_in_split: int
    documents: int
    chunks: int
    model: str
    chunking: ChunkingParams
    index_path: Path
    index_reused: bool
    seconds: float
    rows: tuple[ModeScores, ...]
    anchors: tuple[Anchor, ...]  # only for the whole SciFact corpus, test split


def eval_models(text: TextEmbedder, reranker: Reranker | str | None, cache_dir: Path) -> Models:
    """Text-only models around a ready text embedder: an evaluation never loads CLIP.

    ``reranker`` is a loaded cross-encoder, or its model id when it did not load in the app, so
    that the evaluation's own attempt records why (it fails the same way, and quickly).
    """
    return Models(text_model=text, image_model=None, reranker_model=reranker, cache_dir=cache_dir)


def published_anchors(dataset: BeirDataset) -> tuple[Anchor, ...]:
    whole_scifact = (
        dataset.name.lower() == SCIFACT_NAME
        and dataset.split == SCIFACT_SPLIT
        and len(dataset.corpus) == SCIFACT_DOCUMENTS
    )
    if not whole_scifact:
        return ()
    return tuple(Anchor(a["anchor"], a["compare_with"], a["value"]) for a in ANCHORS)


def load_folder(folder: Path, split: str) -> BeirDataset:
    """The folder's data, or an EvaluationError saying what is wrong with it."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise EvaluationError(f"There is no folder at {folder}.")
    try:
        dataset = load_beir(folder, split)
    except FileNotFoundError as exc:
        raise EvaluationError(
            f"{exc}. A BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv."
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"{folder} is not valid BEIR data: {exc}") from exc
    if not dataset.corpus:
        raise EvaluationError(f"{folder / 'corpus.jsonl'} holds no documents.")
    if not any(any(g > 0 for g in rels.values()) for rels in dataset.qrels.values()):
        raise EvaluationError(
            f"{folder / 'qrels' / (split + '.tsv')} judges no document relevant to any query."
        )
    return dataset


def _scores(row: ModeRow) -> ModeScores:
    return ModeScores(
        mode=row.mode,
        ndcg_at_10=row.ndcg_at_10,
        recall_at_10=row.recall_at_10,
        recall_at_100=row.recall_at_100,
        mrr_at_10=row.mrr_at_10,
        p50_ms=row.latency_p50_ms,
        queries=row.queries,
    )


def run_modes(
    dataset: BeirDataset,
    index: BeirIndex,
    models: Models,
    modes: Sequence[str],
    fusion: Mapping[str, RetrievalConfig],
    progress: Progress,
) -> list[ModeScores]:
    """As bench.beir.evaluate_modes (each query through every mode in turn), reporting progress."""
    retriever = Retriever(index.catalog, index.store, models)
    unavailable: dict[str, str] = {}
    searches = {}
    for mode in modes:
        config = mode_config(mode, params_for(mode, fusion))
        if config.rerank and models.reranker is None:
            status = next(s for s in models.status(load=False) if s.role == "reranker")
            unavailable[mode] = f"the cross-encoder is unavailable: {status.detail}"
        else:
            searches[mode] = retriever_search(index, retriever, config)
    runs = {mode: ModeRun({}, []) for mode in searches}
    total = len(dataset.queries)
    progress("queries run", 0, total)
    for n, (qid, text) in enumerate(dataset.queries.items(), start=1):
        for mode, search in searches.items():
            ranked, timings = search(text)
            runs[mode].run[qid] = run_from_ranking(ranked)
            runs[mode].timings.append(timings)
        progress("queries run", n, total)
    rows = []
    for mode in modes:
        if mode in unavailable:
            rows.append(ModeScores(mode, unavailable=unavailable[mode]))
        else:
            rows.append(_scores(mode_row(mode, dataset, runs[mode], params_for(mode, fusion))))
    return rows


def evaluate_beir_folder(
    folder: Path,
    *,
    split: str,
    models: Models,
    params: ChunkingParams,
    workdir: Path,
    modes: Sequence[str],
    fusion: Mapping[str, RetrievalConfig],
    index_texts: TextIndexer,
    max_queries: int = 0,
    progress: Progress | None = None,
) -> BeirReport:
    """Index ``folder``'s corpus under ``workdir`` (reused when the same corpus, model and
    chunking were indexed before) and score each mode on ``split``: nDCG@10, Recall@10,
    Recall@100, MRR@10 and the median latency.

    ``index_texts`` indexes the corpus (``ingest.service.ingest_texts``).
    ``max_queries`` > 0 evaluates only the first that many queries (by id), for a quick try.
    Raises EvaluationError with a sentence for a person when the folder is not BEIR data.

    >>> report = evaluate_beir_folder(Path("scifact-sub20"), split="test", models=models,
    ...     params=ChunkingParams(), workdir=data_dir / "eval" / "beir", modes=["bm25"],
    ...     fusion=per_fusion(settings.retrieval), index_texts=ingest_texts,
    ...     max_queries=20)
    >>> report.rows[0].ndcg_at_10  # 300 SciFact abstracts, 20 queries, offline MiniLM
    0.8191
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    if not modes:
        raise ValueError("choose at least one mode")
    if max_queries < 0:
        raise ValueError(f"max_queries must be >= 0, got {max_queries}")
    report = progress or (lambda what, done, total: None)
    started = time.perf_counter()
    dataset = load_folder(folder, split)
    in_split = len(dataset.queries)
    if max_queries:
        dataset = restrict(dataset, sorted(dataset.queries)[:max_queries])
    with one_run_at_a_time():
        try:
            index = open_index(
                dataset,
                models,
                params,
                workdir,
                index_texts=index_texts,
                progress=lambda done, total: report("documents indexed", done, total),
            )
        except ValueError as exc:  # e.g. two documents mapped to one id (see beir_doc_ids)
            raise EvaluationError(f"{folder} cannot be indexed: {exc}") from exc
        try:
            rows = run_modes(dataset, index, models, modes, fusion, report)
        finally:
            index.close()
    return BeirReport(
        dataset=dataset.name,
        split=split,
        folder=Path(folder),
        queries=len(dataset.queries),
        queries_in_split=in_split,
        documents=int(number(index.stats["documents"])),
        chunks=int(number(index.stats["chunks"])),
        model=models.text.model_id,
        chunking=params,
        index_path=index.path,
        index_reused=index.reused,
        seconds=round(time.perf_counter() - started, 2),
        rows=tuple(rows),
        anchors=published_anchors(dataset),
    )
