"""Checks and orderings both store backends share, so they fail and rank the same way."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from ragcore.errors import SchemaMismatch
from ragcore.stores.base import QueryLeg
from ragcore.types import Point, ScoredPoint

T = TypeVar("T")

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


def distance_mismatch(
    collection: str, where: str, existing: Mapping[str, str], wanted: Mapping[str, str]
) -> SchemaMismatch:
    return SchemaMismatch(
        f"The collection {collection!r} at {where} compares vectors by "
        f"{describe_distances(existing)}, but the models in use need {describe_distances(wanted)}. "
        "Re-embed into a new collection (python -m ingest reembed --model ...)."
    )


def describe_distances(distances: Mapping[str, str]) -> str:
    return ", ".join(f"{name}={d}" for name, d in sorted(distances.items()))


def describe(dims: Mapping[str, int]) -> str:
    """``image=512, text=384``: spaces in a stable order, for messages."""
    return ", ".join(f"{name}={size}" for name, size in sorted(dims.items()))


def schema_mismatch(
    collection: str, where: str, existing: Mapping[str, int], wanted: Mapping[str, int]
) -> SchemaMismatch:
    return SchemaMismatch(
        f"The collection {collection!r} at {where} holds vectors of sizes {describe(existing)}, "
        f"but the models in use produce {describe(wanted)}. Re-index your documents into a new "
        "collection, or switch back to the models it was built with."
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
