"""The embedded vector store: qdrant-client's local mode in a folder, no server to run."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from qdrant_client import QdrantClient, models

from ragcore.errors import StoreUnavailable
from ragcore.stores import _common
from ragcore.stores.base import DenseResult, QueryLeg
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
        result = store.query([QueryLeg("text", vector, limit=50)], fusion=Fusion.RRF, limit=20)
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
        # The folder's one client and its lock, shared with every view from with_collection().
        self._shared = _Folder()
        self._lock = self._shared.lock

    # ── opening ────────────────────────────────────────────────────

    @property
    def _engine(self) -> QdrantClient | None:
        return self._shared.client

    @_engine.setter
    def _engine(self, client: QdrantClient | None) -> None:
        self._shared.client = client

    def _client(self) -> QdrantClient:
        if self._engine is None:
            self.path.mkdir(parents=True, exist_ok=True)
            try:
                self._engine = QdrantClient(path=str(self.path))
            except RuntimeError as exc:
                if _HELD_ELSEWHERE in str(exc):
                    raise StoreUnavailable(
                        f"The document store at {self.path} is open in another process "
                        "(is the app running?). Stop it, or use server mode."
                    ) from exc
                raise
        return self._engine

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
            raise RuntimeError(
                f"the collection {self.collection!r} does not exist yet: "
                "call ensure_collection(dims) first"
            )
        return dims

    # ── the Protocol ───────────────────────────────────────────────

    def ensure_collection(
        self, dims: Mapping[str, int], distances: Mapping[str, str] | None = None
    ) -> None:
        wanted = _common.check_dims(dims)
        metric = _common.check_distances(wanted, distances)
        with self._lock:
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
                existing = self._existing_dims()
                if existing != wanted:
                    raise _common.schema_mismatch(self.collection, str(self.path), existing, wanted)
                existing_metric = self._existing_distances()
                if existing_metric != metric:
                    raise _common.distance_mismatch(
                        self.collection, str(self.path), existing_metric, metric
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
        with self._lock:
            if self._spaces() is None:
                return {}
            return self._existing_distances()

    def with_collection(self, name: str) -> EmbeddedStore:
        view = EmbeddedStore(self.path, collection=name, batch_size=self._batch_size)
        view._shared = self._shared
        view._lock = self._shared.lock
        return view

    def drop_collection(self) -> None:
        with self._lock:
            client = self._client()
            if client.collection_exists(self.collection):
                client.delete_collection(self.collection)
            self._dims = None

    def _records(self, doc_id: str | None, *, with_vectors: bool) -> Iterator[models.Record]:
        """Every point (of ``doc_id``), a page at a time."""
        only = _doc_filter([doc_id]) if doc_id is not None else None
        offset: models.ExtendedPointId | None = None
        while True:
            # The lock is held per page, not across the caller's loop.
            with self._lock:
                if self._spaces() is None:
                    return
                records, offset = self._client().scroll(
                    self.collection,
                    scroll_filter=only,
                    limit=self._batch_size,
                    offset=offset,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
            yield from records
            if offset is None:
                return

    def scroll_points(self, doc_id: str | None = None) -> Iterator[Point]:
        for record in self._records(doc_id, with_vectors=True):
            vectors = record.vector if isinstance(record.vector, dict) else {}
            yield Point(
                id=str(record.id),
                vectors={k: list(v) for k, v in vectors.items()},  # type: ignore[arg-type]
                payload=dict(record.payload or {}),
            )

    def upsert(self, points: Sequence[Point]) -> None:
        if not points:
            return
        with self._lock:
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
        with self._lock:
            if self._spaces() is None:
                return
            _commit_without_fsync(self._client(), self.collection)
            self._client().delete(
                self.collection,
                points_selector=models.FilterSelector(filter=_doc_filter([doc_id])),
                wait=True,
            )

    def count(self, doc_id: str | None = None) -> int:
        with self._lock:
            if self._spaces() is None:
                return 0
            only = _doc_filter([doc_id]) if doc_id is not None else None
            return self._client().count(self.collection, count_filter=only, exact=True).count

    def capacity_left(self) -> int | None:
        return None

    def scroll(self, doc_id: str | None = None) -> Iterator[ScoredPoint]:
        for record in self._records(doc_id, with_vectors=False):
            yield ScoredPoint(id=str(record.id), score=0.0, payload=dict(record.payload or {}))

    def query(
        self,
        legs: Sequence[QueryLeg],
        *,
        fusion: Fusion,
        limit: int,
        doc_ids: Sequence[str] | None = None,
        with_legs: bool = False,
    ) -> DenseResult:
        with self._lock:
            dims = self._spaces()
            if dims is None:
                return _empty(legs, with_legs)
            _common.check_query(legs, limit, dims)
            if doc_ids is not None and not doc_ids:
                return _empty(legs, with_legs)
            only = _doc_filter(doc_ids) if doc_ids is not None else None
            requests = [_main_request(legs, Fusion(fusion), limit, only, with_legs)]
            if with_legs and len(legs) > 1:
                # Each leg's own ranking rides in the same batch: one round trip, one snapshot.
                requests += [_leg_request(leg, only) for leg in legs]
            responses = self._client().query_batch_points(self.collection, requests=requests)
        lists = [_common.ranked(_scored(r.points)) for r in responses]
        if len(legs) == 1:
            # One leg needs no fusion: its nearest list is the answer (scores are cosine).
            (leg,) = legs
            return DenseResult(
                fused=lists[0][:limit], legs={leg.space: lists[0]} if with_legs else {}
            )
        leg_lists = (
            dict(zip((leg.space for leg in legs), lists[1:], strict=True)) if with_legs else {}
        )
        return DenseResult(fused=lists[0], legs=leg_lists)

    def close(self) -> None:
        """Close the folder (for every view of it: they share one client)."""
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            self._dims = None


class _Folder:
    """A store folder's one qdrant-client (local mode admits one per folder) and its lock."""

    def __init__(self) -> None:
        self.client: QdrantClient | None = None
        self.lock = threading.RLock()


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


def _main_request(
    legs: Sequence[QueryLeg],
    fusion: Fusion,
    limit: int,
    only: models.Filter | None,
    with_legs: bool,
) -> models.QueryRequest:
    if len(legs) == 1:
        (leg,) = legs
        # Asked for the leg's ranking too, fetch all of it; the fused list is its head.
        request = _leg_request(leg, only)
        request.limit = leg.limit if with_legs else min(leg.limit, limit)
        return request
    return models.QueryRequest(
        prefetch=[
            models.Prefetch(query=list(leg.vector), using=leg.space, limit=leg.limit, filter=only)
            for leg in legs
        ],
        query=models.FusionQuery(fusion=_FUSION[fusion]),
        filter=only,
        limit=limit,
        with_payload=True,
    )


def _leg_request(leg: QueryLeg, only: models.Filter | None) -> models.QueryRequest:
    return models.QueryRequest(
        query=list(leg.vector), using=leg.space, filter=only, limit=leg.limit, with_payload=True
    )


def _scored(points: Sequence[models.ScoredPoint]) -> list[ScoredPoint]:
    return [ScoredPoint(id=str(p.id), score=p.score, payload=dict(p.payload or {})) for p in points]


def _empty(legs: Sequence[QueryLeg], with_legs: bool) -> DenseResult:
    return DenseResult(fused=[], legs={leg.space: [] for leg in legs} if with_legs else {})
