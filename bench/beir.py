"""Retrieval quality on a BEIR dataset through the real pipeline: `python -m bench.beir --data DIR`."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from bench import models as model_bench
from bench.common import (
    REPO_ROOT,
    bench_models,
    command_line,
    default_workdir,
    log,
    machine,
    publish,
    write_json,
)
from ingest.service import ingest_texts
from ragcore.catalog.factory import open_catalog
from ragcore.evaluation import load_beir
from ragcore.evaluation.beir import ANCHORS, MODES, evaluate_modes, restrict
from ragcore.evaluation.beir_index import copied_to, open_index
from ragcore.evaluation.tuning import load_tuned, tune
from ragcore.models.loader import Models
from ragcore.settings import Settings
from ragcore.types import ChunkingParams, Strategy

TUNED_FILE = REPO_ROOT / "bench" / "tuned.json"


def chunking(models: Models, args: argparse.Namespace) -> ChunkingParams:
    size = args.chunk_size or models.text.tokenizer.max_tokens
    return ChunkingParams(Strategy(args.strategy), size, args.overlap)


def print_table(report: Mapping[str, object], out: Callable[[str], None] = print) -> None:
    out(
        f"{report['dataset']} {report['split']}: {report['queries']} queries, "
        f"{report['documents']} documents, {report['chunks']} chunks; {report['model']}"
    )
    out(
        f"catalog: {report.get('catalog', 'sqlite')}; fusion parameters from {report['fusion_source']}"
    )
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
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m bench.beir", description=__doc__)
    parser.add_argument("--data", type=Path, default=settings.shared_data / "beir" / "scifact")
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
        "--catalog-url",
        default="",
        help="a PostgreSQL database (postgresql://...): the index's catalog is copied there (if "
        "empty) and every mode reads chunks and ranks BM25 there instead of the SQLite file",
    )
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
    settings = settings.model_copy(update={"data_dir": args.workdir})
    models = bench_models(settings, reranker=any(m.endswith("+rerank") for m in modes))
    dataset = load_beir(args.data, args.split)
    params = chunking(models, args)
    index = open_index(dataset, models, params, args.workdir, index_texts=ingest_texts)
    if args.catalog_url:
        try:
            target = open_catalog(args.catalog_url, path=index.path / "catalog.sqlite3")
        except BaseException:
            index.close()
            raise
        try:
            index = copied_to(index, target)
        except BaseException:
            target.close()
            index.close()
            raise
    try:
        if args.tune:
            tuned_report = tune(load_beir(args.data, "train"), index, models)
            tuned_report["index"] = {"chunking": asdict(params), "model": models.text.model_id}
            write_json(args.tuned, tuned_report)
            log(f"tuned parameters written to {args.tuned}: {tuned_report['chosen']}")
        tuned, source = load_tuned(args.tuned, settings.retrieval)
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
            "catalog": "postgresql" if args.catalog_url else "sqlite",
            "chunking": {**asdict(params), "strategy": str(params.strategy)},
            "fusion_source": source,
            "rows": [row.to_json() for row in rows],
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
