"""Both vector stores against one contract: embedded (qdrant local) and VectorAI (real SDK, contract server)."""

from __future__ import annotations

import math
import os
import random
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import grpc
import pytest
from actian_vectorai import Fusion as SdkFusion
from actian_vectorai import PrefetchQuery, SparseVector, VectorAIClient, VectorAIError
from actian_vectorai import config as sdk_config
from actian_vectorai.proto import actian_vectorai_collections_pb2 as col_pb
from actian_vectorai.proto import actian_vectorai_collections_service_pb2_grpc as col_grpc
from actian_vectorai.proto import actian_vectorai_common_pb2 as common_pb
from actian_vectorai.proto import actian_vectorai_points_pb2 as pts_pb
from actian_vectorai.proto import actian_vectorai_points_service_pb2_grpc as pts_grpc

from ragcore.errors import (
    CapacityExceeded,
    CollectionMissing,
    SchemaMismatch,
    StoreUnavailable,
)
from ragcore.stores import DenseQuery, QueryLeg, VectorStore
from ragcore.stores.embedded import EmbeddedStore
from ragcore.stores.vectorai import VectorAIStore
from ragcore.types import Fusion, Point, ScoredPoint, point_id
from tests.vectorai_server import ContractServer

DIMS = {"text": 8, "image": 6}
Opener = Callable[[], VectorStore]


# ─── fixtures and builders ──────────────────────────────────────────────────


def unit(rng: random.Random, size: int) -> list[float]:
    vector = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def basis(i: int, size: int) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(size)]


def make_point(
    doc_id: str,
    chunk_no: int,
    *,
    text: list[float] | None = None,
    image: list[float] | None = None,
    body: str = "",
) -> Point:
    vectors = {name: v for name, v in (("text", text), ("image", image)) if v is not None}
    return Point(
        id=point_id(doc_id, chunk_no),
        vectors=vectors,
        payload={
            "doc_id": doc_id,
            "file_name": f"{doc_id}.pdf",
            "page": 1 + chunk_no // 3,
            "chunk_no": chunk_no,
            "kind": "image" if text is None else "text",
            "text": body or f"chunk {chunk_no} of {doc_id}",
            "start": 0,
            "end": 10,
            "strategy": "recursive",
        },
    )


def corpus(seed: int, n: int = 60) -> list[Point]:
    """Seeded random normalised vectors over five documents; some points lack a space."""
    rng = random.Random(seed)
    points = []
    for i in range(n):
        doc = "abcde"[i % 5]
        text = unit(rng, DIMS["text"]) if i % 7 != 3 else None
        image = unit(rng, DIMS["image"]) if i % 4 != 1 or text is None else None
        points.append(make_point(doc, i, text=text, image=image))
    return points


def ids(points: list[ScoredPoint]) -> list[str]:
    return [p.id for p in points]


def descending(points: list[ScoredPoint]) -> bool:
    return all(a.score >= b.score for a, b in pairwise(points))


@pytest.fixture(params=["embedded", "vectorai"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores over one location: a folder, or a contract server's collection."""
    server = ContractServer().start() if request.param == "vectorai" else None
    opened: list[VectorStore] = []

    def open_one() -> VectorStore:
        store: VectorStore
        if server is None:
            store = EmbeddedStore(tmp_path / "vectors", collection="test")
        else:
            store = VectorAIStore(server.url, collection="test", startup_timeout=5)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()
    if server is not None:
        server.stop()


@pytest.fixture
def store(opener: Opener) -> VectorStore:
    opened = opener()
    opened.ensure_collection(DIMS)
    return opened


@pytest.fixture
def server() -> Iterator[ContractServer]:
    with ContractServer() as running:
        yield running


# ─── the contract, on both backends ─────────────────────────────────────────


def test_ensure_collection_is_idempotent_and_keeps_data(opener: Opener) -> None:
    first = opener()
    first.ensure_collection(DIMS)
    first.ensure_collection(DIMS)
    first.upsert(corpus(seed=1, n=10))
    first.close()

    again = opener()
    again.ensure_collection(DIMS)
    assert again.count() == 10


def test_ensure_collection_refuses_other_sizes_naming_both(opener: Opener) -> None:
    first = opener()
    first.ensure_collection(DIMS)
    first.close()

    other = opener()
    with pytest.raises(SchemaMismatch) as refused:
        other.ensure_collection({"text": 8, "image": 7})
    assert "image=6" in str(refused.value)
    assert "image=7" in str(refused.value)
    with pytest.raises(SchemaMismatch, match="text=8"):
        other.ensure_collection({"text": 8})


def test_ensure_collection_refuses_another_distance_naming_both(opener: Opener) -> None:
    first = opener()
    first.ensure_collection(DIMS, {"text": "dot"})
    first.close()

    with pytest.raises(SchemaMismatch) as refused:
        opener().ensure_collection(DIMS)
    message = str(refused.value)
    assert "compares vectors by image=cosine, text=dot" in message
    assert "the models in use need image=cosine, text=cosine" in message
    assert "python -m ingest reembed" in message


def test_before_ensure_collection_the_store_reads_as_empty(opener: Opener) -> None:
    fresh = opener()
    assert fresh.count() == 0
    assert list(fresh.scroll()) == []
    fresh.delete_document("nothing")
    leg = QueryLeg("text", basis(0, 8), limit=5)
    assert fresh.query(DenseQuery([leg], fusion=Fusion.RRF, limit=5)).fused == []
    with pytest.raises(RuntimeError, match="ensure_collection"):
        fresh.upsert(corpus(seed=1, n=1))


def test_a_collection_dropped_by_another_view_says_so(store: VectorStore) -> None:
    store.upsert(corpus(seed=1, n=3))
    assert store.count() == 3
    # A model switch drops the retired space's collection through a view of its own.
    store.with_collection("test").drop_collection()
    leg = QueryLeg("text", basis(0, 8), limit=5)
    with pytest.raises(CollectionMissing, match="'test'"):
        store.query(DenseQuery([leg], fusion=Fusion.RRF, limit=5))
    with pytest.raises(CollectionMissing):
        store.upsert(corpus(seed=2, n=1))


def test_upsert_count_and_scroll(store: VectorStore) -> None:
    points = [make_point("a", i, text=basis(i, 8), image=basis(i, 6)) for i in range(3)]
    points += [make_point("b", i, text=basis(i + 3, 8)) for i in range(2)]
    store.upsert(points)

    assert store.count() == 5
    assert store.count("a") == 3
    assert store.count("missing") == 0
    scrolled = list(store.scroll("a"))
    assert sorted(ids(scrolled)) == sorted(p.id for p in points[:3])
    assert all(p.score == 0.0 for p in scrolled)
    by_id = {p.id: p.payload for p in store.scroll()}
    assert by_id[points[4].id]["text"] == "chunk 1 of b"
    assert by_id[points[4].id]["page"] == 1
    assert by_id[points[0].id]["doc_id"] == "a"


def test_upsert_in_batches_and_scroll_every_page(store: VectorStore) -> None:
    rng = random.Random(3)
    points = [make_point("big", i, text=unit(rng, 8)) for i in range(260)]  # > one batch
    store.upsert(points)
    assert store.count() == 260
    scrolled = ids(list(store.scroll()))
    assert len(scrolled) == 260
    assert set(scrolled) == {p.id for p in points}


def test_upsert_refuses_vectors_the_collection_cannot_hold(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="expects 8"):
        store.upsert([make_point("a", 0, text=[1.0, 0.0])])
    with pytest.raises(ValueError, match="no vector"):
        store.upsert([make_point("a", 0)])
    odd = Point(id=point_id("a", 0), vectors={"audio": [1.0]}, payload={"doc_id": "a"})
    with pytest.raises(ValueError, match="audio"):
        store.upsert([odd])
    with pytest.raises(ValueError, match="UUID"):
        store.upsert([Point(id="chunk-1", vectors={"text": basis(0, 8)}, payload={})])
    assert store.count() == 0


def test_same_ids_overwrite_instead_of_duplicating(store: VectorStore) -> None:
    store.upsert([make_point("a", i, text=basis(i, 8), body="old") for i in range(4)])
    store.upsert([make_point("a", i, text=basis(i, 8), body="new") for i in range(4)])
    assert store.count() == 4
    assert {p.payload["text"] for p in store.scroll()} == {"new"}


def test_delete_document_removes_only_that_document_and_is_idempotent(
    store: VectorStore,
) -> None:
    points = corpus(seed=2, n=20)
    store.upsert(points)
    in_a = [p.id for p in points if p.payload["doc_id"] == "a"]

    store.delete_document("a")
    store.delete_document("a")
    store.delete_document("never-existed")

    assert store.count("a") == 0
    assert store.count() == 20 - len(in_a)
    assert not set(in_a) & set(ids(list(store.scroll())))
    target = next(p for p in points if p.payload["doc_id"] == "a" and "text" in p.vectors)
    hits = store.query(
        DenseQuery([QueryLeg("text", target.vectors["text"], 20)], fusion=Fusion.RRF, limit=20)
    )
    assert not set(in_a) & set(ids(hits.fused))


def test_single_leg_returns_nearest_first(store: VectorStore) -> None:
    points = corpus(seed=4, n=40)
    store.upsert(points)
    target = next(p for p in points if "text" in p.vectors)

    result = store.query(
        DenseQuery([QueryLeg("text", target.vectors["text"], 10)], fusion=Fusion.RRF, limit=5)
    )

    assert len(result.fused) == 5
    assert result.fused[0].id == target.id
    assert result.fused[0].score == pytest.approx(1.0, abs=1e-5)
    assert result.fused[0].payload["doc_id"] == target.payload["doc_id"]
    assert descending(result.fused)
    with_text = {p.id for p in points if "text" in p.vectors}
    assert set(ids(result.fused)) <= with_text
    assert result.legs == {}


@pytest.mark.parametrize("fusion", [Fusion.RRF, Fusion.DBSF])
def test_two_legs_are_fused_by_the_store(store: VectorStore, fusion: Fusion) -> None:
    points = corpus(seed=5, n=40)
    store.upsert(points)
    target = next(p for p in points if len(p.vectors) == 2)
    legs = [
        QueryLeg("text", target.vectors["text"], 10),
        QueryLeg("image", target.vectors["image"], 10),
    ]

    result = store.query(DenseQuery(legs, fusion=fusion, limit=6, with_legs=True))

    assert len(result.fused) == 6
    assert result.fused[0].id == target.id  # first in both legs, so first fused
    assert descending(result.fused)
    in_legs = {p.id for leg in result.legs.values() for p in leg}
    assert set(ids(result.fused)) <= in_legs
    plain = store.query(DenseQuery(legs, fusion=fusion, limit=6))
    assert ids(plain.fused) == ids(result.fused)
    assert plain.legs == {}


def test_rrf_and_dbsf_rank_differently_on_the_same_legs(store: VectorStore) -> None:
    store.upsert(corpus(seed=6, n=60))
    rng = random.Random(9)
    legs = [QueryLeg("text", unit(rng, 8), 30), QueryLeg("image", unit(rng, 6), 30)]
    rrf = store.query(DenseQuery(legs, fusion=Fusion.RRF, limit=20))
    dbsf = store.query(DenseQuery(legs, fusion=Fusion.DBSF, limit=20))
    assert [p.score for p in rrf.fused] != [p.score for p in dbsf.fused]


def test_with_legs_returns_each_legs_own_ranking(store: VectorStore) -> None:
    store.upsert(corpus(seed=7, n=60))
    rng = random.Random(1)
    text, image = QueryLeg("text", unit(rng, 8), 12), QueryLeg("image", unit(rng, 6), 9)

    result = store.query(DenseQuery([text, image], fusion=Fusion.RRF, limit=5, with_legs=True))

    assert set(result.legs) == {"text", "image"}
    assert len(result.legs["text"]) == 12
    assert len(result.legs["image"]) == 9
    alone = store.query(DenseQuery([text], fusion=Fusion.RRF, limit=12))
    assert ids(result.legs["text"]) == ids(alone.fused)
    assert [p.score for p in result.legs["text"]] == pytest.approx([p.score for p in alone.fused])
    assert descending(result.legs["image"])


def test_with_legs_on_a_single_leg_gives_the_whole_leg(store: VectorStore) -> None:
    store.upsert(corpus(seed=8, n=30))
    leg = QueryLeg("image", unit(random.Random(2), 6), 10)
    result = store.query(DenseQuery([leg], fusion=Fusion.DBSF, limit=4, with_legs=True))
    assert len(result.legs["image"]) == 10
    assert ids(result.fused) == ids(result.legs["image"])[:4]


def test_doc_ids_filter_applies_to_every_leg(store: VectorStore) -> None:
    points = corpus(seed=9, n=60)
    store.upsert(points)
    target = next(p for p in points if len(p.vectors) == 2 and p.payload["doc_id"] == "a")
    legs = [
        QueryLeg("text", target.vectors["text"], 20),
        QueryLeg("image", target.vectors["image"], 20),
    ]

    result = store.query(
        DenseQuery(legs, fusion=Fusion.RRF, limit=10, doc_ids=["b", "c"], with_legs=True)
    )

    every = result.fused + result.legs["text"] + result.legs["image"]
    assert every
    assert {p.payload["doc_id"] for p in every} <= {"b", "c"}
    assert target.id not in ids(every)
    nothing = store.query(DenseQuery(legs, fusion=Fusion.RRF, limit=10, doc_ids=[], with_legs=True))
    assert nothing.fused == []
    assert nothing.legs == {"text": [], "image": []}


def test_points_may_lack_a_space(store: VectorStore) -> None:
    text_only = make_point("a", 0, text=basis(0, 8))
    image_only = make_point("a", 1, image=basis(0, 6))
    both = make_point("b", 0, text=basis(1, 8), image=basis(1, 6))
    store.upsert([text_only, image_only, both])
    assert store.count() == 3

    legs = [QueryLeg("text", basis(0, 8), 10), QueryLeg("image", basis(0, 6), 10)]
    result = store.query(DenseQuery(legs, fusion=Fusion.RRF, limit=10, with_legs=True))

    assert set(ids(result.legs["text"])) == {text_only.id, both.id}
    assert set(ids(result.legs["image"])) == {image_only.id, both.id}
    assert set(ids(result.fused)) == {text_only.id, image_only.id, both.id}


def test_query_refuses_what_it_cannot_answer(store: VectorStore) -> None:
    leg = QueryLeg("text", basis(0, 8), 5)
    with pytest.raises(ValueError, match="at least one leg"):
        store.query(DenseQuery([], fusion=Fusion.RRF, limit=5))
    with pytest.raises(ValueError, match="different space"):
        store.query(DenseQuery([leg, leg], fusion=Fusion.RRF, limit=5))
    with pytest.raises(ValueError, match="limit must be > 0"):
        store.query(DenseQuery([leg], fusion=Fusion.RRF, limit=0))
    with pytest.raises(ValueError, match="expects 6"):
        store.query(DenseQuery([QueryLeg("image", basis(0, 8), 5)], fusion=Fusion.RRF, limit=5))


def test_capacity_is_reported_by_vectorai_only(store: VectorStore) -> None:
    store.upsert([make_point("a", 0, text=basis(0, 8), image=basis(0, 6))])
    left = store.capacity_left()
    if store.backend == "embedded":
        assert left is None
    else:
        assert left == 5000 - 2  # the free tier counts vectors, two for this point


# ─── both backends agree ────────────────────────────────────────────────────


def test_both_backends_return_the_same_hits_in_the_same_order(
    tmp_path: Path, server: ContractServer
) -> None:
    points = corpus(seed=42, n=60)
    embedded = EmbeddedStore(tmp_path / "vectors", collection="same")
    vectorai = VectorAIStore(server.url, collection="same", startup_timeout=5)
    try:
        for backend in (embedded, vectorai):
            backend.ensure_collection(DIMS)
            backend.upsert(points)
        assert sorted(ids(list(embedded.scroll()))) == sorted(ids(list(vectorai.scroll())))

        rng = random.Random(2024)
        compared = 0
        for _ in range(5):
            text = QueryLeg("text", unit(rng, 8), 15)
            image = QueryLeg("image", unit(rng, 6), 15)
            for legs in ([text], [image], [text, image]):
                for fusion in (Fusion.RRF, Fusion.DBSF):
                    for doc_ids in (None, ["a", "d"]):
                        a = embedded.query(
                            DenseQuery(
                                legs, fusion=fusion, limit=10, doc_ids=doc_ids, with_legs=True
                            )
                        )
                        b = vectorai.query(
                            DenseQuery(
                                legs, fusion=fusion, limit=10, doc_ids=doc_ids, with_legs=True
                            )
                        )
                        assert ids(a.fused) == ids(b.fused)
                        assert [p.score for p in a.fused] == pytest.approx(
                            [p.score for p in b.fused], abs=1e-5
                        )
                        assert [p.payload for p in a.fused] == [p.payload for p in b.fused]
                        assert {k: ids(v) for k, v in a.legs.items()} == {
                            k: ids(v) for k, v in b.legs.items()
                        }
                        compared += 1
        assert compared == 5 * 3 * 2 * 2
    finally:
        embedded.close()
        vectorai.close()


# ─── embedded only ──────────────────────────────────────────────────────────


def test_embedded_store_held_by_another_client_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "vectors"
    owner = EmbeddedStore(folder)
    owner.ensure_collection(DIMS)
    second = EmbeddedStore(folder)
    try:
        with pytest.raises(StoreUnavailable) as refused:
            second.count()
        message = str(refused.value)
        assert str(folder) in message
        assert "open in another process" in message
        assert "server mode" in message
    finally:
        second.close()
        owner.close()


def test_embedded_store_commits_without_waiting_for_the_disk_and_keeps_its_points(
    tmp_path: Path,
) -> None:
    """WAL with synchronous=NORMAL, as the catalog: a commit per point no longer waits on fsync."""
    folder = tmp_path / "vectors"
    rng = random.Random(3)
    points = [
        Point(id=point_id("d", i), vectors={"text": unit(rng, 8)}, payload={"doc_id": "d"})
        for i in range(20)
    ]
    store = EmbeddedStore(folder, collection="wal")
    store.ensure_collection({"text": 8})
    store.upsert(points)
    store.delete_document("gone")
    store.close()
    (database,) = folder.rglob("storage.sqlite")
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened = EmbeddedStore(folder, collection="wal")
    try:
        assert reopened.count("d") == 20
    finally:
        reopened.close()


# ─── VectorAI only: startup, capacity, credentials ──────────────────────────


def test_vectorai_waits_while_engine_not_initialized() -> None:
    with ContractServer(not_ready_checks=3) as server:
        store = VectorAIStore(server.url, collection="t", startup_timeout=10)
        try:
            store.ensure_collection(DIMS)
            assert store.count() == 0
        finally:
            store.close()
        assert server.refused_health_checks == 3
        assert server.health_checks == 4  # ready at the fourth, then no more waiting


def test_vectorai_startup_timeout_names_the_server_and_the_last_error() -> None:
    with ContractServer(not_ready_checks=10**6) as server:
        url = server.url
        store = VectorAIStore(url, collection="t", startup_timeout=0.4)
        started = time.monotonic()
        try:
            with pytest.raises(StoreUnavailable) as refused:
                store.ensure_collection(DIMS)
        finally:
            store.close()
        elapsed = time.monotonic() - started
    message = str(refused.value)
    assert f"VectorAI DB at {url} did not become ready within 0.4 s" in message
    assert "not initialized" in message.lower()
    assert server.refused_health_checks >= 3  # it backed off and tried again
    assert elapsed < 3


def test_vectorai_unreachable_server_times_out_plainly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"127.0.0.1:{port}"  # nothing listens here any more
    store = VectorAIStore(url, collection="t", startup_timeout=0.3)
    try:
        with pytest.raises(StoreUnavailable, match=f"at {url} did not become ready within 0.3 s"):
            store.count()
    finally:
        store.close()


def test_vectorai_capacity_exceeded_is_refused_before_writing(server: ContractServer) -> None:
    store = VectorAIStore(server.url, collection="t", capacity=12)
    neighbour = VectorAIStore(server.url, collection="other", capacity=12)
    try:
        store.ensure_collection(DIMS)
        first = [make_point("a", i, text=basis(i, 8), image=basis(i, 6)) for i in range(5)]
        store.upsert(first)
        assert store.capacity_left() == 2

        upserts = server.calls.count("Upsert")
        more = [make_point("b", i, text=basis(i, 8), image=basis(i, 6)) for i in range(2)]
        with pytest.raises(CapacityExceeded) as refused:
            store.upsert(more)
        assert "room for 2 more vectors" in str(refused.value)
        assert "needs 4" in str(refused.value)
        assert server.calls.count("Upsert") == upserts  # nothing was sent
        assert store.count() == 5

        store.upsert(first)  # overwriting needs no new room
        store.upsert([make_point("c", 0, text=basis(0, 8))])
        assert store.count() == 6
        assert store.capacity_left() == 1

        # The limit spans every collection on the server.
        neighbour.ensure_collection({"text": 8})
        with pytest.raises(CapacityExceeded):
            neighbour.upsert([make_point("n", i, text=basis(i, 8)) for i in range(2)])
        neighbour.upsert([make_point("n", 0, text=basis(0, 8))])
        assert store.capacity_left() == 0
    finally:
        store.close()
        neighbour.close()


def test_vectorai_server_side_capacity_error_becomes_capacity_exceeded() -> None:
    with ContractServer(capacity=4) as server:
        store = VectorAIStore(server.url, collection="t", capacity=None)
        try:
            store.ensure_collection(DIMS)
            three = [make_point("a", i, text=basis(i, 8), image=basis(i, 6)) for i in range(3)]
            with pytest.raises(CapacityExceeded, match="is full"):
                store.upsert(three)
            assert store.count() == 0
            assert store.capacity_left() is None
        finally:
            store.close()


def test_contract_server_past_its_limit_answers_only_deletes(server: ContractServer) -> None:
    store = VectorAIStore(server.url, collection="t", capacity=None)
    try:
        store.ensure_collection(DIMS)
        store.upsert([make_point("a", i, text=basis(i, 8)) for i in range(3)])
        server.capacity = 2  # as if the licence shrank under 3 stored vectors
        with pytest.raises(CapacityExceeded, match="3 vectors stored, limit is 2"):
            store.count()
        store.delete_document("a")
        assert store.count() == 0
    finally:
        store.close()


def test_vectorai_flushes_after_delete(server: ContractServer) -> None:
    store = VectorAIStore(server.url, collection="t")
    try:
        store.ensure_collection(DIMS)
        store.upsert([make_point("a", 0, text=basis(0, 8))])
        store.delete_document("a")
        assert server.calls[-2:] == ["Delete", "Flush"]
    finally:
        store.close()


def test_vectorai_query_with_legs_is_one_round_trip(server: ContractServer) -> None:
    store = VectorAIStore(server.url, collection="t")
    try:
        store.ensure_collection(DIMS)
        store.upsert(corpus(seed=3, n=20))
        legs = [QueryLeg("text", basis(0, 8), 5), QueryLeg("image", basis(0, 6), 5)]
        before = len(server.calls)
        store.query(DenseQuery(legs, fusion=Fusion.RRF, limit=5, with_legs=True))
        assert server.calls[before:] == ["QueryBatch"]
        before = len(server.calls)
        store.query(DenseQuery(legs, fusion=Fusion.RRF, limit=5))
        assert server.calls[before:] == ["Query"]
    finally:
        store.close()


def test_vectorai_sends_the_api_key_it_is_given() -> None:
    with ContractServer(api_key="s3cret") as server:
        store = VectorAIStore(server.url, collection="t", api_key="s3cret")
        wrong = VectorAIStore(server.url, collection="t", api_key="guess", startup_timeout=5)
        try:
            store.ensure_collection(DIMS)
            assert set(server.api_keys_seen) == {"s3cret"}
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="refused the API key"):
                wrong.count()
            assert time.monotonic() - started < 2  # a wrong key is not waited on
        finally:
            store.close()
            wrong.close()


def test_vectorai_ignores_a_dotenv_in_the_working_directory(
    server: ContractServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "ACTIAN_VECTORAI_API_KEY=from-dotenv\nACTIAN_VECTORAI_TIMEOUT=0.001\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACTIAN_VECTORAI_API_KEY", raising=False)
    monkeypatch.delenv("ACTIAN_VECTORAI_TIMEOUT", raising=False)
    monkeypatch.setattr(sdk_config, "_dotenv_loaded", False)  # as in a fresh process
    store = VectorAIStore(server.url, collection="t")
    try:
        store.ensure_collection(DIMS)
    finally:
        store.close()
    assert "ACTIAN_VECTORAI_API_KEY" not in os.environ
    assert set(server.api_keys_seen) == {None}


# ─── the contract server refuses what the real server refuses ───────────────


def _sparse_upsert() -> pts_pb.UpsertPoints:
    vector = pts_pb.Vector(sparse=pts_pb.SparseVector(indices=[3], values=[0.5]))
    point = pts_pb.PointStruct(id=common_pb.PointId(num=1))
    point.vectors.vectors.vectors["text"].CopyFrom(vector)
    return pts_pb.UpsertPoints(collection_name="t", points=[point])


def _nearest(space: str = "text") -> pts_pb.QueryPoints:
    request = pts_pb.QueryPoints(collection_name="t", limit=5, using=space)
    request.query.nearest.dense.data.extend(basis(0, 8))
    return request


def _with_offset() -> pts_pb.QueryPoints:
    request = _nearest()
    request.offset = 5
    return request


def _sparse_prefetch() -> pts_pb.QueryPoints:
    request = pts_pb.QueryPoints(collection_name="t", limit=5)
    request.query.fusion = pts_pb.RRF
    prefetch = request.prefetch.add(using="text", limit=5)
    prefetch.query.nearest.sparse.CopyFrom(pts_pb.SparseVector(indices=[1], values=[1.0]))
    return request


def _params_on_named_space() -> pts_pb.QueryPoints:
    request = _nearest()
    request.params.hnsw_ef = 128
    return request


def _order_by_query() -> pts_pb.QueryPoints:
    request = pts_pb.QueryPoints(collection_name="t", limit=5)
    request.query.order_by.key = "page"
    return request


def _upsert_with_wait() -> pts_pb.UpsertPoints:
    point = pts_pb.PointStruct(id=common_pb.PointId(num=1))
    point.vectors.vectors.vectors["text"].dense.data.extend(basis(0, 8))
    return pts_pb.UpsertPoints(collection_name="t", points=[point], wait=True)


def _exact_count() -> pts_pb.CountPoints:
    return pts_pb.CountPoints(collection_name="t", exact=True)


def _batch_with_offset() -> pts_pb.QueryBatchPoints:
    return pts_pb.QueryBatchPoints(collection_name="t", query_points=[_nearest(), _with_offset()])


REFUSED_POINT_REQUESTS: dict[str, tuple[str, Callable[[], object], str]] = {
    "sparse upsert": ("Upsert", _sparse_upsert, "sparse"),
    "query offset": ("Query", _with_offset, "QueryPoints.offset"),
    "sparse prefetch": ("Query", _sparse_prefetch, "sparse"),
    "params on a named space": ("Query", _params_on_named_space, "QueryPoints.params"),
    "order_by query": ("Query", _order_by_query, "QueryPoints.query.order_by"),
    "wait on a write": ("Upsert", _upsert_with_wait, "UpsertPoints.wait"),
    "exact count": ("Count", _exact_count, "CountPoints.exact"),
    "offset inside a batch": ("QueryBatch", _batch_with_offset, "QueryPoints.offset"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_POINT_REQUESTS))
def test_contract_server_refuses_what_the_real_server_refuses(
    server: ContractServer, case: str
) -> None:
    setup = VectorAIStore(server.url, collection="t")
    setup.ensure_collection(DIMS)
    setup.close()
    method, build, field = REFUSED_POINT_REQUESTS[case]
    with grpc.insecure_channel(server.url) as channel:
        stub = pts_grpc.PointsStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            getattr(stub, method)(build())
        count = stub.Count(pts_pb.CountPoints(collection_name="t")).result.count
    error = refused.value
    assert error.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INVALID_ARGUMENT)
    assert field in error.details()
    assert count == 0  # nothing was written


def test_contract_server_refuses_a_sparse_collection(server: ContractServer) -> None:
    request = col_pb.CreateCollection(collection_name="sparse")
    request.vectors_config.params_map.map["text"].CopyFrom(
        col_pb.VectorParams(size=8, distance=col_pb.Cosine)
    )
    request.sparse_vectors_config.map["bm25"].SetInParent()
    with grpc.insecure_channel(server.url) as channel:
        stub = col_grpc.CollectionsStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Create(request)
        exists = stub.CollectionExists(col_pb.CollectionExistsRequest(collection_name="sparse"))
    error = refused.value
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "sparse_vectors_config" in error.details()
    assert not exists.result.exists


def test_contract_server_refuses_the_prefetch_the_sdk_empties(server: ContractServer) -> None:
    # VECTORAI.md: the SDK drops a SparseVector prefetch query without error; the server
    # then gets a prefetch with no query, which it must not answer as if it were a search.
    setup = VectorAIStore(server.url, collection="t")
    setup.ensure_collection(DIMS)
    setup.close()
    client = VectorAIClient(server.url, api_key="", access_token="", timeout=5.0)
    with client, pytest.raises(VectorAIError, match="no query"):
        client.points.query(
            "t",
            prefetch=[PrefetchQuery(query=SparseVector(indices=[1], values=[1.0]), using="text")],
            query={"fusion": SdkFusion.RRF},
            limit=5,
        )
