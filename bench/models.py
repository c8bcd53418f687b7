"""Embedding models side by side on one BEIR dataset: `python -m bench.models --models ID1,ID2`."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    command_line,
    default_workdir,
    log,
    machine,
    publish,
    shared_data_dir,
)
from ingest.batch import ingest_texts
from ragcore.evaluation import BeirDataset, evaluate, load_beir, run_from_ranking
from ragcore.evaluation.beir_index import BeirIndex, open_index
from ragcore.models.loader import Models
from ragcore.models.registry import facts_for
from ragcore.retrieval import Retriever
from ragcore.retrieval_config import RetrievalConfig, RetrievalMode
from ragcore.settings import Settings
from ragcore.types import ChunkingParams, Strategy

DEFAULT_MODELS = "sentence-transformers/all-MiniLM-L6-v2,sentence-transformers/all-mpnet-base-v2"
MEASURES = ("ndcg@10", "recall@100")
# Passages timed for throughput: enough for a steady rate, few enough to stay minutes not hours.
THROUGHPUT_SAMPLE = 64
DEPTH = 100  # candidates per leg, so Recall@100 sees a full list


@dataclass(frozen=True)
class ModelRow:
    """One embedding model on the dataset: what it is, its quality per mode, speed and size."""

    model: str
    dim: int
    bytes_per_vector: int
    distance: str
    query_prefix: str
    passage_prefix: str
    max_seq_length: int
    precision: str
    chunk_size: int
    documents: object  # as the index's stats count them
    chunks: int
    quality: Mapping[str, Mapping[str, float]]  # mode -> measure -> mean (and its seconds)
    encode_passages_per_s: float
    index_build: Mapping[str, object]  # the index's stats
    index_bytes_on_disk: int
    load_seconds: float
    weights: str  # the weights' fingerprint, "" when the model has none

    @property
    def raw_vector_bytes(self) -> int:
        return self.chunks * self.bytes_per_vector

    def to_json(self) -> dict[str, object]:
        """The report's row, keys in the order ``--json`` has always printed them."""
        return {
            "model": self.model,
            "dim": self.dim,
            "bytes_per_vector": self.bytes_per_vector,
            "distance": self.distance,
            "query_prefix": self.query_prefix,
            "passage_prefix": self.passage_prefix,
            "max_seq_length": self.max_seq_length,
            "precision": self.precision,
            "chunk_size": self.chunk_size,
            "documents": self.documents,
            "chunks": self.chunks,
            "quality": {mode: dict(means) for mode, means in self.quality.items()},
            "encode_passages_per_s": self.encode_passages_per_s,
            "index_build": dict(self.index_build),
            "index_bytes_on_disk": self.index_bytes_on_disk,
            "raw_vector_bytes": self.raw_vector_bytes,
            "load_seconds": self.load_seconds,
            "weights": self.weights,
        }


def mode_configs() -> dict[str, RetrievalConfig]:
    """Dense alone (the model's own quality) and hybrid RRF with BM25 (what the app answers with)."""
    dense = RetrievalConfig(
        mode=RetrievalMode.DENSE, dense_k=DEPTH, top_k=DEPTH, rerank=False, use_image_leg=False
    )
    hybrid = RetrievalConfig(
        mode=RetrievalMode.HYBRID,
        dense_k=DEPTH,
        bm25_k=DEPTH,
        top_k=2 * DEPTH,
        rerank=False,
        use_image_leg=False,
    )
    return {"dense": dense, "hybrid-rrf": hybrid}


def evaluate_index(
    dataset: BeirDataset, index: BeirIndex, models: Models, configs: Mapping[str, RetrievalConfig]
) -> dict[str, dict[str, float]]:
    """Mean measures per mode; every query through ``Retriever.run``, first chunk of a document wins."""
    retriever = Retriever(index.catalog, index.store, models)
    out: dict[str, dict[str, float]] = {}
    for mode, config in configs.items():
        run: dict[str, dict[str, float]] = {}
        started = time.perf_counter()
        for qid, text in dataset.queries.items():
            hits = retriever.run(text, config).hits
            run[qid] = run_from_ranking([index.beir_ids[h.doc_id] for h in hits])
        mean = evaluate(dataset.qrels, run, MEASURES).mean
        out[mode] = {m: round(v, 4) for m, v in mean.items()}
        out[mode]["seconds"] = round(time.perf_counter() - started, 1)
        log(f"  {mode}: " + ", ".join(f"{m} {v}" for m, v in out[mode].items()))
    return out


def corpus_subset(dataset: BeirDataset, size: int, seed: int = 13) -> list[str] | None:
    """Every document judged relevant for the queries, plus seeded random others up to ``size``.

    None (the whole corpus) when ``size`` is 0 or covers it. A smaller corpus makes retrieval
    easier, so compare models on the same subset, never with full-corpus numbers.
    """
    if size <= 0 or size >= len(dataset.corpus):
        return None
    relevant = sorted({d for q in dataset.queries for d, g in dataset.qrels[q].items() if g > 0})
    others = sorted(set(dataset.corpus) - set(relevant))
    extra = random.Random(seed).sample(others, max(0, min(len(others), size - len(relevant))))
    return sorted(set(relevant) | set(extra))


def encode_throughput(models: Models, texts: Sequence[str], batch_size: int) -> float:
    """Passages per second through ``embed_passages``, after one warm-up batch."""
    text_model = models.text
    text_model.embed_passages(list(texts[:8]))
    started = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        text_model.embed_passages(list(texts[i : i + batch_size]))
    return len(texts) / (time.perf_counter() - started)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def compare_one(
    model_id: str,
    dataset: BeirDataset,
    args: argparse.Namespace,
) -> ModelRow:
    settings = Settings(data_dir=args.workdir)
    models = Models(
        text_model=model_id,
        image_model=None,
        reranker_model=None,
        cache_dir=settings.models_dir,
        allow_downloads=settings.allow_downloads,
        device=args.device,
        batch_size=args.batch_size,
        precision=args.precision,
    )
    started = time.perf_counter()
    text_model = models.text
    load_seconds = time.perf_counter() - started
    facts = getattr(text_model, "facts", None) or facts_for(model_id)
    size = args.chunk_size or text_model.tokenizer.max_tokens
    params = ChunkingParams(Strategy(args.strategy), size, min(args.overlap, size - 1))
    doc_ids = corpus_subset(dataset, args.docs)
    sample = [dataset.corpus[d].full_text for d in sorted(dataset.corpus)[:THROUGHPUT_SAMPLE]]
    log(f"{model_id}: timing encode on {len(sample)} passages")
    throughput = encode_throughput(models, sample, args.batch_size)
    log(f"{model_id}: {throughput:.1f} passages/s; indexing")
    index = open_index(
        dataset, models, params, args.workdir, index_texts=ingest_texts, doc_ids=doc_ids
    )
    try:
        quality = evaluate_index(dataset, index, models, mode_configs())
        chunks = int(index.stats["chunks"])  # type: ignore[call-overload]
        return ModelRow(
            model=model_id,
            dim=facts.dim,
            bytes_per_vector=facts.bytes_per_vector,
            distance=facts.distance,
            query_prefix=facts.query_prefix,
            passage_prefix=facts.passage_prefix,
            max_seq_length=facts.max_seq_length,
            precision=args.precision,
            chunk_size=params.chunk_size,
            documents=index.stats["documents"],
            chunks=chunks,
            quality=quality,
            encode_passages_per_s=round(throughput, 2),
            index_build=index.stats,
            index_bytes_on_disk=folder_bytes(index.path / "vectors"),
            load_seconds=round(load_seconds, 2),
            weights=getattr(text_model, "fingerprint", ""),
        )
    finally:
        index.close()


def print_table(report: Mapping[str, object], out: Callable[[str], None] = print) -> None:
    rows: list[dict[str, object]] = report["rows"]  # type: ignore[assignment]
    out(
        f"{report['dataset']} {report['split']}: {report['queries']} queries, corpus: "
        f"{report['corpus']}; "
        f"machine load {report['machine']['load_average']}"  # type: ignore[index]
    )
    header = (
        f"{'model':<44}{'dim':>5}{'B/vec':>7}{'dist':>7}{'nDCG@10':>9}{'R@100':>8}"
        f"{'hyb nDCG':>10}{'hyb R@100':>10}{'passages/s':>12}{'index MB':>10}{'chunks':>8}"
    )
    out(header)
    out("-" * len(header))
    for row in rows:
        q: dict[str, dict[str, float]] = row["quality"]  # type: ignore[assignment]
        out(
            f"{row['model']!s:<44}{row['dim']:>5}{row['bytes_per_vector']:>7}{row['distance']!s:>7}"
            f"{q['dense']['ndcg@10']:>9.3f}{q['dense']['recall@100']:>8.3f}"
            f"{q['hybrid-rrf']['ndcg@10']:>10.3f}{q['hybrid-rrf']['recall@100']:>10.3f}"
            f"{row['encode_passages_per_s']:>12.1f}"
            f"{int(row['index_bytes_on_disk']) / 1e6:>10.1f}{row['chunks']:>8}"  # type: ignore[call-overload]
        )
    out(
        "nDCG@10 and R@100: dense retrieval alone; hyb: dense + BM25 fused by the default weighted RRF. "
        f"passages/s: embed_passages on the first {THROUGHPUT_SAMPLE} corpus texts. index MB: the embedded "
        "store's folder (vectors + payload text)."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.models", description=__doc__)
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated model ids")
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "beir" / "scifact")
    parser.add_argument("--split", default="test")
    parser.add_argument("--workdir", type=Path, default=default_workdir() / "models")
    parser.add_argument("--strategy", default="recursive", choices=[str(s) for s in Strategy])
    parser.add_argument("--chunk-size", type=int, default=0, help="tokens; 0 = each model's max")
    parser.add_argument("--overlap", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision", default="float32", choices=["float32", "float16", "bfloat16"]
    )
    parser.add_argument("--limit-queries", type=int, default=0, help="first N queries only")
    parser.add_argument(
        "--docs",
        type=int,
        default=0,
        help="index only the judged documents plus random others up to N (0 = whole corpus)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)

    model_ids = [m.strip() for m in args.models.split(",") if m.strip()]
    if not model_ids:
        parser.error("--models needs at least one model id")
    if not args.data.is_dir():
        parser.error(f"no BEIR folder at {args.data} (set --data or RAG_SHARED_DATA)")
    dataset = load_beir(args.data, args.split)
    if args.limit_queries:
        keep = sorted(dataset.queries)[: args.limit_queries]
        dataset = BeirDataset(
            name=dataset.name,
            split=dataset.split,
            corpus=dataset.corpus,
            queries={q: dataset.queries[q] for q in keep},
            qrels={q: dataset.qrels[q] for q in keep},
        )
    rows = []
    for model_id in model_ids:
        log(f"── {model_id}")
        rows.append(compare_one(model_id, dataset, args).to_json())
    report = {
        "dataset": dataset.name,
        "split": dataset.split,
        "queries": len(dataset.queries),
        "corpus": "whole"
        if not args.docs
        else f"judged documents + random others, {args.docs} in all",
        "rows": rows,
        "machine": machine(),
        "command": command_line("bench.models", argv),
    }
    return publish(report, out=args.out, as_json=args.json, print_table=print_table)


if __name__ == "__main__":
    raise SystemExit(main())
