"""The vector-store Protocol: the index takes vectors, never text (stores never call an embedder)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ragcore.types import Fusion, Point, ScoredPoint


@dataclass(frozen=True)
class QueryLeg:
    """One prefetch leg of a dense query: a query vector against one named vector space."""

    space: str
    vector: Sequence[float]
    limit: int


@dataclass(frozen=True)
class DenseQuery:
    """One fused query: a prefetch per leg, fused by the store.

    ``doc_ids`` and ``collection`` (a collection id, matched against the payload's
    ``collections``) filter every leg inside the store's query.

    ``with_legs`` also returns each leg's own ranking from the same round trip.

    >>> DenseQuery([QueryLeg("text", vector, 50)], fusion=Fusion.RRF, limit=20)
    """

    legs: Sequence[QueryLeg]
    fusion: Fusion
    limit: int
    doc_ids: Sequence[str] | None = None
    with_legs: bool = False
    collection: int | None = None


@dataclass(frozen=True)
class DenseResult:
    """The store's fused list, and (when asked for) each leg's own ranking from the same round trip."""

    fused: list[ScoredPoint]
    legs: dict[str, list[ScoredPoint]] = field(default_factory=dict)


class VectorStore(Protocol):
    """One collection with named dense vectors (``text``, ``image``) and a JSON payload per point.

    Payload keys every backend relies on: ``doc_id`` (filters and deletes), ``file_name``,
    ``page``, ``chunk_no``, ``kind``, ``text``, ``start``, ``end``, ``strategy``.
    """

    backend: str

    def ensure_collection(
        self, dims: Mapping[str, int], distances: Mapping[str, str] | None = None
    ) -> None:
        """Create the collection with these named spaces, or check an existing one matches.

        ``distances`` maps a space to ``cosine`` (the default) or ``dot`` (for models trained
        on dot-product scores, whose raw vectors are stored as they are).
        Raises ``SchemaMismatch`` when an existing collection has other sizes or distances.
        """
        ...

    def upsert(self, points: Sequence[Point]) -> None: ...

    def delete_document(self, doc_id: str) -> None:
        """Remove every point of a document; deleting an unknown document is not an error."""
        ...

    def count(self, doc_id: str | None = None) -> int: ...

    def capacity_left(self) -> int | None:
        """How many more points fit, or None when the store has no limit."""
        ...

    def scroll(self, doc_id: str | None = None) -> Iterator[ScoredPoint]:
        """Every point (id and payload; score 0), optionally of one document."""
        ...

    def scroll_points(self, doc_id: str | None = None) -> Iterator[Point]:
        """Every point with its vectors and payload, optionally of one document (to copy vectors)."""
        ...

    def with_collection(self, name: str) -> VectorStore:
        """This store seen through another collection, sharing its connection (or folder)."""
        ...

    def drop_collection(self) -> None:
        """Delete this collection and all its points; dropping one that does not exist is fine."""
        ...

    def query(self, request: DenseQuery) -> DenseResult: ...

    def distances(self) -> dict[str, str]:
        """Each space's distance as the collection was created ({} while it does not exist)."""
        ...

    def close(self) -> None: ...
