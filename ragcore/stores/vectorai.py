"""The VectorAI DB store: Actian's server over gRPC, through the actian-vectorai-client SDK."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from actian_vectorai import (
    Distance,
    Field,
    FilterBuilder,
    PointStruct,
    PrefetchQuery,
    VectorAIClient,
    VectorParams,
)
from actian_vectorai import Fusion as SdkFusion
from actian_vectorai import config as sdk_config
from actian_vectorai.exceptions import (
    AuthenticationError,
    CapacityExceededError,
    CollectionExistsError,
    CollectionNotFoundError,
    CollectionNotReadyError,
    VectorAIError,
)
from actian_vectorai.exceptions import ConnectionError as SdkConnectionError
from actian_vectorai.exceptions import TimeoutError as SdkTimeoutError
from actian_vectorai.models.common import Filter, PointIdValue

from ragcore.backoff import retry_delays
from ragcore.errors import CapacityExceeded, CollectionMissing, StoreUnavailable
from ragcore.stores import _common
from ragcore.stores.base import DenseQuery, DenseResult
from ragcore.types import Fusion, Point, ScoredPoint

# The free tier's limit, counted in vectors across every collection on the server.
FREE_TIER_VECTORS = 5000

_FUSION = {Fusion.RRF: SdkFusion.RRF, Fusion.DBSF: SdkFusion.DBSF}
_DISTANCE = {"cosine": Distance.Cosine, "dot": Distance.Dot}
_DISTANCE_NAME = {v: k for k, v in _DISTANCE.items()}


class VectorAIStore:
    """One collection of named dense vectors (cosine) on a VectorAI DB server; fusion runs there.

    Connects on first use and waits up to ``startup_timeout`` seconds for the server's engine
    to be ready. ``capacity`` is the licence's vector limit across all collections (None: no
    limit): a write that would pass it is refused before anything is sent. Vectors must be
    L2-normalised by the caller.

    Example::

        store = VectorAIStore("localhost:6574", startup_timeout=60)
        store.ensure_collection({"text": 384, "image": 512})
        store.upsert(points)
    """

    backend = "vectorai"

    def __init__(
        self,
        url: str,
        *,
        collection: str = "docqa",
        api_key: str | None = None,
        tls: bool = False,
        startup_timeout: float = 60.0,
        capacity: int | None = FREE_TIER_VECTORS,
        batch_size: int = _common.BATCH_SIZE,
        rpc_timeout: float = 30.0,
    ) -> None:
        if not url or "://" in url:
            raise ValueError(f"url must be host:port without a scheme, got {url!r}")
        if not collection:
            raise ValueError("collection must be a non-empty name")
        if startup_timeout < 0:
            raise ValueError(f"startup_timeout must be >= 0 seconds, got {startup_timeout}")
        if capacity is not None and capacity < 0:
            raise ValueError(f"capacity must be >= 0 vectors or None, got {capacity}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        if rpc_timeout <= 0:
            raise ValueError(f"rpc_timeout must be > 0 seconds, got {rpc_timeout}")
        self.url = url
        self.collection = collection
        self.startup_timeout = startup_timeout
        self.capacity = capacity
        self._api_key = api_key
        self._tls = tls
        self._batch_size = batch_size
        self._rpc_timeout = rpc_timeout
        self._dims: dict[str, int] | None = None
        # The lock guards connecting only: the SDK client itself is thread-safe.
        self._shared: _common.SharedClient[VectorAIClient] = _common.SharedClient(threading.Lock())

    # ── connecting ─────────────────────────────────────────────────

    def _client(self) -> VectorAIClient:
        with self._shared.lock:
            client = self._shared.client
            if client is None:
                client = self._shared.client = _new_client(
                    self.url, api_key=self._api_key, tls=self._tls, rpc_timeout=self._rpc_timeout
                )
            if not client.is_connected:
                self._wait_until_ready(client)
            return client

    def _wait_until_ready(self, client: VectorAIClient) -> None:
        """Connect, retrying with backoff while the engine starts or the server is unreachable."""
        delays = retry_delays(self.startup_timeout)
        while True:
            try:
                # connect() opens the channel and runs health_check(); it fails until the
                # engine answers, so a successful connect means the server is ready.
                client.connect()
                return
            except VectorAIError as exc:
                last = _root_cause(exc)
                if isinstance(last, AuthenticationError):
                    raise StoreUnavailable(
                        f"VectorAI DB at {self.url} refused the API key: {last.message}"
                    ) from exc
                if not _worth_waiting_for(last):
                    raise StoreUnavailable(
                        f"VectorAI DB at {self.url} cannot be used: {_plain(last)}"
                    ) from exc
            delay = next(delays, None)
            if delay is None:
                raise StoreUnavailable(
                    f"VectorAI DB at {self.url} did not become ready within "
                    f"{self.startup_timeout:g} s: last error {_plain(last)}"
                ) from last
            time.sleep(delay)

    @contextmanager
    def _session(self) -> Iterator[VectorAIClient]:
        """The connected client, with the SDK's errors a person must see turned into ours."""
        client = self._client()
        try:
            yield client
        except CapacityExceededError as exc:
            raise CapacityExceeded(f"VectorAI DB at {self.url} is full: {exc.message}") from exc
        except CollectionNotFoundError as exc:
            raise CollectionMissing(
                f"the collection {self.collection!r} on VectorAI DB at {self.url} was dropped "
                "while in use"
            ) from exc
        except (SdkConnectionError, SdkTimeoutError, CollectionNotReadyError) as exc:
            raise StoreUnavailable(
                f"VectorAI DB at {self.url} stopped answering: {_plain(exc)}"
            ) from exc

    # ── the collection's shape ─────────────────────────────────────

    def _existing_dims(self, client: VectorAIClient) -> dict[str, int]:
        info = client.collections.get_info(self.collection)
        params = info.config.params if info.config is not None else None
        if params is None:
            return {}
        if params.vectors_config_map:
            return {name: vp.size for name, vp in params.vectors_config_map.items()}
        if params.vectors_config is not None:
            # A collection with one unnamed vector is not ours; report it as such.
            return {"(unnamed)": params.vectors_config.size}
        return {}

    def _spaces(self, client: VectorAIClient) -> dict[str, int] | None:
        """The collection's spaces, or None while it does not exist."""
        if self._dims is None and client.collections.exists(self.collection):
            self._dims = self._existing_dims(client)
        return self._dims

    def _existing_distances(self, client: VectorAIClient) -> dict[str, str]:
        info = client.collections.get_info(self.collection)
        params = info.config.params if info.config is not None else None
        if params is None or not params.vectors_config_map:
            return {}
        return {
            name: _DISTANCE_NAME.get(vp.distance, str(vp.distance))
            for name, vp in params.vectors_config_map.items()
        }

    def _check_matches(
        self, client: VectorAIClient, wanted: dict[str, int], metric: dict[str, str]
    ) -> None:
        _common.check_schema(
            self.collection,
            f"VectorAI DB {self.url}",
            self._existing_dims(client),
            wanted,
            lambda: self._existing_distances(client),
            metric,
        )

    # ── capacity ───────────────────────────────────────────────────

    def _stored_vectors(self, client: VectorAIClient) -> int:
        # The licence counts every collection on the server, not only ours.
        return sum(client.vde.get_vector_count(name) for name in client.collections.list())

    def _known_ids(self, client: VectorAIClient, ids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _common.batches(ids, self._batch_size):
            found = client.points.get(
                self.collection, list(chunk), with_payload=False, with_vectors=False
            )
            known.update(_common.canonical(str(p.id)) for p in found)
        return known

    def _check_room(self, client: VectorAIClient, points: Sequence[Point]) -> None:
        """Refuse, before writing anything, a write that would pass the licence's limit."""
        if self.capacity is None:
            return
        known = self._known_ids(client, [p.id for p in points])
        # Overwriting a point (same id) replaces its vectors rather than adding to them.
        new = {p.id: len(p.vectors) for p in points if _common.canonical(p.id) not in known}
        needed = sum(new.values())
        stored = self._stored_vectors(client)
        if stored + needed > self.capacity:
            raise CapacityExceeded(
                f"VectorAI DB at {self.url} has room for {max(0, self.capacity - stored)} more "
                f"vectors ({stored} of {self.capacity} used across all collections), but this "
                f"write needs {needed}. Delete documents to make room, or use a licence with a "
                "higher limit."
            )

    # ── the Protocol ───────────────────────────────────────────────

    def ensure_collection(
        self, dims: Mapping[str, int], distances: Mapping[str, str] | None = None
    ) -> None:
        wanted = _common.check_dims(dims)
        metric = _common.check_distances(wanted, distances)
        with self._session() as client:
            if client.collections.exists(self.collection):
                self._check_matches(client, wanted, metric)
            else:
                try:
                    client.collections.create(
                        self.collection,
                        vectors_config={
                            name: VectorParams(size=size, distance=_DISTANCE[metric[name]])
                            for name, size in wanted.items()
                        },
                    )
                except CollectionExistsError:
                    # Another process created it between our two calls.
                    self._check_matches(client, wanted, metric)
        self._dims = wanted

    def distances(self) -> dict[str, str]:
        """Each space's distance as the collection was created ({} while it does not exist)."""
        with self._session() as client:
            if self._spaces(client) is None:
                return {}
            return self._existing_distances(client)

    def with_collection(self, name: str) -> VectorAIStore:
        view = VectorAIStore(
            self.url,
            collection=name,
            api_key=self._api_key,
            tls=self._tls,
            startup_timeout=self.startup_timeout,
            capacity=self.capacity,
            batch_size=self._batch_size,
            rpc_timeout=self._rpc_timeout,
        )
        view._shared = self._shared
        return view

    def drop_collection(self) -> None:
        with self._session() as client:
            client.collections.delete(self.collection, strict=False)
        self._dims = None

    def _records(self, doc_id: str | None, *, with_vectors: bool) -> Iterator[Any]:
        """Every point (of ``doc_id``), a page at a time, the session held per page only."""
        only = _doc_filter([doc_id]) if doc_id is not None else None

        def page(offset: PointIdValue | None) -> tuple[list[Any], PointIdValue | None] | None:
            with self._session() as client:
                if self._spaces(client) is None:
                    return None
                return client.points.scroll(
                    self.collection,
                    offset=offset,
                    limit=self._batch_size,
                    filter=only,
                    with_payload=True,
                    with_vectors=with_vectors,
                )

        return _common.paged(page)

    def scroll_points(self, doc_id: str | None = None) -> Iterator[Point]:
        return _common.stored(self._records(doc_id, with_vectors=True), lambda r: r.vectors)

    def upsert(self, points: Sequence[Point]) -> None:
        if not points:
            return
        with self._session() as client:
            dims = self._spaces(client)
            if dims is None:
                raise _common.not_created(self.collection)
            _common.check_points(points, dims)
            self._check_room(client, points)
            for batch in _common.batches(points, self._batch_size):
                client.points.upsert(
                    self.collection,
                    [
                        PointStruct(id=p.id, vector=dict(p.vectors), payload=p.payload)
                        for p in batch
                    ],
                )

    def delete_document(self, doc_id: str) -> None:
        with self._session() as client:
            if self._spaces(client) is None:
                return
            client.points.delete(self.collection, filter=_doc_filter([doc_id]), strict=False)
            # 1.0.3 can bring deleted points back after a restart unless flushed (VECTORAI.md).
            client.vde.flush(self.collection)

    def count(self, doc_id: str | None = None) -> int:
        with self._session() as client:
            if self._spaces(client) is None:
                return 0
            only = _doc_filter([doc_id]) if doc_id is not None else None
            return client.points.count(self.collection, filter=only)

    def capacity_left(self) -> int | None:
        if self.capacity is None:
            return None
        with self._session() as client:
            return max(0, self.capacity - self._stored_vectors(client))

    def scroll(self, doc_id: str | None = None) -> Iterator[ScoredPoint]:
        return _common.listed(self._records(doc_id, with_vectors=False))

    def query(self, request: DenseQuery) -> DenseResult:
        with self._session() as client:

            def send(
                searches: Sequence[_common.Search],
                doc_ids: Sequence[str] | None,
                collection: int | None,
            ) -> list[list[ScoredPoint]]:
                only = _query_filter(doc_ids, collection)
                requests = [_request(search, only) for search in searches]
                if len(requests) == 1:
                    answers = [client.points.query(self.collection, **requests[0])]
                else:
                    # The SDK's query_batch sends all requests in one QueryBatch call.
                    answers = client.points.query_batch(self.collection, requests)
                return [_common.scored(a) for a in answers]

            return _common.dense_query(request, self._spaces(client), send)

    def close(self) -> None:
        """Close the connection (for every view of it: they share one)."""
        with self._shared.lock:
            if self._shared.client is not None:
                self._shared.client.shutdown()
                self._shared.client = None


def _new_client(url: str, *, api_key: str | None, tls: bool, rpc_timeout: float) -> VectorAIClient:
    """An SDK client configured only from these values, never from a .env file.

    The SDK fills each setting left as None from ACTIAN_VECTORAI_* variables, and before the
    first lookup it loads a ``.env`` from the working directory into the environment, so a
    stray file could point the app at another server or add a key. So: mark the SDK's one-time
    .env load as already done, and pass every setting it accepts explicitly ("" means no API
    key: the SDK keeps an explicit empty string instead of looking one up). Settings the
    constructor does not take (log level, default ports, TLS certificate paths) can still come
    from real environment variables, which is the deployer's choice, not a file's.
    """
    with sdk_config._dotenv_lock:
        sdk_config._dotenv_loaded = True
    host = url.rsplit(":", 1)[0]
    return VectorAIClient(
        url,
        rest_url=f"{'https' if tls else 'http'}://{host}:6573",
        api_key=api_key or "",
        access_token=api_key or "",
        tls=tls,
        allow_insecure=False,
        timeout=rpc_timeout,
        max_message_size=256 * 1024 * 1024,  # the SDK's default, stated so no variable sets it
        max_retries=3,
        pool_size=1,
        enable_tracing=False,
        enable_logging=False,
    )


def _root_cause(exc: VectorAIError) -> VectorAIError:
    """connect() wraps what went wrong in a generic 'not reachable'; the cause says more."""
    cause = exc.__cause__
    return cause if isinstance(cause, VectorAIError) else exc


def _engine_starting(error: VectorAIError) -> bool:
    """The server's 412 "Engine not initialized": it is up, its engine is not yet."""
    text = str(error).lower()
    return "not initialized" in text or "nullptr" in text


def _worth_waiting_for(error: VectorAIError) -> bool:
    """A server that is starting or not yet listening."""
    waitable = (CollectionNotReadyError, SdkConnectionError, SdkTimeoutError)
    return isinstance(error, waitable) or _engine_starting(error)


def _plain(error: VectorAIError) -> str:
    """The SDK's message without its status-code suffix, which means nothing to a person."""
    if _engine_starting(error):
        return "engine not initialized (the server is still starting)"
    text = error.message
    if error.details and error.details not in text:
        text += f": {error.details}"
    return text


def _doc_filter(doc_ids: Sequence[str]) -> Filter:
    return FilterBuilder().must(Field("doc_id").any_of(list(doc_ids))).build()


def _query_filter(doc_ids: Sequence[str] | None, collection: int | None) -> Filter | None:
    if doc_ids is None and collection is None:
        return None
    builder = FilterBuilder()
    if doc_ids is not None:
        builder = builder.must(Field("doc_id").any_of(list(doc_ids)))
    if collection is not None:
        # The payload's "collections" is a list: a point matches when any element does.
        builder = builder.must(Field("collections").any_of([collection]))
    return builder.build()


def _request(search: _common.Search, only: Filter | None) -> dict[str, Any]:
    """Keyword arguments of ``points.query`` (also one entry of ``points.query_batch``)."""
    if isinstance(search, _common.LegSearch):
        leg = search.leg
        return {
            "query": [float(x) for x in leg.vector],
            "using": leg.space,
            "filter": only,
            "limit": search.limit,
            "with_payload": True,
        }
    # The filter goes on every prefetch and on the outer query (VECTORAI.md).
    return {
        "prefetch": [
            PrefetchQuery(
                query=[float(x) for x in leg.vector], using=leg.space, filter=only, limit=leg.limit
            )
            for leg in search.legs
        ],
        "query": {"fusion": _FUSION[search.fusion]},
        "filter": only,
        "limit": search.limit,
        "with_payload": True,
    }
