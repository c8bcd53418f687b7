"""Server mode through the real VectorAI SDK against the in-process contract server.

The same ingestion and retrieval give the same hits, in the same order, on both backends;
several worker processes share one queue without doing any job twice.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.service import build_worker
from ragcore import collections, library
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.runtime import Runtime
from ragcore.scope import Scope
from ragcore.spaces import SpaceRouter
from ragcore.stores.vectorai import VectorAIStore
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Fusion, Strategy
from tests.vectorai_server import ContractServer

TOPICS = ["lighthouse", "glacier", "orchard", "volcano", "harbour", "meadow", "canyon", "reef"]
QUERIES = [
    "lighthouse lamp",
    "glacier ice melting",
    "apple orchard harvest",
    "harbour ships",
    "reef fish",
]


def _corpus(root: Path) -> list[Path]:
    paths = []
    for i, topic in enumerate(TOPICS):
        path = root / f"{topic}.txt"
        other = TOPICS[(i + 3) % len(TOPICS)]
        path.write_text(
            f"The {topic} report. Visitors to the {topic} saw something new in year {2000 + i}. "
            f"A short note compares the {topic} with the {other}. " * 3
        )
        paths.append(path)
    return paths


def use_store(rt: Runtime, store: VectorAIStore) -> None:
    """The runtime's model spaces over ``store``, one of its collections on the test server."""
    rt._spaces = SpaceRouter(store, rt.catalog, rt.models, default_collection=store.collection)


def _runtime(backend: str, root: Path, server: ContractServer | None) -> Runtime:
    rt = make_runtime(root / backend, text=HashingEmbedder(dim=128))
    if backend == "vectorai":
        assert server is not None
        use_store(rt, VectorAIStore(server.url, collection="same_hits", capacity=None))
    return rt


@pytest.fixture(scope="module")
def server() -> Iterator[ContractServer]:
    with ContractServer() as running:
        yield running


@pytest.fixture(scope="module")
def runtimes(
    tmp_path_factory: pytest.TempPathFactory, server: ContractServer
) -> Iterator[dict[str, Runtime]]:
    root = tmp_path_factory.mktemp("both")
    files = _corpus(root)
    out = {}
    for backend in ("embedded", "vectorai"):
        rt = _runtime(backend, root, server)
        for path in files:
            library.add_file(
                rt.catalog, rt.settings.uploads_dir, path, ChunkingParams(Strategy.SENTENCE, 40, 0)
            )
        build_worker(rt).run_until_idle()
        out[backend] = rt
    yield out
    for rt in out.values():
        rt.close()


@pytest.mark.parametrize("fusion", [Fusion.RRF, Fusion.DBSF])
@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_vectorai_and_embedded_return_the_same_hits(
    runtimes: dict[str, Runtime], mode: str, fusion: Fusion
) -> None:
    config = RetrievalConfig(mode=mode, fusion=fusion, rerank=False, top_k=8)
    for query in QUERIES:
        results = {
            name: Retriever(rt.catalog, rt.store, rt.models).run(query, config)
            for name, rt in runtimes.items()
        }
        ids = {name: [h.point_id for h in r.hits] for name, r in results.items()}
        assert ids["embedded"] == ids["vectorai"], query
        assert ids["embedded"], query


def test_vectorai_counts_filters_and_delete(runtimes: dict[str, Runtime]) -> None:
    rt = runtimes["vectorai"]
    docs = {d.name: d for d in rt.catalog.list_documents()}
    assert rt.store.count() == len(rt.catalog.chunks())
    keep = [docs["reef.txt"].id]
    config = RetrievalConfig(mode="hybrid", rerank=False, top_k=10)
    hits = (
        Retriever(rt.catalog, rt.store, rt.models)
        .run("lighthouse", config, scope=Scope(doc_ids=tuple(keep)))
        .hits
    )
    assert hits and {h.file_name for h in hits} == {"reef.txt"}


def test_vectorai_filters_a_collection_inside_its_query(runtimes: dict[str, Runtime]) -> None:
    """The payload's collection ids, rewritten on a move, filter every leg on the server too."""
    found = {}
    for name, rt in runtimes.items():
        docs = {d.name: d.id for d in rt.catalog.list_documents()}
        coast = rt.catalog.ensure_collection("Coast")
        collections.add_documents(
            rt.catalog, rt.store, coast, [docs["reef.txt"], docs["harbour.txt"]]
        )
        config = RetrievalConfig(mode="dense", rerank=False, top_k=10)
        retriever = Retriever(rt.catalog, rt.store, rt.models)
        hits = retriever.run("glacier lighthouse", config, scope=Scope(collection=coast.id)).hits
        found[name] = [h.point_id for h in hits]
        assert {h.file_name for h in hits} == {"reef.txt", "harbour.txt"}, name
        collections.remove_documents(rt.catalog, rt.store, coast, [docs["harbour.txt"]])
        hits = retriever.run("harbour ships", config, scope=Scope(collection=coast.id)).hits
        assert {h.file_name for h in hits} == {"reef.txt"}, name
        collections.delete_collection(rt.catalog, rt.store, "Coast")
    assert found["embedded"] == found["vectorai"]


def test_vectorai_document_that_does_not_fit_fails_cleanly(
    tmp_path: Path, server: ContractServer
) -> None:
    rt = make_runtime(tmp_path / "data", text=HashingEmbedder(dim=32))
    use_store(rt, VectorAIStore(server.url, collection="tiny_capacity", capacity=None))
    small = tmp_path / "small.txt"
    small.write_text("One short sentence about kestrels.")
    library.add_file(rt.catalog, rt.settings.uploads_dir, small, ChunkingParams())
    build_worker(rt).run_until_idle()
    used = rt.store.count()
    # Same server, now with a limit just above what is stored: a long document cannot fit.
    rt.store.close()
    limited = VectorAIStore(
        server.url, collection="tiny_capacity", capacity=server_total(server) + 2
    )
    use_store(rt, limited)
    big = tmp_path / "big.txt"
    big.write_text(
        " ".join(f"Sentence number {i} about falcons and their nests." for i in range(200))
    )
    added = library.add_file(
        rt.catalog, rt.settings.uploads_dir, big, ChunkingParams(Strategy.SENTENCE, 20, 0)
    )
    outcome = build_worker(rt).run_until_idle()[0]
    assert not outcome.ok and outcome.error and "room" in outcome.error
    doc = rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "failed" and "5,000" in (doc.error or "")
    assert rt.store.count() == used  # nothing of it was written
    assert rt.catalog.chunks(added.document.id) == []
    rt.close()


def server_total(server: ContractServer) -> int:
    probe = VectorAIStore(server.url, collection="probe_unused", capacity=10**9)
    total = 10**9 - (probe.capacity_left() or 0)
    probe.close()
    return total


def _worker_process(data_dir: str, url: str, collection: str, out_file: str) -> None:
    rt = make_runtime(Path(data_dir), text=HashingEmbedder(dim=64))
    use_store(rt, VectorAIStore(url, collection=collection, capacity=None))
    worker = build_worker(rt)
    done = [o.job_id for o in worker.run_until_idle()]
    Path(out_file).write_text(json.dumps(done))
    rt.close()


@pytest.mark.integration
def test_vectorai_two_worker_processes_never_run_a_job_twice(
    tmp_path: Path, server: ContractServer
) -> None:
    data = tmp_path / "shared-data"
    rt = make_runtime(data, text=HashingEmbedder(dim=64))
    use_store(rt, VectorAIStore(server.url, collection="two_workers", capacity=None))
    for i in range(16):
        path = tmp_path / f"note{i}.txt"
        path.write_text(f"Note {i}: the heron number {i} nests by the river. " * 4)
        library.add_file(rt.catalog, rt.settings.uploads_dir, path, ChunkingParams())
    ctx = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"w{i}.json" for i in range(2)]
    procs = [
        ctx.Process(target=_worker_process, args=(str(data), server.url, "two_workers", str(out)))
        for out in outs
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    done = [json.loads(o.read_text()) for o in outs]
    everything = done[0] + done[1]
    assert len(everything) == len(set(everything)) == 16
    assert all(d.status == "ready" for d in rt.catalog.list_documents())
    assert rt.store.count() == len(rt.catalog.chunks())
    rt.close()
