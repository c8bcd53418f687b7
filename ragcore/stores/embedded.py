"""The embedded vector store: qdrant-client's local mode in a folder, no server to run."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from qdrant_client import QdrantClient, models

from ragcore.errors import CollectionMissing, StoreUnavailable
from ragcore.stores import _common
from ragcore.stores.base import DenseQuery, DenseResult
from ragcore.types import Fusion, Point, ScoredPoint

_FUSION = {Fusion.RRF: models.Fusion.RRF, Fusion.DBSF: models.Fusion.DBSF}
_DISTANCE = {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT}
_DISTANCE_NAME = {v: k for k, v in _DISTANCE.items()}

# What qdrant-client's local mode says when another client holds the folder's lock.
_HELD_ELSEWHERE = "already accessed by another instance"


class EmbeddedStore:
    """One collection of named dense vectors (cosine) in a folder, fused queries in-process.

    The folder admits one process at a time: the app owns it and runs ingestion as a thread,
    so every call here holds a lock (local mode is not thread-safe). The folder opens on
    first use.

    Example::

        store = EmbeddedStore(Path("data/vectors"))
        store.ensure_collection({"text": 384, "image": 512})
        store.upsert(points)
        result = store.query(DenseQuery([QueryLeg("text", vector, 50)], fusion=Fusion.RRF, limit=20))
    """

    backend = "embedded"

    def __init__(
        self, path: Path, *, collection: str = "docqa", batch_size: int = _common.BATCH_SIZE
    ) -> None:
        if not collection:
            raise ValueError("collection must be a non-empty name")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self.path = Path(path)
        self.collection = collection
        self._batch_size = batch_size
        self._dims: dict[str, int] | None = None
        # Local mode admits one client per folder, and is not thread-safe: hence a lock.
        self._shared: _common.SharedClient[QdrantClient] = _common.SharedClient(threading.RLock())
        self._lock = self._shared.lock

    # ── opening ────────────────────────────────────────────────────

    def _client(self) -> QdrantClient:
        if self._shared.client is None:
            self.path.mkdir(parents=True, exist_ok=True)
            try:
                self._shared.client = QdrantClient(path=str(self.path))
            except RuntimeError as exc:
                if _HELD_ELSEWHERE in str(exc):
                    raise StoreUnavailable(
                        f"The document store at {self.path} is open in another process "
                        "(is the app running?). Stop it, or use server mode."
                    ) from exc
                raise
        return self._shared.client

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The folder's lock, with a collection dropped under this view turned into ours."""
        with self._lock:
            try:
                yield
            except ValueError as exc:
                # Local mode's words for a collection that is gone (another view dropped it).
                if str(exc) != f"Collection {self.collection} not found":
                    raise
                raise CollectionMissing(
                    f"the collection {self.collection!r} at {self.path} was dropped while in use"
                ) from exc

    def _existing_dims(self) -> dict[str, int]:
        vectors = self._client().get_collection(self.collection).config.params.vectors
        if isinstance(vectors, models.VectorParams):
            # A collection with one unnamed vector is not ours; report it as such.
            return {"(unnamed)": vectors.size}
        spaces = vectors or {}
        return {name: params.size for name, params in spaces.items()}

    def _spaces(self) -> dict[str, int] | None:
        """The collection's spaces, or None while it does not exist."""
        if self._dims is None and self._client().collection_exists(self.collection):
            self._dims = self._existing_dims()
        return self._dims

    def _require_spaces(self) -> dict[str, int]:
        dims = self._spaces()
        if dims is None:
            raise _common.not_created(self.collection)
        return dims

    # ── the Protocol ───────────────────────────────────────────────

    def ensure_collection(
        self, dims: Mapping[str, int], distances: Mapping[str, str] | None = None
    ) -> None:
        wanted = _common.check_dims(dims)
        metric = _common.check_distances(wanted, distances)
        with self._locked():
            client = self._client()
            if not client.collection_exists(self.collection):
                client.create_collection(
                    self.collection,
                    vectors_config={
                        name: models.VectorParams(size=size, distance=_DISTANCE[metric[name]])
                        for name, size in wanted.items()
                    },
                )
                # No payload index on doc_id: local mode scans payloads and ignores indexes.
            else:
                _common.check_schema(
                    self.collection,
                    str(self.path),
                    self._existing_dims(),
                    wanted,
                    self._existing_distances,
                    metric,
                )
            self._dims = wanted

    def _existing_distances(self) -> dict[str, str]:
        vectors = self._client().get_collection(self.collection).config.params.vectors
        if not isinstance(vectors, dict):
            return {}
        return {
            name: _DISTANCE_NAME.get(p.distance, str(p.distance)) for name, p in vectors.items()
        }

    def distances(self) -> dict[str, str]:
        """Each space's distance as the collection was created ({} while it does not exist)."""
        with self._locked():
            if self._spaces() is None:
                return {}
            return self._existing_distances()

    def with_collection(self, name: str) -> EmbeddedStore:
        view = EmbeddedStore(self.path, collection=name, batch_size=self._batch_size)
        view._shared = self._shared
        view._lock = self._shared.lock
        return view

    def drop_collection(self) -> None:
        with self._locked():
            client = self._client()
            if client.collection_exists(self.collection):
                client.delete_collection(self.collection)
            self._dims = None

    def _records(self, doc_id: str | None, *, with_vectors: bool) -> Iterator[models.Record]:
        """Every point (of ``doc_id``), a page at a time."""
        only = _doc_filter([doc_id]) if doc_id is not None else None

        def page(
            offset: models.ExtendedPointId | None,
        ) -> tuple[list[models.Record], models.ExtendedPointId | None] | None:
            with self._locked():
                if self._spaces() is None:
                    return None
                return self._client().scroll(
                    self.collection,
                    scroll_filter=only,
                    limit=self._batch_size,
                    offset=offset,
                    with_payload=True,
                    with_vectors=with_vectors,
                )

        return _common.paged(page)

    def scroll_points(self, doc_id: str | None = None) -> Iterator[Point]:
        return _common.stored(self._records(doc_id, with_vectors=True), lambda r: r.vector)

    def upsert(self, points: Sequence[Point]) -> None:
        if not points:
            return
        with self._locked():
            _common.check_points(points, self._require_spaces())
            client = self._client()
            _commit_without_fsync(client, self.collection)
            for batch in _common.batches(points, self._batch_size):
                client.upsert(
                    self.collection,
                    points=[
                        models.PointStruct(id=p.id, vector=dict(p.vectors), payload=p.payload)
                        for p in batch
                    ],
                    wait=True,
                )

    def delete_document(self, doc_id: str) -> None:
        with self._locked():
            if self._spaces() is None:
                return
            _commit_without_fsync(self._client(), self.collection)
            self._client().delete(
                self.collection,
                points_selector=models.FilterSelector(filter=_doc_filter([doc_id])),
                wait=True,
            )

    def count(self, doc_id: str | None = None) -> int:
        with self._locked():
            if self._spaces() is None:
                return 0
            only = _doc_filter([doc_id]) if doc_id is not None else None
            return self._client().count(self.collection, count_filter=only, exact=True).count

    def capacity_left(self) -> int | None:
        return None

    def scroll(self, doc_id: str | None = None) -> Iterator[ScoredPoint]:
        return _common.listed(self._records(doc_id, with_vectors=False))

    def query(self, request: DenseQuery) -> DenseResult:
        def send(
            searches: Sequence[_common.Search],
            doc_ids: Sequence[str] | None,
            collection: int | None,
        ) -> list[list[ScoredPoint]]:
            only = _query_filter(doc_ids, collection)
            requests = [_request(search, only) for search in searches]
            responses = self._client().query_batch_points(self.collection, requests=requests)
            return [_common.scored(r.points) for r in responses]

        with self._locked():
            return _common.dense_query(request, self._spaces(), send)

    def close(self) -> None:
        """Close the folder (for every view of it: they share one client)."""
        with self._lock:
            if self._shared.client is not None:
                self._shared.client.close()
                self._shared.client = None
            self._dims = None


def _commit_without_fsync(client: QdrantClient, collection: str) -> None:
    """Put the collection's SQLite file in WAL mode with ``synchronous = NORMAL``, as the catalog is.

    Local mode commits every point on its own, and in SQLite's default mode each commit waits
    for the disk: 2,000 points took 8.8 s to upsert, 0.8 s like this (the whole ingestion
    write stage of the shared PDFs). A process crash loses nothing; a power cut may lose the
    last commits, as for the catalog, and `ingest check --repair` re-queues what went missing.
    Local mode's internals are not an API: where they are not as expected this does nothing.
    """
    local = getattr(client, "_client", None)
    storage = getattr(getattr(local, "collections", {}).get(collection), "storage", None)
    connection = getattr(storage, "storage", None)
    if isinstance(connection, sqlite3.Connection) and not connection.in_transaction:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")


def _doc_filter(doc_ids: Sequence[str]) -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(doc_ids)))]
    )


def _query_filter(doc_ids: Sequence[str] | None, collection: int | None) -> models.Filter | None:
    must: list[models.Condition] = []
    if doc_ids is not None:
        must.append(models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(doc_ids))))
    if collection is not None:
        # The payload's "collections" is a list: a point matches when any element does.
        must.append(
            models.FieldCondition(key="collections", match=models.MatchAny(any=[collection]))
        )
    return models.Filter(must=must) if must else None


def _request(search: _common.Search, only: models.Filter | None) -> models.QueryRequest:
    if isinstance(search, _common.LegSearch):
        leg = search.leg
        return models.QueryRequest(
            query=list(leg.vector),
            using=leg.space,
            filter=only,
            limit=search.limit,
            with_payload=True,
        )
    return models.QueryRequest(
        prefetch=[
            models.Prefetch(query=list(leg.vector), using=leg.space, limit=leg.limit, filter=only)
            for leg in search.legs
        ],
        query=models.FusionQuery(fusion=_FUSION[search.fusion]),
        filter=only,
        limit=search.limit,
        with_payload=True,
    )
