"""What both store backends share (checks, query plans, result lists, the shared client), so they
fail, query and rank the same way; each backend only translates to its own client's calls."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ragcore.errors import SchemaMismatch
from ragcore.stores.base import DenseQuery, DenseResult, QueryLeg
from ragcore.types import Fusion, Point, ScoredPoint

T = TypeVar("T")
C = TypeVar("C")

# Points per write request: small enough for one gRPC message with 512-d vectors and text
# payloads, large enough that round trips do not dominate.
BATCH_SIZE = 256


def check_dims(dims: Mapping[str, int]) -> dict[str, int]:
    """The named spaces as a plain dict, after checking each has a name and a positive size."""
    if not dims:
        raise ValueError("a collection needs at least one named vector space, got none")
    for name, size in dims.items():
        if not name:
            raise ValueError(f"vector space names must not be empty, got {dict(dims)}")
        if size <= 0:
            raise ValueError(f"vector space {name!r} must have a size > 0, got {size}")
    return dict(dims)


DISTANCES = ("cosine", "dot")


def check_distances(dims: Mapping[str, int], distances: Mapping[str, str] | None) -> dict[str, str]:
    """Each space's distance (cosine unless given), after checking the names and values."""
    given = dict(distances or {})
    unknown = sorted(set(given) - set(dims))
    if unknown:
        raise ValueError(f"distances name space(s) {unknown} that are not among {sorted(dims)}")
    for name, distance in given.items():
        if distance not in DISTANCES:
            raise ValueError(
                f"space {name!r} needs a distance of {' or '.join(DISTANCES)}, got {distance!r}"
            )
    return {name: given.get(name, "cosine") for name in dims}


def describe(values: Mapping[str, object]) -> str:
    """``image=512, text=384`` or ``text=cosine``: spaces in a stable order, for messages."""
    return ", ".join(f"{name}={value}" for name, value in sorted(values.items()))


def check_schema(
    collection: str,
    where: str,
    existing: Mapping[str, int],
    wanted: Mapping[str, int],
    existing_distances: Callable[[], Mapping[str, str]],
    distances: Mapping[str, str],
) -> None:
    """Raise SchemaMismatch when a collection that exists does not fit the models in use: its
    spaces' sizes first, then how it compares vectors (asked only when the sizes match)."""
    if existing != wanted:
        raise SchemaMismatch(
            f"The collection {collection!r} at {where} holds vectors of sizes {describe(existing)}, "
            f"but the models in use produce {describe(wanted)}. Re-index your documents into a "
            "new collection, or switch back to the models it was built with."
        )
    found = existing_distances()
    if found != distances:
        raise SchemaMismatch(
            f"The collection {collection!r} at {where} compares vectors by {describe(found)}, "
            f"but the models in use need {describe(distances)}. Re-embed into a new collection "
            "(python -m ingest reembed --model ...)."
        )


def check_points(points: Sequence[Point], dims: Mapping[str, int]) -> None:
    """Refuse points whose vectors the collection cannot hold, naming the point and the space."""
    for point in points:
        try:
            uuid.UUID(point.id)
        except ValueError:
            raise ValueError(f"point ids must be UUID strings, got {point.id!r}") from None
        if not point.vectors:
            raise ValueError(
                f"point {point.id} has no vector; it needs at least one of {sorted(dims)}"
            )
        for space, vector in point.vectors.items():
            if space not in dims:
                raise ValueError(
                    f"point {point.id} has a vector for space {space!r}, "
                    f"but the collection only has {sorted(dims)}"
                )
            if len(vector) != dims[space]:
                raise ValueError(
                    f"point {point.id}: its {space!r} vector has {len(vector)} dimensions, "
                    f"the collection expects {dims[space]}"
                )


def check_query(legs: Sequence[QueryLeg], limit: int, dims: Mapping[str, int]) -> None:
    """Refuse a query the store cannot answer as asked, before any round trip."""
    if not legs:
        raise ValueError("a query needs at least one leg (a vector and a space)")
    if limit <= 0:
        raise ValueError(f"limit must be > 0, got {limit}")
    spaces = [leg.space for leg in legs]
    if len(set(spaces)) != len(spaces):
        raise ValueError(f"each leg must use a different space, got {spaces}")
    for leg in legs:
        if leg.limit <= 0:
            raise ValueError(f"leg {leg.space!r} needs a limit > 0, got {leg.limit}")
        if leg.space not in dims:
            raise ValueError(
                f"leg {leg.space!r} names a space the collection does not have ({sorted(dims)})"
            )
        if len(leg.vector) != dims[leg.space]:
            raise ValueError(
                f"leg {leg.space!r} has a {len(leg.vector)}-dimension vector, "
                f"the collection expects {dims[leg.space]}"
            )


def ranked(points: Iterable[ScoredPoint]) -> list[ScoredPoint]:
    """Best first; exact ties broken by id, so both backends list the same hits in one order."""
    return sorted(points, key=lambda p: (-p.score, p.id))


def batches(items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SharedClient(Generic[C]):
    """A backend's one client (opened on first use) and its lock, shared by every view of the
    store that ``with_collection`` makes, so views never open a second connection or folder."""

    def __init__(self, lock: threading.Lock | threading.RLock) -> None:
        self.client: C | None = None
        self.lock = lock


def not_created(collection: str) -> RuntimeError:
    return RuntimeError(
        f"the collection {collection!r} does not exist yet: call ensure_collection(dims) first"
    )


# A backend's scroll offset is opaque here: whatever its last page returned.
def paged(fetch: Callable[[Any], tuple[Sequence[T], Any] | None]) -> Iterator[T]:
    """Every record, a page at a time: ``fetch(offset)`` gives a page and the next offset (None
    after the last), or None while the collection does not exist. ``fetch`` holds the backend's
    lock for its page only, never across the caller's loop."""
    offset: Any = None
    while True:
        got = fetch(offset)
        if got is None:
            return
        page, offset = got
        yield from page
        if offset is None or not page:
            return


class _Record(Protocol):
    @property
    def id(self) -> object: ...
    @property
    def payload(self) -> Mapping[str, object] | None: ...


R = TypeVar("R", bound=_Record)


def stored(records: Iterable[R], vectors: Callable[[R], object]) -> Iterator[Point]:
    """Records as ``scroll_points`` lists them: canonical id, named vectors, payload."""
    for record in records:
        named = vectors(record)
        yield Point(
            id=canonical(str(record.id)),
            vectors={str(k): [float(x) for x in v] for k, v in named.items()}
            if isinstance(named, Mapping)
            else {},
            payload=dict(record.payload or {}),
        )


def canonical(point_id: str) -> str:
    """A UUID in its one written form (servers may answer in another), other ids as they are."""
    try:
        return str(uuid.UUID(point_id))
    except ValueError:
        return point_id


def listed(records: Iterable[_Record]) -> Iterator[ScoredPoint]:
    """Records as ``scroll`` lists them: id and payload, score 0."""
    for record in records:
        yield ScoredPoint(id=str(record.id), score=0.0, payload=dict(record.payload or {}))


# ── dense queries ──────────────────────────────────────────────────


@dataclass(frozen=True)
class LegSearch:
    """The nearest points of one leg: a one-leg query, or one leg's own ranking."""

    leg: QueryLeg
    limit: int


@dataclass(frozen=True)
class FusedSearch:
    """A prefetch per leg, fused by the store."""

    legs: tuple[QueryLeg, ...]
    fusion: Fusion
    limit: int


Search = LegSearch | FusedSearch
# Runs the searches in one round trip against the filter's documents (None: all of them) and
# collection (None: any).
SendSearches = Callable[
    [Sequence[Search], Sequence[str] | None, int | None], list[list[ScoredPoint]]
]


def plan(legs: Sequence[QueryLeg], fusion: Fusion, limit: int, with_legs: bool) -> list[Search]:
    """The searches a query needs: the fused list first, then (``with_legs``) each leg's own."""
    if len(legs) == 1:
        (leg,) = legs
        # One leg needs no fusion. Asked for the leg's ranking too, fetch all of it: the
        # fused list is its head.
        return [LegSearch(leg, leg.limit if with_legs else min(leg.limit, limit))]
    searches: list[Search] = [FusedSearch(tuple(legs), Fusion(fusion), limit)]
    if with_legs:
        # Each leg's own ranking rides in the same batch: one round trip, one snapshot.
        searches += [LegSearch(leg, leg.limit) for leg in legs]
    return searches


def dense_query(
    request: DenseQuery, dims: Mapping[str, int] | None, send: SendSearches
) -> DenseResult:
    """``request`` on a collection with spaces ``dims`` (None: it does not exist yet)."""
    legs, limit, with_legs = request.legs, request.limit, request.with_legs
    if dims is None:
        return _no_hits(legs, with_legs)
    check_query(legs, limit, dims)
    if request.doc_ids is not None and not request.doc_ids:
        return _no_hits(legs, with_legs)
    searches = plan(legs, request.fusion, limit, with_legs)
    lists = [ranked(points) for points in send(searches, request.doc_ids, request.collection)]
    if len(legs) == 1:
        # The one leg's nearest list is the answer (scores are the distance's).
        (leg,) = legs
        return DenseResult(fused=lists[0][:limit], legs={leg.space: lists[0]} if with_legs else {})
    leg_lists = dict(zip((leg.space for leg in legs), lists[1:], strict=True)) if with_legs else {}
    return DenseResult(fused=lists[0], legs=leg_lists)


class _Scored(_Record, Protocol):
    @property
    def score(self) -> float: ...


def scored(points: Iterable[_Scored]) -> list[ScoredPoint]:
    return [ScoredPoint(id=str(p.id), score=p.score, payload=dict(p.payload or {})) for p in points]


def _no_hits(legs: Sequence[QueryLeg], with_legs: bool) -> DenseResult:
    return DenseResult(fused=[], legs={leg.space: [] for leg in legs} if with_legs else {})
