"""A VectorAI DB stand-in: the SDK's own gRPC servicers over qdrant-client's in-memory engine.

Test infrastructure only. The VectorAI wire protocol is Qdrant's with the package renamed
(field names and numbers match), so each request is re-read as the matching
``qdrant_client.grpc`` message, converted with qdrant-client's own converters and run
on ``QdrantClient(":memory:")``; replies travel back the same way.

Before any work the server refuses what the real server refuses: every field listed in
the SDK's ``_server_capability`` tables (the same predicates the real server's
``CheckTodoArgs`` gate applies), plus what VECTORAI.md records as refused (sparse vectors,
per-search params, query variants other than nearest and fusion). Stricter than the real
server, it also refuses what that server would silently answer with something other than
what was asked: params or a score threshold on a prefetch (ignored there), and a query or
prefetch without a query vector (served in id order). It can also play a server whose
engine is still starting ("Engine not initialized", HTTP 412) and one with a licence
capacity counted in vectors across all collections.

Usage::

    with ContractServer(not_ready_checks=2, capacity=5000) as server:
        client = VectorAIClient(server.url)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any, TypeVar

import grpc
from actian_vectorai import _server_capability as capability
from actian_vectorai.exceptions import ValidationError as SdkValidationError
from actian_vectorai.proto import actian_vectorai_collections_ext_pb2 as ext_pb
from actian_vectorai.proto import actian_vectorai_collections_ext_pb2_grpc as ext_grpc
from actian_vectorai.proto import actian_vectorai_collections_pb2 as col_pb
from actian_vectorai.proto import actian_vectorai_collections_service_pb2_grpc as col_grpc
from actian_vectorai.proto import actian_vectorai_pb2 as vai_pb
from actian_vectorai.proto import actian_vectorai_pb2_grpc as vai_grpc
from actian_vectorai.proto import actian_vectorai_points_pb2 as pts_pb
from actian_vectorai.proto import actian_vectorai_points_service_pb2_grpc as pts_grpc
from google.protobuf.message import Message
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as qdrant_pb
from qdrant_client.conversions.conversion import GrpcToRest, RestToGrpc

__all__ = ["ContractServer", "Refused"]

M = TypeVar("M", bound=Message)

NOT_READY_MESSAGE = "Engine not initialized (engine is nullptr)"

# RPCs a server past its licence limit still answers (VECTORAI.md: "every call but delete fails").
_ALLOWED_OVER_CAPACITY = frozenset({"HealthCheck", "Delete", "Flush", "DeleteCollection"})


class Refused(Exception):
    """A request the real server would answer with an error status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _unsupported(field_path: str, reason: str = "") -> Refused:
    # The real server's wording for its TODO gate, answered as 501 / UNIMPLEMENTED.
    message = f"This parameter is not supported: {field_path}"
    if reason:
        message += f". {reason}"
    return Refused(grpc.StatusCode.UNIMPLEMENTED, message)


def _recast(message: Message, target: type[M]) -> M:
    """Re-read a message as its twin from the other package (same field numbers)."""
    return target.FromString(message.SerializeToString())


def _apply_todo_table(check: Callable[[Any], None], request: Message) -> None:
    """Run one of the SDK's server-TODO checks and answer the way the server does."""
    try:
        check(request)
    except SdkValidationError as exc:
        # The SDK adds a client-side suffix in two spaces; the server's own text ends before it.
        raise _unsupported(str(exc.field or exc.message.split("  (")[0])) from None


# ─── What the real server refuses beyond the SDK's tables ──────────────────


def _check_vector(vector: pts_pb.Vector, where: str) -> None:
    kind = vector.WhichOneof("vector")
    if kind == "sparse" or vector.HasField("indices"):
        raise _unsupported(f"{where}.sparse", "sparse vectors are not supported by VectorAI DB")
    if kind in ("document", "image", "object"):
        raise _unsupported(f"{where}.{kind}", "the server does no inference")
    if kind == "multi_dense":
        raise _unsupported(f"{where}.multi_dense", "not modelled by the contract server")


def _check_upsert(request: pts_pb.UpsertPoints) -> None:
    _apply_todo_table(capability.check_upsert_points, request)
    for i, point in enumerate(request.points):
        vectors = point.vectors
        if vectors.HasField("vector"):
            _check_vector(vectors.vector, f"UpsertPoints.points[{i}].vector")
        for name, vector in vectors.vectors.vectors.items():
            _check_vector(vector, f"UpsertPoints.points[{i}].vectors[{name}]")


def _check_vector_input(vector: pts_pb.VectorInput, where: str) -> None:
    kind = vector.WhichOneof("variant")
    if kind == "sparse":
        raise _unsupported(f"{where}.sparse", "sparse vectors are not supported by VectorAI DB")
    if kind != "dense":
        raise _unsupported(f"{where}.{kind}", "only dense query vectors are supported")


def _check_query_variant(query: pts_pb.Query, where: str) -> None:
    variant = query.WhichOneof("variant")
    if variant == "nearest":
        _check_vector_input(query.nearest, f"{where}.nearest")
    elif variant != "fusion":
        raise _unsupported(f"{where}.{variant}")


def _check_prefetch(prefetch: pts_pb.PrefetchQuery, where: str) -> None:
    # The server builds a prefetch node from limit, query and fusion: params and a score
    # floor would be dropped silently, so the contract refuses them outright.
    for name in ("params", "score_threshold", "lookup_from"):
        if prefetch.HasField(name):
            raise _unsupported(f"{where}.{name}", "the server ignores it on a prefetch")
    if not prefetch.HasField("query"):
        # What the SDK sends when it drops a query it cannot express (a SparseVector).
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"{where} has no query")
    _check_query_variant(prefetch.query, f"{where}.query")
    if prefetch.query.WhichOneof("variant") == "fusion" and not prefetch.prefetch:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: fusion needs prefetches")
    for i, inner in enumerate(prefetch.prefetch):
        _check_prefetch(inner, f"{where}.prefetch[{i}]")


def _check_query(request: pts_pb.QueryPoints, where: str = "QueryPoints") -> None:
    if where == "QueryPoints":
        _apply_todo_table(capability.check_query_points, request)
    if request.HasField("params"):
        raise _unsupported(f"{where}.params", capability.NAMED_VECTOR_PARAMS_REASON)
    if not request.HasField("query"):
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"{where} has no query")
    _check_query_variant(request.query, f"{where}.query")
    if request.query.WhichOneof("variant") == "fusion" and not request.prefetch:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: fusion needs prefetches")
    for i, prefetch in enumerate(request.prefetch):
        _check_prefetch(prefetch, f"{where}.prefetch[{i}]")


def _check_create(request: col_pb.CreateCollection) -> None:
    _apply_todo_table(capability.check_create_collection, request)
    if request.HasField("sparse_vectors_config"):
        raise _unsupported(
            "CreateCollection.sparse_vectors_config", "sparse vectors are not supported"
        )
    if not request.HasField("vectors_config"):
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "CreateCollection needs vectors_config")
    for name, params in request.vectors_config.params_map.map.items():
        if params.size < 1:
            raise _unsupported(
                f"CreateCollection.vectors_config.params_map[{name}].size=0",
                "sparse vectors are not supported",
            )


# ─── The engine ─────────────────────────────────────────────────────────────


def _engine_error(exc: Exception, collection: str) -> Refused:
    """Map a qdrant-client local-mode error to the status and text the real server sends."""
    text = str(exc)
    lowered = text.lower()
    if "not found" in lowered and "collection" in lowered:
        return Refused(grpc.StatusCode.NOT_FOUND, f"Collection not found: {collection}")
    if "already exists" in lowered:
        return Refused(grpc.StatusCode.ALREADY_EXISTS, f"Collection {collection} already exists")
    if "vector name" in lowered or "vector with name" in lowered:
        return Refused(grpc.StatusCode.NOT_FOUND, f"Vector space not found: {text}")
    found = re.search(r"expected dim: (\d+), got (\d+)", text)
    if found:
        expected, got = found.groups()
        return Refused(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Dimension mismatch: expected {expected}, got {got}",
        )
    return Refused(grpc.StatusCode.INVALID_ARGUMENT, text)


def _vector_count(vectors: object) -> int:
    if isinstance(vectors, dict):
        return len(vectors)
    return 0 if vectors is None else 1


class _Engine:
    """qdrant-client in memory, behind one lock (the gRPC server runs handlers in threads)."""

    def __init__(self) -> None:
        self.client = QdrantClient(":memory:")
        self.lock = threading.RLock()

    def stored_vectors(self) -> int:
        """Vectors across every collection: what the licence counts."""
        return sum(
            self.collection_vectors(c.name) for c in self.client.get_collections().collections
        )

    def collection_vectors(self, collection: str) -> int:
        config = self.client.get_collection(collection).config.params.vectors
        if not isinstance(config, dict):
            return self.client.count(collection, exact=True).count
        return sum(
            self.client.count(
                collection,
                count_filter=models.Filter(must=[models.HasVectorCondition(has_vector=name)]),
                exact=True,
            ).count
            for name in config
        )

    def vectors_after_upsert(self, collection: str, points: list[models.PointStruct]) -> int:
        """Stored vectors once these points are written (an overwrite replaces, not adds)."""
        old = self.client.retrieve(
            collection, ids=[p.id for p in points], with_payload=False, with_vectors=True
        )
        replaced = sum(_vector_count(r.vector) for r in old)
        added = sum(_vector_count(p.vector) for p in points)
        return self.stored_vectors() - replaced + added


class ContractServer:
    """An in-process gRPC server speaking VectorAI DB's protocol, backed by qdrant in memory.

    ``not_ready_checks``: how many health checks answer "Engine not initialized" (412)
    before the engine is ready; until then every other call answers the same.
    ``capacity``: the licence's vector limit across all collections (None: no limit).
    ``api_key``: when set, every call must carry it in the ``api-key`` header.

    Example::

        with ContractServer(capacity=10) as server:
            store = VectorAIStore(server.url, startup_timeout=2)
    """

    def __init__(
        self,
        *,
        not_ready_checks: int = 0,
        capacity: int | None = None,
        api_key: str | None = None,
    ) -> None:
        if not_ready_checks < 0:
            raise ValueError(f"not_ready_checks must be >= 0, got {not_ready_checks}")
        self.not_ready_checks = not_ready_checks
        self.capacity = capacity
        self.api_key = api_key
        self.health_checks = 0
        self.refused_health_checks = 0
        self.calls: list[str] = []
        self.api_keys_seen: list[str | None] = []
        self.engine = _Engine()
        self._gate = threading.Lock()  # handlers run on a thread pool
        self._server: grpc.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the contract server is not started")
        return f"127.0.0.1:{self.port}"

    def start(self) -> ContractServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        vai_grpc.add_ActianVectorAIServicer_to_server(_Health(self), server)
        col_grpc.add_CollectionsServicer_to_server(_Collections(self), server)
        pts_grpc.add_PointsServicer_to_server(_Points(self), server)
        ext_grpc.add_CollectionsExtServicer_to_server(_CollectionsExt(self), server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None
        self.engine.client.close()

    def __enter__(self) -> ContractServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ── the gate every call passes ──────────────────────────────────

    @property
    def ready(self) -> bool:
        return self.refused_health_checks >= self.not_ready_checks

    def serve(self, rpc: str, context: grpc.ServicerContext, work: Callable[[], M]) -> M:
        """Check auth, readiness and capacity, then run ``work`` under the engine lock."""
        self.calls.append(rpc)
        try:
            with self._gate:
                self._admit(rpc, context)
            with self.engine.lock:
                return work()
        except Refused as exc:
            context.abort(exc.code, exc.message)
            raise AssertionError("unreachable: abort raises") from None

    def _admit(self, rpc: str, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        key = metadata.get("api-key")
        self.api_keys_seen.append(key if isinstance(key, str) else None)
        if self.api_key is not None and key != self.api_key:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "Invalid or missing API key")
        if rpc == "HealthCheck":
            self.health_checks += 1
            if not self.ready:
                self.refused_health_checks += 1
                raise Refused(grpc.StatusCode.FAILED_PRECONDITION, NOT_READY_MESSAGE)
            return
        if not self.ready:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION, NOT_READY_MESSAGE)
        if self.capacity is not None and rpc not in _ALLOWED_OVER_CAPACITY:
            with self.engine.lock:
                stored = self.engine.stored_vectors()
            if stored > self.capacity:
                raise self.over_capacity(stored)

    def over_capacity(self, current: int) -> Refused:
        # Worded so the SDK maps it to CapacityExceededError and does not retry it.
        return Refused(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"Vector count limit exceeded. Current: {current}, Allowed: {self.capacity}.",
        )


# ─── Servicers: thin adapters from protobuf to the engine ───────────────────


class _Health(vai_grpc.ActianVectorAIServicer):
    def __init__(self, server: ContractServer) -> None:
        self.server = server

    def HealthCheck(
        self, request: vai_pb.HealthCheckRequest, context: grpc.ServicerContext
    ) -> vai_pb.HealthCheckReply:
        return self.server.serve(
            "HealthCheck",
            context,
            lambda: vai_pb.HealthCheckReply(title="vectorai contract server", version="test"),
        )


class _Collections(col_grpc.CollectionsServicer):
    def __init__(self, server: ContractServer) -> None:
        self.server = server
        self.client = server.engine.client

    def Create(
        self, request: col_pb.CreateCollection, context: grpc.ServicerContext
    ) -> col_pb.CollectionOperationResponse:
        def work() -> col_pb.CollectionOperationResponse:
            _check_create(request)
            name = request.collection_name
            if self.client.collection_exists(name):
                raise Refused(grpc.StatusCode.ALREADY_EXISTS, f"Collection {name} already exists")
            q = _recast(request, qdrant_pb.CreateCollection)
            vectors = GrpcToRest.convert_vectors_config(q.vectors_config)
            self.client.create_collection(name, vectors_config=vectors)
            return col_pb.CollectionOperationResponse(result=True, time=0.0)

        return self.server.serve("Create", context, work)

    def CollectionExists(
        self, request: col_pb.CollectionExistsRequest, context: grpc.ServicerContext
    ) -> col_pb.CollectionExistsResponse:
        def work() -> col_pb.CollectionExistsResponse:
            exists = self.client.collection_exists(request.collection_name)
            return col_pb.CollectionExistsResponse(
                result=col_pb.CollectionExists(exists=exists), time=0.0
            )

        return self.server.serve("CollectionExists", context, work)

    def Get(
        self, request: col_pb.GetCollectionInfoRequest, context: grpc.ServicerContext
    ) -> col_pb.GetCollectionInfoResponse:
        def work() -> col_pb.GetCollectionInfoResponse:
            name = request.collection_name
            try:
                info = self.client.get_collection(name)
            except (ValueError, KeyError) as exc:
                raise _engine_error(exc, name) from None
            q = RestToGrpc.convert_collection_info(info)
            result = _recast(q, col_pb.CollectionInfo)
            result.vectors_count = self.server.engine.collection_vectors(name)
            return col_pb.GetCollectionInfoResponse(result=result, time=0.0)

        return self.server.serve("Get", context, work)

    def List(
        self, request: col_pb.ListCollectionsRequest, context: grpc.ServicerContext
    ) -> col_pb.ListCollectionsResponse:
        def work() -> col_pb.ListCollectionsResponse:
            names = [c.name for c in self.client.get_collections().collections]
            return col_pb.ListCollectionsResponse(
                collections=[col_pb.CollectionDescription(name=n) for n in names], time=0.0
            )

        return self.server.serve("List", context, work)

    def Delete(
        self, request: col_pb.DeleteCollection, context: grpc.ServicerContext
    ) -> col_pb.CollectionOperationResponse:
        def work() -> col_pb.CollectionOperationResponse:
            _apply_todo_table(capability.check_delete_collection, request)
            name = request.collection_name
            if not self.client.collection_exists(name):
                raise Refused(grpc.StatusCode.NOT_FOUND, f"Collection not found: {name}")
            self.client.delete_collection(name)
            return col_pb.CollectionOperationResponse(result=True, time=0.0)

        return self.server.serve("DeleteCollection", context, work)


def _updated() -> pts_pb.PointsOperationResponse:
    return pts_pb.PointsOperationResponse(
        result=pts_pb.UpdateResult(status=pts_pb.Completed), time=0.0
    )


class _Points(pts_grpc.PointsServicer):
    def __init__(self, server: ContractServer) -> None:
        self.server = server
        self.client = server.engine.client

    def _known(self, collection: str) -> None:
        if not self.client.collection_exists(collection):
            raise Refused(grpc.StatusCode.NOT_FOUND, f"Collection not found: {collection}")

    def Upsert(
        self, request: pts_pb.UpsertPoints, context: grpc.ServicerContext
    ) -> pts_pb.PointsOperationResponse:
        def work() -> pts_pb.PointsOperationResponse:
            _check_upsert(request)
            name = request.collection_name
            self._known(name)
            q = _recast(request, qdrant_pb.UpsertPoints)
            points = [GrpcToRest.convert_point_struct(p) for p in q.points]
            capacity = self.server.capacity
            if capacity is not None:
                after = self.server.engine.vectors_after_upsert(name, points)
                if after > capacity:
                    raise self.server.over_capacity(after)
            try:
                self.client.upsert(name, points=points)
            except (ValueError, KeyError) as exc:
                raise _engine_error(exc, name) from None
            return _updated()

        return self.server.serve("Upsert", context, work)

    def Delete(
        self, request: pts_pb.DeletePoints, context: grpc.ServicerContext
    ) -> pts_pb.PointsOperationResponse:
        def work() -> pts_pb.PointsOperationResponse:
            _apply_todo_table(capability.check_delete_points, request)
            name = request.collection_name
            self._known(name)
            q = _recast(request, qdrant_pb.DeletePoints)
            self.client.delete(name, points_selector=GrpcToRest.convert_points_selector(q.points))
            return _updated()

        return self.server.serve("Delete", context, work)

    def Get(self, request: pts_pb.GetPoints, context: grpc.ServicerContext) -> pts_pb.GetResponse:
        def work() -> pts_pb.GetResponse:
            _apply_todo_table(capability.check_get_points, request)
            name = request.collection_name
            self._known(name)
            q = _recast(request, qdrant_pb.GetPoints)
            records = self.client.retrieve(
                name,
                ids=[GrpcToRest.convert_point_id(i) for i in q.ids],
                with_payload=_payload_wanted(q),
                with_vectors=_vectors_wanted(q),
            )
            result = [_record(r) for r in records]
            return pts_pb.GetResponse(result=result, time=0.0)

        return self.server.serve("Get", context, work)

    def Query(
        self, request: pts_pb.QueryPoints, context: grpc.ServicerContext
    ) -> pts_pb.QueryResponse:
        def work() -> pts_pb.QueryResponse:
            _check_query(request)
            (hits,) = self._run_queries(request.collection_name, [request])
            return pts_pb.QueryResponse(result=hits, time=0.0)

        return self.server.serve("Query", context, work)

    def QueryBatch(
        self, request: pts_pb.QueryBatchPoints, context: grpc.ServicerContext
    ) -> pts_pb.QueryBatchResponse:
        def work() -> pts_pb.QueryBatchResponse:
            _apply_todo_table(capability.check_query_batch_points, request)
            for i, entry in enumerate(request.query_points):
                _check_query(entry, where=f"QueryBatchPoints.query_points[{i}]")
            batches = self._run_queries(request.collection_name, list(request.query_points))
            return pts_pb.QueryBatchResponse(
                result=[pts_pb.BatchResult(result=hits) for hits in batches], time=0.0
            )

        return self.server.serve("QueryBatch", context, work)

    def _run_queries(
        self, collection: str, requests: list[pts_pb.QueryPoints]
    ) -> list[list[pts_pb.ScoredPoint]]:
        self._known(collection)
        rest = [
            GrpcToRest.convert_query_points(_recast(r, qdrant_pb.QueryPoints)) for r in requests
        ]
        try:
            responses = self.client.query_batch_points(collection, requests=rest)
        except (ValueError, KeyError) as exc:
            raise _engine_error(exc, collection) from None
        return [[_scored(p) for p in r.points] for r in responses]

    def Scroll(
        self, request: pts_pb.ScrollPoints, context: grpc.ServicerContext
    ) -> pts_pb.ScrollResponse:
        def work() -> pts_pb.ScrollResponse:
            _apply_todo_table(capability.check_scroll_points, request)
            name = request.collection_name
            self._known(name)
            q = _recast(request, qdrant_pb.ScrollPoints)
            records, next_offset = self.client.scroll(
                name,
                scroll_filter=GrpcToRest.convert_filter(q.filter) if q.HasField("filter") else None,
                limit=q.limit if q.HasField("limit") else 10,
                offset=GrpcToRest.convert_point_id(q.offset) if q.HasField("offset") else None,
                with_payload=_payload_wanted(q),
                with_vectors=_vectors_wanted(q),
            )
            response = pts_pb.ScrollResponse(
                result=[_record(r) for r in records],
                time=0.0,
            )
            if next_offset is not None:
                pid = RestToGrpc.convert_extended_point_id(next_offset)
                response.next_page_offset.CopyFrom(_recast(pid, type(response.next_page_offset)))
            return response

        return self.server.serve("Scroll", context, work)

    def Count(
        self, request: pts_pb.CountPoints, context: grpc.ServicerContext
    ) -> pts_pb.CountResponse:
        def work() -> pts_pb.CountResponse:
            _apply_todo_table(capability.check_count_points, request)
            name = request.collection_name
            self._known(name)
            q = _recast(request, qdrant_pb.CountPoints)
            count = self.client.count(
                name,
                count_filter=GrpcToRest.convert_filter(q.filter) if q.HasField("filter") else None,
                exact=True,
            ).count
            return pts_pb.CountResponse(result=pts_pb.CountResult(count=count), time=0.0)

        return self.server.serve("Count", context, work)


def _record(record: models.Record) -> pts_pb.RetrievedPoint:
    # qdrant-client's converter wants a payload dict even when none was asked for.
    if record.payload is None:
        record = record.model_copy(update={"payload": {}})
    return _recast(RestToGrpc.convert_record(record), pts_pb.RetrievedPoint)


def _scored(point: models.ScoredPoint) -> pts_pb.ScoredPoint:
    if point.payload is None:
        point = point.model_copy(update={"payload": {}})
    return _recast(RestToGrpc.convert_scored_point(point), pts_pb.ScoredPoint)


def _payload_wanted(request: Any) -> Any:
    if not request.HasField("with_payload"):
        return True
    return GrpcToRest.convert_with_payload_selector(request.with_payload)


def _vectors_wanted(request: Any) -> Any:
    if not request.HasField("with_vectors"):
        return False
    return GrpcToRest.convert_with_vectors_selector(request.with_vectors)


class _CollectionsExt(ext_grpc.CollectionsExtServicer):
    def __init__(self, server: ContractServer) -> None:
        self.server = server

    def Flush(
        self, request: ext_pb.FlushRequest, context: grpc.ServicerContext
    ) -> ext_pb.FlushResponse:
        def work() -> ext_pb.FlushResponse:
            if not self.server.engine.client.collection_exists(request.collection_name):
                raise Refused(
                    grpc.StatusCode.NOT_FOUND, f"Collection not found: {request.collection_name}"
                )
            return ext_pb.FlushResponse(result=True, time=0.0)

        return self.server.serve("Flush", context, work)

    def GetVectorCount(
        self, request: ext_pb.GetVectorCountRequest, context: grpc.ServicerContext
    ) -> ext_pb.GetVectorCountResponse:
        def work() -> ext_pb.GetVectorCountResponse:
            name = request.collection_name
            if not self.server.engine.client.collection_exists(name):
                raise Refused(grpc.StatusCode.NOT_FOUND, f"Collection not found: {name}")
            count = self.server.engine.collection_vectors(name)
            return ext_pb.GetVectorCountResponse(count=count, time=0.0)

        return self.server.serve("GetVectorCount", context, work)
