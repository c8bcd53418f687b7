"""What model spaces need from both stores: views of other collections, vectors back, drop, dot."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragcore.errors import SchemaMismatch
from ragcore.stores import DenseQuery, QueryLeg, VectorStore
from ragcore.stores.embedded import EmbeddedStore
from ragcore.stores.vectorai import VectorAIStore
from ragcore.types import Fusion, Point, point_id
from tests.vectorai_server import ContractServer


@pytest.fixture(params=["embedded", "vectorai"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    server = ContractServer().start() if request.param == "vectorai" else None
    opened: VectorStore
    if server is None:
        opened = EmbeddedStore(tmp_path / "vectors", collection="old")
    else:
        opened = VectorAIStore(server.url, collection="old", startup_timeout=5, capacity=None)
    yield opened
    opened.close()
    if server is not None:
        server.stop()


def point(doc: str, n: int, text: list[float], image: list[float] | None = None) -> Point:
    vectors = {"text": text} | ({"image": image} if image is not None else {})
    return Point(point_id(doc, n), vectors, {"doc_id": doc, "chunk_no": n, "text": f"{doc} {n}"})


def test_views_share_the_connection_and_see_their_own_collection(store: VectorStore) -> None:
    store.ensure_collection({"text": 3, "image": 2})
    store.upsert([point("a", 0, [1, 0, 0], [0.6, 0.8]), point("a", 1, [0, 1, 0])])
    new = store.with_collection("new")
    assert new.count() == 0  # a collection that does not exist yet holds nothing
    new.ensure_collection({"text": 4, "image": 2})
    new.upsert([point("a", 0, [0, 0, 0, 1], [0.6, 0.8])])
    assert (store.count(), new.count()) == (2, 1)
    copied = {p.id: p for p in store.scroll_points()}
    assert copied[point_id("a", 0)].vectors["image"] == pytest.approx([0.6, 0.8])
    assert copied[point_id("a", 0)].payload["text"] == "a 0"
    assert set(copied[point_id("a", 1)].vectors) == {"text"}
    assert [p.id for p in store.scroll_points("a")] and not list(store.scroll_points("zzz"))

    new.drop_collection()
    assert new.count() == 0 and not list(new.scroll_points())
    new.drop_collection()  # dropping a missing collection is fine
    assert store.count() == 2  # the other collection is untouched


def test_a_dot_space_ranks_by_raw_dot_product(store: VectorStore) -> None:
    store.ensure_collection({"text": 2}, {"text": "dot"})
    long_off_axis = [3.0, 3.0]  # cosine 0.71 with the query, dot 3.0
    short_on_axis = [1.0, 0.0]  # cosine 1.0, dot 1.0
    store.upsert([point("a", 0, long_off_axis), point("a", 1, short_on_axis)])
    hits = store.query(
        DenseQuery([QueryLeg("text", [1.0, 0.0], 2)], fusion=Fusion.RRF, limit=2)
    ).fused
    assert [h.id for h in hits] == [point_id("a", 0), point_id("a", 1)]
    assert hits[0].score == pytest.approx(3.0)
    assert store.distances() == {"text": "dot"}
    with pytest.raises(SchemaMismatch, match="text=dot"):
        store.ensure_collection({"text": 2})


def test_a_cosine_space_is_the_default(store: VectorStore) -> None:
    store.ensure_collection({"text": 2})
    store.upsert([point("a", 0, [3.0, 3.0]), point("a", 1, [1.0, 0.0])])
    hits = store.query(
        DenseQuery([QueryLeg("text", [1.0, 0.0], 2)], fusion=Fusion.RRF, limit=2)
    ).fused
    assert hits[0].id == point_id("a", 1)
    assert hits[1].score == pytest.approx(1 / math.sqrt(2), rel=1e-4)
