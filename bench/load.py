"""Users asking and workers ingesting at once, per catalog backend: `python -m bench.load`.

    python -m bench.load --users 1,2,4,8 --workers 0,1,2,4 --seconds 20
    python -m bench.load --catalog-url postgresql://postgres@127.0.0.1:PORT/postgres

What is measured is the catalog (SQLite file or PostgreSQL): each user is a process running
questions through the app's ``Retriever`` (BM25 in the catalog, dense in the store) and each
worker is a process running the app's ingestion ``Worker`` (job claims, chunk writes). Both
embed with the hashing fake, so neither waits on a model; one reference cell embeds with the
configured real model. The vector side is the embedded store, identical across backends: each
process has its own copy (the embedded store admits one process; the VectorAI contract server
lives under tests/, which a bench does not import), so the workers' vectors are not searched.
On PostgreSQL the run uses fresh databases on the server the URL names, dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import random
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from queue import Empty
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.common import (
    bench_models,
    command_line,
    default_workdir,
    log,
    machine,
    publish,
    shared_data_dir,
)
from ingest.batch import ingest_texts
from ingest.chunking import split_sentences
from ingest.service import build_worker
from ragcore.catalog.backend import CatalogBackend
from ragcore.catalog.factory import open_catalog
from ragcore.evaluation import load_beir
from ragcore.evaluation.load import (
    Cell,
    CpuTimes,
    ScalePoint,
    latency_summary,
    project,
)
from ragcore.library import add_bytes
from ragcore.models.loader import Models
from ragcore.retrieval import Retriever
from ragcore.retrieval_config import RetrievalConfig
from ragcore.runtime import Runtime, open_files
from ragcore.settings import Settings
from ragcore.stores import open_store
from ragcore.testing.embedders import HashingEmbedder
from ragcore.types import ChunkingParams, Strategy

DIM = 384  # MiniLM's width: the dense search costs what the app's does
COLLECTION = "load"
PARAMS = ChunkingParams(Strategy.RECURSIVE, 200, 20)
ABSTRACTS_PER_DOC = 4  # a worker's document: four SciFact abstracts, about 6 chunks
SCALE_SENTENCES = 8  # a scale-step paragraph: eight random SciFact sentences
SCALE_WORDS = 170  # a paragraph's words: one chunk each, near the chunker's 200-token limit
SCALE_CHUNKS_PER_DOC = 20  # a 10-page PDF's worth: one transaction writes many chunks
SCALE_QUERIES = 100
START_SECONDS = 120.0  # for every process to import, open its catalog and warm up


# ── backends ───────────────────────────────────────────────────────


@dataclass(frozen=True)
class Target:
    """One catalog to run against: an empty URL (SQLite file at ``path``) or a PostgreSQL one."""

    url: str
    path: Path

    @property
    def backend(self) -> str:
        return "postgresql" if self.url else "sqlite"

    def open(self, pool_size: int = 4) -> CatalogBackend:
        return open_catalog(self.url, path=self.path, pool_size=pool_size)


@contextlib.contextmanager
def fresh_target(server_url: str, folder: Path) -> Iterator[Target]:
    """An empty catalog: a new SQLite file in ``folder``, or a new database on the server
    ``server_url`` names (dropped afterwards, connections and all)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if not server_url:
        yield Target("", folder / "catalog.sqlite3")
        return
    import psycopg

    name = f"docqa_load_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    try:
        yield Target(urlunsplit(parts._replace(path=f"/{name}")), folder / "unused.sqlite3")
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def catalog_bytes(target: Target) -> int:
    """The catalog's size on disk: the SQLite file (and its WAL), or every table of the
    PostgreSQL database with its indexes and TOAST."""
    if not target.url:
        return sum(
            p.stat().st_size for p in target.path.parent.glob(target.path.name + "*") if p.is_file()
        )
    import psycopg

    with psycopg.connect(target.url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
    return int(row[0]) if row else 0


def analyze(target: Target) -> None:
    """Refresh PostgreSQL's planner statistics after a bulk load, as autovacuum soon would: a
    fresh table's default estimates choose other plans for the BM25 query than a served one."""
    if not target.url:
        return
    import psycopg

    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("ANALYZE")


class LockSampler:
    """PostgreSQL's view of contention over a window: backends waiting on a lock, and running."""

    def __init__(self, target: Target) -> None:
        self.samples: list[tuple[int, int]] = []
        self._conn: Any = None
        if target.url:
            import psycopg

            self._conn = psycopg.connect(target.url, autocommit=True)

    def sample(self) -> None:
        if self._conn is None:
            return
        row = self._conn.execute(
            "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), "
            "count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
        self.samples.append((int(row[0]), int(row[1])))

    def means(self) -> tuple[float, float]:
        if not self.samples:
            return math.nan, math.nan
        return (
            round(statistics.fmean(s[0] for s in self.samples), 2),
            round(statistics.fmean(s[1] for s in self.samples), 2),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# ── texts ──────────────────────────────────────────────────────────


def fake_models(cache_dir: Path) -> Models:
    return Models(
        text_model=HashingEmbedder(dim=DIM),
        image_model=None,
        reranker_model=None,
        cache_dir=cache_dir,
    )


def worker_documents(abstracts: Sequence[str], tag: str, n: int, seed: int) -> list[bytes]:
    """``n`` distinct text files, each a few abstracts (distinct content: distinct documents)."""
    rng = random.Random(seed)
    return [
        (
            f"Load document {tag}-{i}.\n\n"
            + "\n\n".join(rng.choice(abstracts) for _ in range(ABSTRACTS_PER_DOC))
        ).encode("utf-8")
        for i in range(n)
    ]


def scale_documents(
    sentences: Sequence[str], chunks: int, seed: int = 11
) -> list[tuple[str, str, str]]:
    """About ``chunks`` chunks of random SciFact sentences (a real vocabulary at any size), as
    documents of SCALE_CHUNKS_PER_DOC paragraphs, each paragraph about one chunk."""
    rng = random.Random(seed)
    out = []
    for i in range(max(1, round(chunks / SCALE_CHUNKS_PER_DOC))):
        paragraphs = []
        for _ in range(SCALE_CHUNKS_PER_DOC):
            words = " ".join(rng.choice(sentences) for _ in range(SCALE_SENTENCES)).split()
            paragraphs.append(" ".join(words[:SCALE_WORDS]))
        out.append((f"scale-{i:08d}", f"scale-{i}.txt", "\n\n".join(paragraphs)))
    return out


class TimedWrites:
    """The catalog, with the time spent in ``replace_chunks`` (chunk rows, keyword index and
    corpus statistics in one transaction) added up: the catalog's own cost per chunk."""

    def __init__(self, inner: CatalogBackend) -> None:
        self._inner = inner
        self.seconds = 0.0
        self.chunks = 0

    def replace_chunks(self, doc_id: str, chunks: Sequence[Any], **kwargs: Any) -> None:
        t0 = time.perf_counter()
        self._inner.replace_chunks(doc_id, chunks, **kwargs)
        self.seconds += time.perf_counter() - t0
        self.chunks += len(chunks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# ── the processes ──────────────────────────────────────────────────


@dataclass(frozen=True)
class Signals:
    """What the main process and its children share: ready/results queues and two events."""

    ready: Any
    results: Any
    go: Event
    stop: Event


def user_loop(
    target: Target, store_path: Path, questions: Sequence[str], seconds: float, s: Signals
) -> None:
    """One user: questions in turn through the app's Retriever until ``seconds`` have passed."""
    catalog = target.open(pool_size=2)
    store = open_store("embedded", path=store_path, collection=COLLECTION)
    retriever = Retriever(catalog, store, fake_models(store_path.parent / "models"))
    config = RetrievalConfig(rerank=False, use_image_leg=False)
    retriever.run(questions[0], config)  # opens the store and the connections
    start = random.Random(os.getpid()).randrange(len(questions))
    s.ready.put(os.getpid())
    s.go.wait()
    latencies: list[float] = []
    bm25: list[float] = []
    deadline = time.monotonic() + seconds
    i = start
    while time.monotonic() < deadline and not s.stop.is_set():
        t0 = time.perf_counter()
        result = retriever.run(questions[i % len(questions)], config)
        latencies.append((time.perf_counter() - t0) * 1000)
        bm25.append(result.timings.get("bm25", math.nan))
        i += 1
    s.results.put({"latencies": latencies, "bm25": bm25})
    store.close()
    catalog.close()


def worker_loop(target: Target, data_dir: Path, real: bool, s: Signals) -> None:
    """One ingestion worker, the app's: claims jobs from the catalog until told to stop."""
    settings = Settings(
        data_dir=data_dir,
        local_llm=False,
        image_model="",
        reranker_model="",
        parse_sandbox=False,  # a child process per file would be measured, not the catalog
        worker_poll_seconds=0.05,
        collection=COLLECTION,
    )
    catalog = target.open(pool_size=2)
    models = bench_models(settings, reranker=False) if real else fake_models(data_dir / "models")
    if real:
        models.text.embed_passages(["warm up"])
    rt = Runtime(settings=settings, catalog=catalog, models=models)
    # The small-files worker: no SQLite backups and no re-embedding inside the window.
    worker = build_worker(rt, worker_id=f"load-{os.getpid()}", small_files_only=True)
    s.ready.put(os.getpid())
    s.go.wait()
    worker.run_forever(s.stop)  # type: ignore[arg-type]  # a process Event works the same
    rt.close()


# ── one cell ───────────────────────────────────────────────────────


def run_cell(
    target: Target,
    workdir: Path,
    *,
    users: int,
    workers: int,
    seconds: float,
    docs: Sequence[bytes],
    questions: Sequence[str],
    real: bool = False,
) -> Cell:
    """Queue ``docs``, start the processes, let them run ``seconds`` together, count."""
    ctx = multiprocessing.get_context("spawn")
    s = Signals(ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event())
    catalog = target.open()
    files = open_files(Settings(data_dir=workdir / "main"), catalog)
    before_ids = {d.id for d in catalog.list_documents()}
    for i, blob in enumerate(docs if workers else ()):
        add_bytes(catalog, files, f"load-{i}.txt", [blob], PARAMS)
    procs = [
        ctx.Process(
            target=user_loop,
            args=(target, workdir / f"vectors-user-{u}" / "vectors", questions, seconds, s),
        )
        for u in range(users)
    ] + [
        ctx.Process(target=worker_loop, args=(target, workdir / f"worker-{w}", real, s))
        for w in range(workers)
    ]
    sampler = LockSampler(target)
    try:
        for p in procs:
            p.start()
        _wait_ready(procs, s.ready)
        chunks_before = catalog.counts()["chunks"]
        cpu_before = CpuTimes.read()
        s.go.set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            sampler.sample()
            time.sleep(0.25)
        elapsed = time.monotonic() - t0
        counts = catalog.counts()
        cpu_busy = cpu_before.busy_share(CpuTimes.read())
        s.stop.set()
        results = [s.results.get(timeout=60) for _ in range(users)]
    finally:
        s.stop.set()
        s.go.set()
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)
        sampler.close()
    latencies = [x for r in results for x in r["latencies"]]
    bm25 = [x for r in results for x in r["bm25"] if not math.isnan(x)]
    p50, p95 = latency_summary(latencies)
    b50, b95 = latency_summary(bm25)
    waiters, active = sampler.means()
    added = counts["chunks"] - chunks_before
    cell = Cell(
        backend=target.backend,
        users=users,
        workers=workers,
        embedder="real" if real else "hashing",
        seconds=round(elapsed, 1),
        questions=len(latencies),
        questions_per_second=round(len(latencies) / elapsed, 2),
        p50_ms=p50,
        p95_ms=p95,
        bm25_p50_ms=b50,
        bm25_p95_ms=b95,
        chunks=added,
        chunks_per_second=round(added / elapsed, 1),
        queue_left=counts["jobs_queued"] + counts["jobs_running"],
        cpu_busy=round(cpu_busy, 2),
        load_average=round(os.getloadavg()[0], 2),
        lock_waiters=waiters,
        active_backends=active,
    )
    _forget_new_documents(catalog, files, before_ids)
    files.close()
    catalog.close()
    for w in range(workers):
        shutil.rmtree(workdir / f"worker-{w}", ignore_errors=True)
    return cell


def _wait_ready(procs: Sequence[Any], ready: Any) -> None:
    """Until every process said it is ready; a process that died first (an import error, a
    catalog it cannot open) ends the cell at once, naming its exit code."""
    deadline = time.monotonic() + START_SECONDS
    waiting = len(procs)
    while waiting:
        with contextlib.suppress(Empty):
            ready.get(timeout=0.5)
            waiting -= 1
            continue
        dead = [p.exitcode for p in procs if p.exitcode is not None]
        if dead:
            raise RuntimeError(f"a benchmark process exited before it was ready: codes {dead}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{waiting} processes not ready after {START_SECONDS:.0f} s")


def _forget_new_documents(catalog: CatalogBackend, files: Any, keep: set[str]) -> None:
    """Delete what a cell's workers ingested, so every cell searches the same corpus."""
    for doc in catalog.list_documents():
        if doc.id in keep:
            continue
        catalog.cancel_jobs(doc.id)
        catalog.delete_document(doc.id)
        with contextlib.suppress(OSError, ValueError):
            files.delete(doc.path)


# ── the run ────────────────────────────────────────────────────────


def build_corpus(
    target: Target, workdir: Path, corpus: Sequence[tuple[str, str, str]], users: int
) -> dict[str, object]:
    """The users' library: ``corpus`` in the catalog and an embedded store, one copy per user."""
    catalog = TimedWrites(target.open())
    base = workdir / "vectors-base"
    store = open_store("embedded", path=base, collection=COLLECTION)
    started = time.perf_counter()
    stats = ingest_texts(
        catalog,  # type: ignore[arg-type]  # the timing wrapper forwards everything else
        store,
        fake_models(workdir / "models"),
        corpus,
        PARAMS,
        batch_size=512,
    )
    store.close()
    analyze(target)
    for u in range(users):
        dest = workdir / f"vectors-user-{u}" / "vectors"
        shutil.rmtree(dest.parent, ignore_errors=True)
        shutil.copytree(base, dest)
    catalog.close()
    return {
        "documents": stats.documents,
        "chunks": stats.chunks,
        "seconds": round(time.perf_counter() - started, 1),
        "write_ms_per_chunk": round(catalog.seconds * 1000 / max(catalog.chunks, 1), 3),
        "bytes": catalog_bytes(target),
    }


def measure_scale(
    server_url: str, workdir: Path, sizes: Sequence[int], sentences: Sequence[str],
    questions: Sequence[str],
) -> list[ScalePoint]:  # fmt: skip
    """At each corpus size, on a fresh catalog: write cost, one user's BM25 time, bytes/chunk."""
    points = []
    for size in sizes:
        with fresh_target(server_url, workdir / f"scale-{size}") as target:
            docs = scale_documents(sentences, size)
            log(f"load: scale {target.backend} {size} chunks")
            catalog = TimedWrites(target.open())
            store = open_store(
                "embedded", path=workdir / f"scale-{size}" / "vectors", collection="s"
            )
            models = Models(
                text_model=HashingEmbedder(dim=8),  # the store is not what is measured here
                image_model=None,
                reranker_model=None,
                cache_dir=workdir / "models",
            )
            ingest_texts(catalog, store, models, docs, PARAMS, batch_size=2000)  # type: ignore[arg-type]
            store.close()
            analyze(target)
            times = []
            for q in questions[:SCALE_QUERIES]:
                t0 = time.perf_counter()
                catalog.bm25_search(q, limit=100)
                times.append((time.perf_counter() - t0) * 1000)
            n = catalog.counts()["chunks"]
            catalog.close()
            p50, p95 = latency_summary(times)
            points.append(
                ScalePoint(
                    backend=target.backend,
                    chunks=n,
                    mean_chunk_chars=round(sum(len(d[2]) for d in docs) / max(n, 1), 0),
                    write_ms_per_chunk=round(catalog.seconds * 1000 / max(catalog.chunks, 1), 3),
                    bm25_p50_ms=p50,
                    bm25_p95_ms=p95,
                    bytes_per_chunk=round(catalog_bytes(target) / max(n, 1), 0),
                )
            )
        shutil.rmtree(workdir / f"scale-{size}", ignore_errors=True)
    return points


def run(
    *,
    server_url: str,
    workdir: Path,
    users: Sequence[int],
    workers: Sequence[int],
    seconds: float,
    docs: int,
    corpus_docs: int,
    data: Path,
    scale_sizes: Sequence[int],
    real_model: bool,
) -> dict[str, Any]:
    dataset = load_beir(data, "test")
    abstracts = [f"{d.title}\n{d.text}" for d in dataset.corpus.values()]
    questions = list(dataset.queries.values())
    corpus = [
        (f"scifact-{doc_id}", f"{doc_id}.txt", f"{d.title}\n{d.text}")
        for doc_id, d in list(dataset.corpus.items())[:corpus_docs]
    ]
    backend = "postgresql" if server_url else "sqlite"
    report: dict[str, Any] = {"backend": backend, "corpus": {}, "cells": []}
    if any(users) or any(workers):
        with fresh_target(server_url, workdir / "run") as target:
            log(f"load: {backend}: building the users' corpus ({len(corpus)} documents)")
            report["corpus"] = build_corpus(target, workdir / "run", corpus, max(users, default=0))
            for n, m in [(n, m) for m in workers for n in users if n or m]:
                tag = f"{n}u{m}w-{uuid.uuid4().hex[:6]}"
                cell = run_cell(
                    target,
                    workdir / "run",
                    users=n,
                    workers=m,
                    seconds=seconds,
                    docs=worker_documents(abstracts, tag, docs * m, seed=n * 10 + m),
                    questions=questions,
                )
                log(f"load: {_line(cell)}")
                report["cells"].append(asdict(cell))
    if real_model:
        # A catalog of its own: the hashing workers' chunks name their model's space, and a
        # worker with another model would refuse to add to it.
        with fresh_target(server_url, workdir / "real") as target:
            cell = run_cell(
                target,
                workdir / "real",
                users=0,
                workers=1,
                seconds=seconds,
                docs=worker_documents(abstracts, f"real-{uuid.uuid4().hex[:6]}", docs, seed=99),
                questions=questions,
                real=True,
            )
            log(f"load: {_line(cell)}")
            report["cells"].append(asdict(cell))
    points = measure_scale(server_url, workdir, scale_sizes, _sentences(abstracts), questions)
    report["scale"] = [asdict(p) for p in points]
    rates = {
        f"{c['workers']}x{c['embedder']}": c["chunks_per_second"]
        for c in report["cells"]
        if c["workers"] and c["users"] in (0, min(u for u in users if u) if any(users) else 0)
    }
    if len(points) >= 2:
        report["projection"] = asdict(project(points, rates))
    return report


def _sentences(abstracts: Sequence[str]) -> list[str]:
    return [t[a:b] for t in abstracts for a, b in split_sentences(t) if b - a > 20]


def _line(c: Cell) -> str:
    return (
        f"{c.backend} users={c.users} workers={c.workers} ({c.embedder}): "
        f"{c.questions_per_second} q/s p50 {c.p50_ms} p95 {c.p95_ms} ms (bm25 p50 "
        f"{c.bm25_p50_ms}), {c.chunks_per_second} chunks/s, cpu {c.cpu_busy:.0%}, "
        f"lock waiters {c.lock_waiters}, queue left {c.queue_left}"
    )


# ── output ─────────────────────────────────────────────────────────


def print_table(report: Mapping[str, Any]) -> None:
    print(f"# bench.load — {report['backend']} catalog")
    print(report.get("command", ""))
    corpus = report["corpus"]
    if corpus:
        print(
            f"Users' corpus: {corpus['documents']} documents, {corpus['chunks']} chunks; "
            f"catalog write {corpus['write_ms_per_chunk']} ms/chunk; {corpus['bytes']} bytes"
        )
    print()
    print(
        "| users | workers | embedder | q/s | p50 ms | p95 ms | bm25 p50 / p95 ms | chunks/s "
        "| queue left | CPU busy | load | PG lock waiters / active |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in report["cells"]:
        pg = (
            "n/a"
            if isinstance(c["lock_waiters"], float) and math.isnan(c["lock_waiters"])
            else f"{c['lock_waiters']} / {c['active_backends']}"
        )
        print(
            f"| {c['users']} | {c['workers']} | {c['embedder']} | {c['questions_per_second']} "
            f"| {c['p50_ms']} | {c['p95_ms']} | {c['bm25_p50_ms']} / {c['bm25_p95_ms']} "
            f"| {c['chunks_per_second']} | {c['queue_left']} | {c['cpu_busy']:.0%} "
            f"| {c['load_average']} | {pg} |"
        )
    if report.get("scale"):
        print()
        print("| chunks | chars/chunk | write ms/chunk | bm25 p50 / p95 ms | bytes/chunk |")
        print("|---|---|---|---|---|")
        for p in report["scale"]:
            print(
                f"| {p['chunks']} | {p['mean_chunk_chars']:.0f} | {p['write_ms_per_chunk']} "
                f"| {p['bm25_p50_ms']} / {p['bm25_p95_ms']} | {p['bytes_per_chunk']:.0f} |"
            )
    if report.get("projection"):
        print()
        print(f"10M chunks (extrapolated): {report['projection']}")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument(
        "--catalog-url",
        default="",
        help="a PostgreSQL server (postgresql://...): fresh databases are made there and "
        "dropped; empty (the default): SQLite files under --workdir",
    )
    parser.add_argument("--users", default="1,2,4,8", help="question loops at once, e.g. 1,2,4")
    parser.add_argument("--workers", default="0,1,2,4", help="ingesting workers at once")
    parser.add_argument("--seconds", type=float, default=20.0, help="each cell's window")
    parser.add_argument("--docs", type=int, default=150, help="documents queued per worker")
    parser.add_argument("--corpus-docs", type=int, default=5183, help="SciFact abstracts searched")
    parser.add_argument("--scale", default="5000,50000", help="corpus sizes for per-chunk costs")
    parser.add_argument("--real-model", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "beir" / "scifact")
    parser.add_argument("--workdir", type=Path, default=default_workdir() / "load")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", type=Path, help="also write the report there")
    args = parser.parse_args(argv)
    users, workers = _ints(args.users), _ints(args.workers)
    if any(x < 0 for x in users + workers) or args.seconds <= 0:
        parser.error("--users and --workers take counts >= 0, --seconds a positive time")
    report = run(
        server_url=args.catalog_url,
        workdir=args.workdir,
        users=users,
        workers=workers,
        seconds=args.seconds,
        docs=args.docs,
        corpus_docs=args.corpus_docs,
        data=args.data,
        scale_sizes=_ints(args.scale),
        real_model=args.real_model,
    )
    report["machine"] = machine()
    report["command"] = command_line("bench.load", argv)
    return publish(report, out=args.out, as_json=args.json, print_table=print_table)


if __name__ == "__main__":
    raise SystemExit(main())
