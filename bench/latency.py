"""Query latency per stage as the library grows: `python -m bench.latency [--sizes 1000,10000,50000]`."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from bench.beir import TUNED_FILE
from bench.common import (
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
from ingest.batch import ingest_texts
from ingest.chunking import split_sentences
from ragcore.catalog import Catalog, DocumentStatus
from ragcore.evaluation import BeirDataset, load_beir
from ragcore.evaluation.beir import mode_config
from ragcore.evaluation.tuning import load_tuned
from ragcore.models.base import Tokenizer, Vectors
from ragcore.models.loader import Models
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.settings import Settings
from ragcore.stores import VectorStore, open_store
from ragcore.types import ChunkingParams, Strategy

SIZES = (1_000, 10_000, 50_000)
STAGES = ("encode", "dense", "bm25", "fuse", "rerank", "total")
SENTENCES_PER_CHUNK = 3
FORMAT = 1  # bump when the synthetic chunks change


class RandomUnitVectors:
    """A stand-in embedder for the store side only: a unit vector seeded by each text's sha256.

    Exact (brute-force) search costs the same whatever the vectors hold, so the dense stage's
    time is real while its ranking is meaningless; queries still go through the real model.
    """

    def __init__(self, tokenizer: Tokenizer, dim: int) -> None:
        self.model_id = f"bench/random-unit-{dim}"
        self._tokenizer = tokenizer
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
            vec = np.random.default_rng(seed).standard_normal(self._dim)
            out[row] = vec / np.linalg.norm(vec)
        return out

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_passages(texts)


def synthetic_chunks(
    dataset: BeirDataset, n: int, tokenizer: Tokenizer, seed: int = 7
) -> list[tuple[str, str, str]]:
    """``n`` chunk-sized texts, each three sentences drawn at random from the corpus abstracts.

    Real scientific sentences, so BM25 sees a real vocabulary and term statistics; the
    combinations are synthetic. Each fits the model in one chunk. The first ``k`` of ``n``
    are the same for any ``n >= k``.
    """
    sentences = [
        doc.text[a:b]
        for doc in dataset.corpus.values()
        for a, b in split_sentences(doc.text)
        if b - a > 20
    ]
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    while len(out) < n:
        text = " ".join(rng.choice(sentences) for _ in range(SENTENCES_PER_CHUNK))
        doc_id = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if doc_id in seen or len(tokenizer.spans(text)) > tokenizer.max_tokens:
            continue
        seen.add(doc_id)
        out.append((doc_id, f"synthetic-{len(out):06d}", text))
    return out


def build_library(
    dataset: BeirDataset, size: int, models: Models, real: bool, workdir: Path
) -> tuple[Catalog, VectorStore, dict[str, object]]:
    """A cached data dir holding ``size`` synthetic chunks (one per document)."""
    kind = "minilm" if real else "random"
    path = workdir / "latency" / f"{dataset.name}-{size}-{kind}-v{FORMAT}"
    catalog = Catalog(path / "catalog.sqlite3")
    store = open_store("embedded", path=path / "vectors", collection="latency")
    done = path / "done.json"
    if done.exists():
        return catalog, store, json.loads(done.read_text())
    text_model = models.text
    embedder = text_model if real else RandomUnitVectors(text_model.tokenizer, text_model.dim)
    builder = Models(
        text_model=embedder, image_model=None, reranker_model=None, cache_dir=workdir / "models"
    )
    ready = {d.id for d in catalog.list_documents() if d.status == DocumentStatus.READY}
    chunks = synthetic_chunks(dataset, size, text_model.tokenizer)
    todo = [d for d in chunks if d[0] not in ready]
    log(f"latency: building {size} chunks ({kind} vectors) in {path}, {len(todo)} to go")
    started = time.perf_counter()
    stats = ingest_texts(
        catalog,
        store,
        builder,
        todo,
        ChunkingParams(Strategy.RECURSIVE, text_model.tokenizer.max_tokens, 0),
        batch_size=512,
        progress=lambda docs, chunks: log(f"  {docs}/{len(todo)}") if docs % 5000 < 512 else None,
    )
    info: dict[str, object] = {
        "chunks": catalog.counts()["chunks"],
        "vectors": "all-MiniLM-L6-v2" if real else "random unit vectors (synthetic)",
        "build_seconds": round(time.perf_counter() - started, 1),
        "stage_seconds": stats.seconds,
    }
    write_json(done, info)
    return catalog, store, info


def measure(
    retriever: Retriever,
    queries: Sequence[str],
    config: RetrievalConfig,
    *,
    rerank_loaded: bool,
    warmup: int = 5,
) -> dict[str, dict[str, float] | str]:
    for q in queries[:warmup]:
        retriever.run(q, config)
    samples: dict[str, list[float]] = {s: [] for s in STAGES}
    for q in queries:
        timings = retriever.run(q, config).timings
        for stage in STAGES:
            # Without a cross-encoder the rerank stage only notes that it is off: no time to show.
            if stage in timings and (stage != "rerank" or rerank_loaded):
                samples[stage].append(timings[stage])
    out: dict[str, dict[str, float] | str] = {}
    for stage, values in samples.items():
        if values:
            out[stage] = {
                "p50_ms": round(percentile(values, 50), 2),
                "p95_ms": round(percentile(values, 95), 2),
            }
        else:
            out[stage] = "unavailable"
    return out


def run(
    sizes: Sequence[int],
    workdir: Path,
    settings: Settings,
    *,
    data: Path,
    real_upto: int,
    n_queries: int,
) -> dict[str, object]:
    dataset = load_beir(data, "test")
    models = bench_models(settings, reranker=True)
    tuned, source = load_tuned(TUNED_FILE, settings.retrieval)
    params = tuned["rrf"]
    # The app's question path: hybrid with rerank (if it loads), top_k as in the app.
    config = mode_config("hybrid-rrf+rerank", params)
    config = replace(config, top_k=settings.top_k, rerank_top_n=settings.rerank_top_n)
    queries = list(dataset.queries.values())[:n_queries]
    rows = []
    for size in sizes:
        real = size <= real_upto
        catalog, store, info = build_library(dataset, size, models, real, workdir)
        try:
            retriever = Retriever(catalog, store, models)
            log(f"latency: {size} chunks, {len(queries)} queries")
            stages = measure(retriever, queries, config, rerank_loaded=models.reranker is not None)
        finally:
            store.close()
            catalog.close()
        rows.append({"chunks": size, **info, "stages": stages})
        log(f"  total p50 {stages['total']}")
    reranker = next(s for s in models.status(load=False) if s.role == "reranker")
    return {
        "queries": len(queries),
        "config": {**asdict(config), "source": source},
        "reranker": reranker.line(),
        "rows": rows,
    }


def print_table(report: Mapping[str, object]) -> None:
    print(f"query latency, ms (p50 / p95) over {report['queries']} SciFact test queries")
    print(f"{'chunks':>8}  {'vectors':<32}" + "".join(f"{s:>16}" for s in STAGES))
    for row in report["rows"]:  # type: ignore[attr-defined]
        cells = []
        for stage in STAGES:
            v = row["stages"][stage]
            cells.append(
                f"{v['p50_ms']:>7.1f} / {v['p95_ms']:<6.1f}"
                if isinstance(v, dict)
                else f"{'n/a':>16}"
            )
        print(f"{row['chunks']:>8}  {row['vectors']:<32}" + "".join(f"{c:>16}" for c in cells))
    print(report["reranker"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "beir" / "scifact")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument(
        "--real-upto",
        type=int,
        default=1000,
        help="embed with MiniLM up to this size; above, random vectors",
    )
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    settings = Settings(data_dir=args.workdir)
    report = run(
        sizes,
        args.workdir,
        settings,
        data=args.data,
        real_upto=args.real_upto,
        n_queries=args.queries,
    )
    report["machine"] = machine()
    report["command"] = command_line("bench.latency", argv)
    return publish(report, out=args.out, as_json=args.json, print_table=print_table)


if __name__ == "__main__":
    raise SystemExit(main())
