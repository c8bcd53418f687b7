"""Our hybrid retrieval against the common LangChain recipe on the same data: `python -m bench.peer`."""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
)
from ingest.batch import ingest_texts
from ingest.chunking import chunk_pages, split_sentences
from ragcore.catalog import Catalog
from ragcore.evaluation import BeirDataset, BeirDoc, Evaluation, evaluate, load_beir
from ragcore.evaluation.beir import mode_config, restrict, retriever_search, run_interleaved
from ragcore.evaluation.beir_index import BeirIndex, open_index
from ragcore.evaluation.tuning import load_tuned
from ragcore.models.loader import Models
from ragcore.retrieval import Retriever
from ragcore.retrieval_config import RetrievalConfig
from ragcore.settings import Settings
from ragcore.stores import open_store
from ragcore.types import ChunkingParams, Page, Strategy

LANGCHAIN = "LangChain: BM25Retriever + InMemoryVectorStore + EnsembleRetriever"
INSTALL_HINT = (
    "bench.peer needs LangChain: .venv/bin/pip install langchain-community langchain-core "
    "(the `bench` extra of pyproject.toml)"
)


def _langchain() -> Any:
    try:
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever
        from langchain_core.documents import Document
        from langchain_core.embeddings import Embeddings
        from langchain_core.vectorstores import InMemoryVectorStore
    except ImportError as exc:
        raise SystemExit(f"{INSTALL_HINT} ({exc})") from exc
    return EnsembleRetriever, BM25Retriever, Document, Embeddings, InMemoryVectorStore


def stored_vectors(index: BeirIndex) -> dict[str, list[float]]:
    """Our index's MiniLM text vectors by point id, read straight from the store's folder."""
    from qdrant_client import QdrantClient

    index.store.close()  # the folder admits one client at a time
    client = QdrantClient(path=str(index.path / "vectors"))
    out: dict[str, list[float]] = {}
    offset = None
    try:
        while True:
            records, offset = client.scroll(
                "beir", limit=1024, offset=offset, with_vectors=["text"], with_payload=False
            )
            for r in records:
                vectors: Any = r.vector
                out[str(r.id)] = list(vectors["text"])
            if offset is None:
                return out
    finally:
        client.close()


class LangChainRecipe:
    """BM25Retriever (rank-bm25) + InMemoryVectorStore retriever + EnsembleRetriever (weighted RRF).

    LangChain's defaults everywhere (whitespace BM25 tokens, weights 0.5/0.5, c=60) except k,
    set to our candidate depth so both fuse lists of the same length.
    """

    def __init__(
        self,
        models: Models,
        chunks: list[tuple[str, str, str]],
        vectors: Mapping[str, list[float]],
        k: int,
    ) -> None:
        ensemble_cls, bm25_cls, document_cls, embeddings_cls, store_cls = _langchain()
        self._ensemble_cls, self._bm25_cls, self._document_cls = (
            ensemble_cls,
            bm25_cls,
            document_cls,
        )
        self.k = k
        self.embed_seconds = 0.0
        recipe = self

        class MiniLM(embeddings_cls):  # type: ignore[misc, valid-type]
            """Our MiniLM; chunks already embedded in our index reuse their stored vectors."""

            def __init__(self) -> None:
                self.known: dict[str, list[float]] = {}

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                missing = [t for t in texts if t not in self.known]
                if missing:
                    t0 = time.perf_counter()
                    vecs = models.text.embed_passages(missing)
                    recipe.embed_seconds += time.perf_counter() - t0
                    self.known.update({t: v.tolist() for t, v in zip(missing, vecs, strict=True)})
                return [self.known[t] for t in texts]

            def embed_query(self, text: str) -> list[float]:
                return models.text.embed_queries([text])[0].tolist()

        self.embeddings = MiniLM()
        self.docs = [self._document(*c) for c in chunks]
        self.embeddings.known.update({text: vectors[pid] for pid, _, text in chunks})
        self.vector_store = store_cls(embedding=self.embeddings)
        self.vector_store.add_documents(self.docs, ids=[c[0] for c in chunks])
        self.bm25 = bm25_cls.from_documents(self.docs, k=k)
        self.ensemble = self._ensemble()

    def _document(self, point_id: str, beir_id: str, text: str) -> Any:
        return self._document_cls(
            page_content=text, metadata={"beir_id": beir_id, "point_id": point_id}
        )

    def _ensemble(self) -> Any:
        dense = self.vector_store.as_retriever(search_kwargs={"k": self.k})
        return self._ensemble_cls(retrievers=[dense, self.bm25], weights=[0.5, 0.5])

    def timed_search(self, query: str) -> tuple[list[str], dict[str, float]]:
        t0 = time.perf_counter()
        docs = self.ensemble.invoke(query)
        total_ms = (time.perf_counter() - t0) * 1000
        return [d.metadata["beir_id"] for d in docs], {"total": total_ms}

    def add(self, chunks: list[tuple[str, str, str]]) -> dict[str, float]:
        """Add chunks the LangChain way: embed + add vectors, rebuild BM25 from every chunk."""
        new_docs = [self._document(*c) for c in chunks]
        self.embed_seconds = 0.0
        t0 = time.perf_counter()
        self.vector_store.add_documents(new_docs, ids=[c[0] for c in chunks])
        self.docs.extend(new_docs)
        t1 = time.perf_counter()
        # BM25Retriever has no way to add documents: its rank-bm25 index is built anew, so this
        # cost grows with the whole library, not with what was added.
        self.bm25 = self._bm25_cls.from_documents(self.docs, k=self.k)
        self.ensemble = self._ensemble()
        t2 = time.perf_counter()
        return {
            "embed": self.embed_seconds,
            "index": t2 - t0 - self.embed_seconds,
            "bm25_rebuild": t2 - t1,
            "total": t2 - t0,
        }


def new_documents(dataset: BeirDataset, n: int, seed: int = 11) -> list[BeirDoc]:
    """``n`` documents not in the corpus: sampled abstracts with their sentences in reverse order."""
    rng = random.Random(seed)
    out = []
    for beir_id in rng.sample(sorted(dataset.corpus), n):
        doc = dataset.corpus[beir_id]
        sentences = [doc.text[a:b] for a, b in split_sentences(doc.text)]
        out.append(
            BeirDoc(f"new-{beir_id}", f"Revisited: {doc.title}", " ".join(reversed(sentences)))
        )
    return out


@dataclass(frozen=True)
class SystemRow:
    """One system's quality and latency over the same queries."""

    system: str
    ndcg_at_10: float
    recall_at_100: float
    p50_ms: float
    p95_ms: float

    @classmethod
    def measure(cls, system: str, result: Evaluation, seconds: Sequence[float]) -> SystemRow:
        ms = [s * 1000 for s in seconds]
        return cls(
            system=system,
            ndcg_at_10=round(result.mean["ndcg@10"], 4),
            recall_at_100=round(result.mean["recall@100"], 4),
            p50_ms=round(percentile(ms, 50), 1),
            p95_ms=round(percentile(ms, 95), 1),
        )

    def to_json(self) -> dict[str, object]:
        """The report's row, keys in the order ``--json`` has always printed them."""
        return {
            "system": self.system,
            "ndcg@10": self.ndcg_at_10,
            "recall@100": self.recall_at_100,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
        }


def run(
    data: Path, workdir: Path, settings: Settings, *, n_queries: int, n_new: int
) -> dict[str, object]:
    _langchain()  # fail early, with the install hint
    models = bench_models(settings, reranker=False)
    dataset = load_beir(data, "test")
    if n_queries:
        dataset = restrict(dataset, sorted(dataset.queries)[:n_queries])
    params = ChunkingParams(Strategy.RECURSIVE, models.text.tokenizer.max_tokens, 30)
    index = open_index(dataset, models, params, workdir, index_texts=ingest_texts)
    tuned, source = load_tuned(TUNED_FILE, settings.retrieval)
    rows: list[SystemRow] = []
    try:
        vectors = stored_vectors(index)
        chunks = [(r.point_id, index.beir_ids[r.doc_id], r.text) for r in index.catalog.chunks()]
        depth = tuned["rrf"].dense_k
        log(f"peer: building the LangChain recipe over {len(chunks)} chunks")
        t0 = time.perf_counter()
        recipe = LangChainRecipe(models, chunks, vectors, k=depth)
        build_seconds = time.perf_counter() - t0
        retriever = Retriever(index.catalog, index.store, models)
        untuned = RetrievalConfig(
            dense_k=depth, bm25_k=depth, rrf_k=60, dense_weight=1.0, bm25_weight=1.0
        )
        searches = {
            "ours: hybrid-rrf (tuned)": retriever_search(
                index, retriever, mode_config("hybrid-rrf", tuned["rrf"])
            ),
            "ours: hybrid-rrf (1:1, k=60)": retriever_search(
                index, retriever, mode_config("hybrid-rrf", untuned)
            ),
            LANGCHAIN: recipe.timed_search,
        }
        log(f"peer: {len(dataset.queries)} queries through each system, interleaved")
        for name, mode_run in run_interleaved(dataset.queries, searches).items():
            result = evaluate(dataset.qrels, mode_run.run)
            totals = [t["total"] / 1000 for t in mode_run.timings]
            rows.append(SystemRow.measure(name, result, totals))
        log("peer: adding documents")
        added = add_documents(index, dataset, models, params, recipe, workdir, n_new)
    finally:
        index.close()
    ours, theirs = rows[0], rows[-1]
    return {
        "queries": len(dataset.queries),
        "chunks": len(chunks),
        "fusion_source": source,
        "langchain_build_seconds": round(build_seconds, 1),
        "rows": [row.to_json() for row in rows],
        "add_documents": added,
        "ratios": {
            "ndcg@10 ours / langchain": round(ours.ndcg_at_10 / theirs.ndcg_at_10, 3),
            "p50 latency langchain / ours": round(theirs.p50_ms / ours.p50_ms, 2),
            "p95 latency langchain / ours": round(theirs.p95_ms / ours.p95_ms, 2),
            "add: index update langchain / ours": round(
                added["langchain"]["index"] / added["ours"]["index"], 2
            ),
            "add: total langchain / ours": round(
                added["langchain"]["total"] / added["ours"]["total"], 2
            ),
        },
        "versions": versions(),
    }


def add_documents(
    index: BeirIndex,
    dataset: BeirDataset,
    models: Models,
    params: ChunkingParams,
    recipe: LangChainRecipe,
    workdir: Path,
    n: int,
) -> dict[str, Any]:
    """The cost of adding ``n`` new documents to each, on a copy of our index."""
    docs = new_documents(dataset, n)
    index.store.close()
    workdir.mkdir(parents=True, exist_ok=True)
    copy = Path(tempfile.mkdtemp(prefix="peer-add-", dir=workdir)) / "index"
    shutil.copytree(index.path, copy)
    catalog = Catalog(copy / "catalog.sqlite3")
    store = open_store("embedded", path=copy / "vectors", collection="beir")
    try:
        store.count()  # open the folder before the clock starts, as a running app has it open
        t0 = time.perf_counter()
        stats = ingest_texts(
            catalog, store, models, [(d.id, d.id, d.full_text) for d in docs], params
        )
        ours_total = time.perf_counter() - t0
    finally:
        store.close()
        catalog.close()
        shutil.rmtree(copy.parent, ignore_errors=True)
    tokenizer = models.text.tokenizer
    t0 = time.perf_counter()
    new_chunks = [
        (f"{d.id}:{c.chunk_no}", d.id, c.text)
        for d in docs
        for c in chunk_pages(d.id, [Page(1, d.full_text)], params, tokenizer)
    ]
    chunk_seconds = time.perf_counter() - t0
    theirs = recipe.add(new_chunks)
    theirs["chunk"] = chunk_seconds
    theirs["total"] += chunk_seconds
    return {
        "documents": n,
        "chunks": stats.chunks,
        "ours": {
            "chunk": round(stats.seconds["chunk"], 2),
            "embed": round(stats.seconds["embed"], 2),
            # Store upsert + catalog rows with their FTS5 entries, in each document's transaction.
            "index": round(stats.seconds["write"], 2),
            "total": round(ours_total, 2),
        },
        "langchain": {k: round(v, 2) for k, v in theirs.items()},
    }


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("langchain-core", "langchain-community", "langchain-classic", "rank-bm25"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def print_table(report: Mapping[str, Any]) -> None:
    print(
        f"SciFact test, {report['queries']} queries, {report['chunks']} chunks, same MiniLM vectors"
    )
    print(f"{'system':<70}{'nDCG@10':>9}{'R@100':>8}{'p50 ms':>9}{'p95 ms':>9}")
    for row in report["rows"]:
        print(
            f"{row['system']:<70}{row['ndcg@10']:>9.3f}{row['recall@100']:>8.3f}"
            f"{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
        )
    add = report["add_documents"]
    print(f"adding {add['documents']} documents ({add['chunks']} chunks), seconds:")
    for who in ("ours", "langchain"):
        v = add[who]
        print(
            f"  {who:<10} chunk {v['chunk']:.2f}  embed {v['embed']:.2f}  "
            f"index update {v['index']:.2f}  total {v['total']:.2f}"
        )
    for name, value in report["ratios"].items():
        print(f"  {name}: {value}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__)
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "beir" / "scifact")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--queries", type=int, default=0, help="first N test queries (0 = all)")
    parser.add_argument("--add", type=int, default=100, help="documents to add in the update test")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    settings = Settings(data_dir=args.workdir)
    report = run(args.data, args.workdir, settings, n_queries=args.queries, n_new=args.add)
    report["machine"] = machine()
    report["command"] = command_line("bench.peer", argv)
    return publish(report, out=args.out, as_json=args.json, print_table=print_table)


if __name__ == "__main__":
    raise SystemExit(main())
