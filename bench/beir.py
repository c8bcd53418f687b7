"""Retrieval quality on a BEIR dataset through the real pipeline: `python -m bench.beir --data DIR`."""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench import models as model_bench
from bench.beir_index import BeirIndex, open_index
from bench.common import (
    REPO_ROOT,
    bench_models,
    command_line,
    default_workdir,
    log,
    machine,
    percentile,
    publish,
    shared_data_dir,
    write_json,
)
from ragcore.evaluation import BeirDataset, evaluate, load_beir, run_from_ranking
from ragcore.fusion import distribution_based_score_fusion, reciprocal_rank_fusion
from ragcore.models.loader import Models
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.settings import Settings
from ragcore.types import ChunkingParams, Fusion, Strategy

MODES = ("bm25", "dense", "hybrid-rrf", "hybrid-dbsf", "bm25+rerank", "hybrid-rrf+rerank")
MEASURES = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
# BEIR reranks the first-stage top 100 with the cross-encoder; so do the +rerank modes.
RERANK_DEPTH = 100
TUNED_FILE = REPO_ROOT / "bench" / "tuned.json"

# Published nDCG@10 on SciFact test, and which of our modes each is comparable with.
ANCHORS = (
    {"anchor": "BEIR BM25 (Elasticsearch)", "compare_with": "bm25", "value": 0.665},
    {"anchor": "BEIR BM25 + MiniLM cross-encoder", "compare_with": "bm25+rerank", "value": 0.688},
    {"anchor": "MTEB all-MiniLM-L6-v2", "compare_with": "dense", "value": 0.645},
)


@dataclass(frozen=True)
class FusionParams:
    """The knobs of hybrid retrieval that tuning chooses."""

    fusion: str = "rrf"  # rrf | dbsf: how the dense and BM25 lists are fused
    dense_k: int = 100
    bm25_k: int = 100
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0


def load_tuned(path: Path = TUNED_FILE) -> tuple[dict[str, FusionParams], str]:
    """The tuned parameters per fusion from ``bench/tuned.json``, or the app's settings."""
    if path.is_file():
        chosen = json.loads(path.read_text())["chosen"]
        return {name: FusionParams(**values) for name, values in chosen.items()}, str(path)
    s = Settings()
    base = FusionParams("rrf", s.dense_k, s.bm25_k, s.rrf_k, s.dense_weight, s.bm25_weight)
    return {"rrf": base, "dbsf": replace(base, fusion="dbsf")}, "ragcore.settings defaults"


def mode_config(mode: str, params: FusionParams) -> RetrievalConfig:
    """The RetrievalConfig of a benchmark mode (candidate lists as deep as tuning chose)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    base, _, rerank = mode.partition("+")
    retrieval_mode = "hybrid" if base.startswith("hybrid") else base
    return RetrievalConfig(
        mode=retrieval_mode,
        hybrid_fusion=Fusion.DBSF if base == "hybrid-dbsf" else Fusion.RRF,
        dense_k=params.dense_k,
        bm25_k=params.bm25_k,
        rrf_k=params.rrf_k,
        dense_weight=params.dense_weight,
        bm25_weight=params.bm25_weight,
        rerank=bool(rerank),
        rerank_top_n=RERANK_DEPTH,
        # Every fused candidate, so Recall@100 sees the whole list (cut to the reranked part).
        top_k=RERANK_DEPTH if rerank else params.dense_k + params.bm25_k,
        use_image_leg=False,
    )


def params_for(mode: str, tuned: Mapping[str, FusionParams]) -> FusionParams:
    return tuned["dbsf"] if mode.startswith("hybrid-dbsf") else tuned["rrf"]


@dataclass(frozen=True)
class ModeRun:
    run: dict[str, dict[str, float]]  # query id -> BEIR doc id -> score
    timings: list[dict[str, float]]  # per query, ms per stage


# A search: query text -> (BEIR document ids, best first; milliseconds per stage incl. "total").
Search = Callable[[str], tuple[list[str], dict[str, float]]]


def retriever_search(index: BeirIndex, retriever: Retriever, config: RetrievalConfig) -> Search:
    """``Retriever.run`` with hits mapped to BEIR documents (a document ranks by its best chunk)."""

    def search(text: str) -> tuple[list[str], dict[str, float]]:
        result = retriever.run(text, config)
        return [index.beir_ids[h.doc_id] for h in result.hits], result.timings

    return search


def run_interleaved(
    queries: Mapping[str, str], searches: Mapping[str, Search]
) -> dict[str, ModeRun]:
    """Each query through every search in turn, so that all see the same machine load."""
    runs = {name: ModeRun({}, []) for name in searches}
    started = time.perf_counter()
    for n, (qid, text) in enumerate(queries.items(), start=1):
        for name, search in searches.items():
            ranked, timings = search(text)
            runs[name].run[qid] = run_from_ranking(ranked)
            runs[name].timings.append(timings)
        if n % 100 == 0:
            log(f"  {n}/{len(queries)} queries, {time.perf_counter() - started:.0f} s")
    return runs


def mode_row(
    mode: str, dataset: BeirDataset, mode_run: ModeRun, params: FusionParams
) -> dict[str, object]:
    result = evaluate(dataset.qrels, mode_run.run, MEASURES)
    totals = [t["total"] for t in mode_run.timings]
    row: dict[str, object] = {"mode": mode}
    row.update({m: round(result.mean[m], 4) for m in MEASURES})
    row["queries"] = result.queries
    row["latency_p50_ms"] = round(percentile(totals, 50), 1)
    row["latency_p95_ms"] = round(percentile(totals, 95), 1)
    if mode.startswith("hybrid"):
        row["params"] = asdict(params)
    for anchor in ANCHORS:
        if anchor["compare_with"] == mode:
            row["published"] = f"{anchor['value']} ({anchor['anchor']})"
    return row


def evaluate_modes(
    dataset: BeirDataset,
    index: BeirIndex,
    models: Models,
    modes: Sequence[str],
    tuned: Mapping[str, FusionParams],
) -> list[dict[str, object]]:
    """One row per mode; a +rerank mode whose cross-encoder cannot load says so, with no number."""
    retriever = Retriever(index.catalog, index.store, models)
    unavailable: dict[str, dict[str, object]] = {}
    searches: dict[str, Search] = {}
    for mode in modes:
        config = mode_config(mode, params_for(mode, tuned))
        if config.rerank and models.reranker is None:
            status = next(s for s in models.status(load=False) if s.role == "reranker")
            unavailable[mode] = {"mode": mode, "status": "unavailable", "reason": status.detail}
            log(f"{mode}: unavailable ({status.detail})")
        else:
            searches[mode] = retriever_search(index, retriever, config)
    log(f"{', '.join(searches)}: {len(dataset.queries)} queries each, interleaved")
    runs = run_interleaved(dataset.queries, searches)
    rows = []
    for mode in modes:
        if mode in unavailable:
            rows.append(unavailable[mode])
            continue
        rows.append(mode_row(mode, dataset, runs[mode], params_for(mode, tuned)))
        log(f"{mode}: nDCG@10 {rows[-1]['ndcg@10']}")
    return rows


# ── tuning on the train split ──────────────────────────────────────


@dataclass(frozen=True)
class Legs:
    """One query's dense and BM25 candidates, deepest list first, as (point id, score)."""

    dense: list[tuple[str, float]]
    bm25: list[tuple[str, float]]


def collect_legs(retriever: Retriever, queries: Mapping[str, str], depth: int) -> dict[str, Legs]:
    """Each leg once, ``depth`` deep: shallower candidate lists are its prefixes (exact search)."""
    out: dict[str, Legs] = {}
    dense_cfg = RetrievalConfig(
        mode="dense", dense_k=depth, top_k=depth, rerank=False, use_image_leg=False
    )
    bm25_cfg = RetrievalConfig(mode="bm25", bm25_k=depth, top_k=depth, rerank=False)
    for n, (qid, text) in enumerate(queries.items(), start=1):
        legs = []
        for config in (dense_cfg, bm25_cfg):
            hits = retriever.run(text, config).hits
            legs.append([(h.point_id, h.evidence.fused_score or 0.0) for h in hits])
        out[qid] = Legs(*legs)
        if n % 200 == 0:
            log(f"  legs: {n}/{len(queries)} queries")
    return out


def cached_legs(
    index: BeirIndex, models: Models, dataset: BeirDataset, depth: int
) -> dict[str, Legs]:
    """Both legs of every query of ``dataset``, kept beside the index so re-tuning is instant."""
    path = index.path / f"legs-{dataset.split}-{depth}.json"
    if path.exists():
        raw = json.loads(path.read_text())
        if set(raw) == set(dataset.queries):
            return {
                q: Legs([(p, s) for p, s in v[0]], [(p, s) for p, s in v[1]])
                for q, v in raw.items()
            }
    log(f"collecting both legs {depth} deep for {len(dataset.queries)} {dataset.split} queries")
    retriever = Retriever(index.catalog, index.store, models)
    legs = collect_legs(retriever, dataset.queries, depth)
    write_json(path, {q: [both.dense, both.bm25] for q, both in legs.items()})
    return legs


def fuse_legs(legs: Legs, params: FusionParams) -> list[str]:
    """The point ids Retriever.run would return in hybrid mode with ``params``, best first."""
    dense = legs.dense[: params.dense_k]
    bm25 = legs.bm25[: params.bm25_k]
    weights = [params.dense_weight, params.bm25_weight]
    if params.fusion == "dbsf":
        fused = distribution_based_score_fusion([dense, bm25], weights=weights)
    else:
        fused = reciprocal_rank_fusion(
            [[p for p, _ in dense], [p for p, _ in bm25]], k=params.rrf_k, weights=weights
        )
    return [pid for pid, _ in fused]


def grid() -> list[FusionParams]:
    out = []
    for depth in (50, 100, 200):
        for bm25_weight in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0):
            for rrf_k in (5, 10, 20, 40, 60, 100):
                out.append(FusionParams("rrf", depth, depth, rrf_k, 1.0, bm25_weight))
            out.append(FusionParams("dbsf", depth, depth, 60, 1.0, bm25_weight))
    return out


def score_grid(
    dataset: BeirDataset,
    legs: Mapping[str, Legs],
    point_docs: Mapping[str, str],
    candidates: Sequence[FusionParams],
) -> list[tuple[FusionParams, dict[str, float]]]:
    results = []
    for params in candidates:
        run = {
            qid: run_from_ranking([point_docs[p] for p in fuse_legs(q_legs, params)])
            for qid, q_legs in legs.items()
        }
        mean = evaluate(dataset.qrels, run, MEASURES).mean
        results.append((params, {m: round(v, 4) for m, v in mean.items()}))
    return results


def point_to_beir(index: BeirIndex) -> dict[str, str]:
    return {row.point_id: index.beir_ids[row.doc_id] for row in index.catalog.chunks()}


def tune(
    train: BeirDataset, index: BeirIndex, models: Models, *, depth: int = 200
) -> dict[str, object]:
    """Search the grid on ``train``; the best nDCG@10 per fusion is chosen (ties: earlier row)."""
    legs = cached_legs(index, models, train, depth)
    scored = score_grid(train, legs, point_to_beir(index), grid())
    chosen: dict[str, dict[str, object]] = {}
    for fusion in ("rrf", "dbsf"):
        rows = [(p, m) for p, m in scored if p.fusion == fusion]
        best = max(rows, key=lambda r: r[1]["ndcg@10"])
        chosen[fusion] = asdict(best[0])
    baseline = FusionParams("rrf", 50, 50, 60, 1.0, 1.0)
    baseline_score = score_grid(train, legs, point_to_beir(index), [baseline])[0][1]
    ranked_rows = sorted(scored, key=lambda r: -r[1]["ndcg@10"])
    return {
        "split": train.split,
        "queries": len(train.queries),
        "selection": "highest mean nDCG@10 on the train split, per fusion",
        "chosen": chosen,
        "baseline": {"params": asdict(baseline), **baseline_score},
        "grid": [{"params": asdict(p), **m} for p, m in ranked_rows],
    }


# ── entry point ────────────────────────────────────────────────────


def sample_subset(
    dataset: BeirDataset, n_queries: int, hard_per_query: int, n_random: int = 0, seed: int = 13
) -> tuple[list[str], list[str]]:
    """``n_queries`` judged queries, and a corpus of their relevant documents plus distractors.

    Distractors are each query's ``hard_per_query`` best non-relevant BM25 matches (rank-bm25 over
    the whole corpus, so a small corpus stays hard) and ``n_random`` random others.
    """
    from rank_bm25 import BM25Okapi

    rng = random.Random(seed)
    picked = sorted(rng.sample(sorted(dataset.queries), min(n_queries, len(dataset.queries))))
    relevant = {d for q in picked for d, g in dataset.qrels[q].items() if g > 0}
    ids = sorted(dataset.corpus)
    bm25 = BM25Okapi([_words(dataset.corpus[d].full_text) for d in ids])
    hard: set[str] = set()
    for q in picked:
        scores = bm25.get_scores(_words(dataset.queries[q]))
        best = sorted(range(len(ids)), key=lambda i: -scores[i])
        hard.update([ids[i] for i in best if ids[i] not in relevant][:hard_per_query])
    others = sorted(set(ids) - relevant - hard)
    docs = sorted(relevant | hard | set(rng.sample(others, min(n_random, len(others)))))
    return picked, docs


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def restrict(dataset: BeirDataset, query_ids: Sequence[str]) -> BeirDataset:
    return replace(
        dataset,
        queries={q: dataset.queries[q] for q in query_ids},
        qrels={q: dataset.qrels[q] for q in query_ids},
    )


def chunking(models: Models, args: argparse.Namespace) -> ChunkingParams:
    size = args.chunk_size or models.text.tokenizer.max_tokens
    return ChunkingParams(Strategy(args.strategy), size, args.overlap)


def print_table(report: Mapping[str, object], out: Callable[[str], None] = print) -> None:
    out(
        f"{report['dataset']} {report['split']}: {report['queries']} queries, "
        f"{report['documents']} documents, {report['chunks']} chunks; {report['model']}"
    )
    out(f"fusion parameters from {report['fusion_source']}")
    header = f"{'mode':<20}{'nDCG@10':>9}{'R@10':>8}{'R@100':>8}{'MRR@10':>8}{'p50 ms':>9}{'p95 ms':>9}  published nDCG@10"
    out(header)
    out("-" * len(header))
    for row in report["rows"]:  # type: ignore[attr-defined]
        if row.get("status") == "unavailable":
            out(f"{row['mode']:<20}{'unavailable':>9}  ({row['reason']})")
            continue
        out(
            f"{row['mode']:<20}{row['ndcg@10']:>9.3f}{row['recall@10']:>8.3f}"
            f"{row['recall@100']:>8.3f}{row['mrr@10']:>8.3f}{row['latency_p50_ms']:>9.1f}"
            f"{row['latency_p95_ms']:>9.1f}  {row.get('published', '')}"
        )
    out("published: " + "; ".join(f"{a['anchor']} {a['value']}" for a in ANCHORS))


def compare_models(args: argparse.Namespace) -> int:
    """`--models ID1,ID2`: the same data and chunking through ``bench.models`` (one index per model)."""
    forwarded = [
        f"--models={args.models}",
        f"--data={args.data}",
        f"--split={args.split}",
        f"--workdir={args.workdir / 'models'}",
        f"--strategy={args.strategy}",
        f"--chunk-size={args.chunk_size}",
        f"--overlap={args.overlap}",
        f"--limit-queries={args.limit_queries}",
    ]
    if args.json:
        forwarded.append("--json")
    if args.out:
        forwarded.append(f"--out={args.out}")
    return model_bench.main(forwarded)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.beir", description=__doc__)
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "beir" / "scifact")
    parser.add_argument("--split", default="test")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated: {MODES}")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--strategy", default="recursive", choices=[str(s) for s in Strategy])
    parser.add_argument("--chunk-size", type=int, default=0, help="tokens; 0 = the model's max")
    parser.add_argument("--overlap", type=int, default=30)
    parser.add_argument("--limit-queries", type=int, default=0, help="first N queries only")
    parser.add_argument("--tune", action="store_true", help="tune fusion on train, then evaluate")
    parser.add_argument("--tuned", type=Path, default=TUNED_FILE, help="tuned parameters file")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    parser.add_argument(
        "--models",
        help="comma-separated embedding model ids: compare them side by side (dense and hybrid "
        "quality, encode throughput, index size) instead of evaluating the active model's modes",
    )
    args = parser.parse_args(argv)

    if args.models:
        return compare_models(args)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        parser.error(f"unknown mode(s) {', '.join(bad)}; choose from {', '.join(MODES)}")
    if not args.data.is_dir():
        parser.error(f"no BEIR folder at {args.data} (set --data or RAG_SHARED_DATA)")
    settings = Settings(data_dir=args.workdir)
    models = bench_models(settings, reranker=any(m.endswith("+rerank") for m in modes))
    dataset = load_beir(args.data, args.split)
    params = chunking(models, args)
    index = open_index(dataset, models, params, args.workdir)
    try:
        if args.tune:
            tuned_report = tune(load_beir(args.data, "train"), index, models)
            tuned_report["index"] = {"chunking": asdict(params), "model": models.text.model_id}
            write_json(args.tuned, tuned_report)
            log(f"tuned parameters written to {args.tuned}: {tuned_report['chosen']}")
        tuned, source = load_tuned(args.tuned)
        if args.limit_queries:
            dataset = restrict(dataset, sorted(dataset.queries)[: args.limit_queries])
        rows = evaluate_modes(dataset, index, models, modes, tuned)
        report = {
            "dataset": dataset.name,
            "split": dataset.split,
            "queries": len(dataset.queries),
            "documents": index.stats["documents"],
            "chunks": index.stats["chunks"],
            "model": models.text.model_id,
            "chunking": {**asdict(params), "strategy": str(params.strategy)},
            "fusion_source": source,
            "rows": rows,
            "anchors": list(ANCHORS),
            "index": index.stats,
            "machine": machine(),
            "command": command_line("bench.beir", argv),
        }
    finally:
        index.close()
    return publish(report, out=args.out, as_json=args.json, print_table=print_table)


if __name__ == "__main__":
    raise SystemExit(main())
