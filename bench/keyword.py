"""Keyword search on both catalogs, side by side: `python -m bench.keyword --index DIR --catalog-url URL`.

For every query of a BEIR split, BM25 from the SQLite catalog (FTS5) and from a PostgreSQL
catalog holding the same chunks (``python -m bench.beir --catalog-url URL`` copies them there):
whether the two rankings are the same chunks in the same order with the same scores, and each
backend's latency (the two alternate query by query, so they share the machine's load).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import command_line, log, machine
from ragcore.catalog import Catalog
from ragcore.catalog.factory import open_catalog
from ragcore.evaluation import load_beir
from ragcore.evaluation.beir import percentile
from ragcore.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m bench.keyword", description=__doc__)
    parser.add_argument("--data", type=Path, default=settings.shared_data / "beir" / "scifact")
    parser.add_argument("--split", default="test")
    parser.add_argument("--index", type=Path, required=True, help="a bench.beir index folder")
    parser.add_argument("--catalog-url", required=True, help="postgresql://... with its copy")
    parser.add_argument("--limit", type=int, default=100, help="hits per query (bm25_k)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the queries")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)

    queries = list(load_beir(args.data, args.split).queries.values())
    sqlite = Catalog(args.index / "catalog.sqlite3")
    postgres = open_catalog(args.catalog_url, path=args.index / "catalog.sqlite3")
    times: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    same_order = 0
    worst = 0.0
    try:
        for counts in (sqlite.counts(), postgres.counts()):
            log(f"{counts['documents']} documents, {counts['chunks']} chunks")
        for repeat in range(args.repeat):
            for query in queries:
                results = {}
                for name, catalog in (("sqlite", sqlite), ("postgresql", postgres)):
                    started = time.perf_counter()
                    hits = catalog.bm25_search(query, limit=args.limit)
                    times[name].append((time.perf_counter() - started) * 1000)
                    results[name] = [(row.point_id, score) for row, score in hits]
                if repeat:
                    continue
                a, b = results["sqlite"], results["postgresql"]
                same_order += [p for p, _ in a] == [p for p, _ in b]
                worst = max([worst, *(abs(x[1] - y[1]) for x, y in zip(a, b, strict=False))])
    finally:
        sqlite.close()
        postgres.close()
    report = {
        "dataset": args.data.name,
        "split": args.split,
        "queries": len(queries),
        "limit": args.limit,
        "same_ranking": same_order,
        "max_score_difference": worst,
        "latency_ms": {
            name: {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "runs": len(ms)}
            for name, ms in times.items()
        },
        "machine": machine(),
        "command": command_line("bench.keyword", argv),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
