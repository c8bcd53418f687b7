"""Model spaces at run time: which collection and text model answer now, followed across a switch."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from ragcore.catalog import SpaceRecord, SpaceStatus
from ragcore.catalog.backend import CatalogBackend
from ragcore.errors import CollectionMissing, SchemaMismatch, SpaceMoved
from ragcore.models.base import TextEmbedder
from ragcore.models.loader import Models
from ragcore.models.provenance import fingerprint_of
from ragcore.models.registry import COSINE, slug
from ragcore.stores.base import DenseQuery, DenseResult, VectorStore
from ragcore.types import TEXT_SPACE, Point, ScoredPoint


def space_name(collection: str, model_id: str, dim: int) -> str:
    """The collection of a model space: ``docqa__all-mpnet-base-v2_768``.

    Neither Qdrant nor VectorAI DB can add a named vector space to an existing collection, so
    each text model gets a collection of its own.
    """
    return f"{collection}__{slug(model_id)}_{dim}"


def distance_of(embedder: object) -> str:
    """The embedder's distance (``cosine`` for fakes and models that do not say)."""
    return str(getattr(embedder, "distance", COSINE) or COSINE)


def check_model_fits(space: SpaceRecord, text: TextEmbedder) -> None:
    """Refuse a text model whose vectors the space cannot hold or would compare wrongly."""
    if text.dim != space.dim:
        raise SchemaMismatch(
            f"The model space {space.name!r} holds {space.dim}-dimension vectors made by "
            f"{space.model_id}, but the model {text.model_id} produces {text.dim}-dimension "
            "vectors. Re-embed into a new space (python -m ingest reembed --model "
            f"{text.model_id}) instead of reusing this one."
        )
    distance = distance_of(text)
    if distance != space.distance:
        raise SchemaMismatch(
            f"The model space {space.name!r} compares vectors by {space.distance}, but "
            f"{text.model_id} needs {distance}. Re-embed into a new space."
        )


@dataclass(frozen=True)
class Pinned:
    """One consistent choice for a whole question or ingestion: the space, its model, its collection."""

    space: SpaceRecord | None  # None when the store is a plain collection (benchmarks, tests)
    text: TextEmbedder
    store: VectorStore

    @property
    def space_name(self) -> str | None:
        return None if self.space is None else self.space.name


class SpaceSource(Protocol):
    """Where a question or an ingestion gets its (model, collection) pair, and learns it moved.

    ``SpaceRouter`` follows the catalog's active space; ``FixedSpace`` is one plain collection.
    """

    def pin(self) -> Pinned:
        """The pair to use throughout one question or ingestion."""
        ...

    def moved_since(self, pinned: Pinned) -> bool:
        """Whether another space became active after ``pinned`` was taken."""
        ...


@dataclass(frozen=True)
class FixedSpace:
    """One plain collection and the configured text model: it never moves (benchmarks, tests).

    >>> Retriever(catalog, store, models, spaces=FixedSpace(store, models))
    """

    store: VectorStore
    models: Models

    def pin(self) -> Pinned:
        return Pinned(None, self.models.text, self.store)

    def moved_since(self, pinned: Pinned) -> bool:
        return False


def spaces_for(store: VectorStore, models: Models) -> SpaceSource:
    """The space source of a store as callers hold it: a ``SpaceRouter`` is one already (the
    runtime's store); a plain collection (a benchmark's index) is a ``FixedSpace``."""
    if isinstance(store, SpaceRouter):
        return store
    return FixedSpace(store, models)


def pin(store: VectorStore, models: Models) -> Pinned:
    """The active space's model and collection when ``store`` follows spaces, else as given."""
    return spaces_for(store, models).pin()


@contextmanager
def moves_checked(spaces: SpaceSource, pinned: Pinned) -> Iterator[None]:
    """Work on ``pinned``'s collection, a collection that vanished meanwhile read as what it
    means when the active space moved: ``SpaceMoved``, the one failure worth a second try."""
    try:
        yield
    except CollectionMissing as exc:
        if not spaces.moved_since(pinned):
            raise
        raise SpaceMoved(
            f"the model space {pinned.space_name!r} was switched away from while in use"
        ) from exc


class SpaceRouter:
    """A vector store that is always the active model space's collection.

    Questions and ingestion call ``pin()`` once and use that (model, collection) pair
    throughout, so a switch between two of their steps cannot mix models. The Protocol's
    methods forward to the active collection; deletes also reach a space being built.

    The first use registers the configured collection and text model as the active space,
    so a library from before model spaces keeps working as it is.

    >>> router = SpaceRouter(store, catalog, models, default_collection="docqa")
    >>> pinned = router.pin()
    >>> pinned.store.query(DenseQuery([QueryLeg("text", pinned.text.embed_queries(["q"])[0], 10)], ...))
    """

    def __init__(
        self,
        root: VectorStore,
        catalog: CatalogBackend,
        models: Models,
        *,
        default_collection: str,
        image_dim: int | None = None,
    ) -> None:
        if not default_collection:
            raise ValueError("default_collection must be a non-empty collection name")
        self.root = root
        self.catalog = catalog
        self.models = models
        self.default_collection = default_collection
        self.image_dim = image_dim
        self.backend = root.backend
        self._views: dict[tuple[str, float], VectorStore] = {}
        self._lock = threading.Lock()

    # ── which space ────────────────────────────────────────────────

    def active(self) -> SpaceRecord:
        """The active space, registering the configured model's collection if there is none."""
        record = self.catalog.active_space()
        if record is not None:
            return record
        text = self.models.text
        return self.catalog.ensure_active_space(
            SpaceRecord(
                name=self.default_collection,
                model_id=text.model_id,
                fingerprint=fingerprint_of(text),
                dim=text.dim,
                distance=distance_of(text),
                image_dim=self.image_dim,
                status=SpaceStatus.ACTIVE,
            )
        )

    def view(self, space: SpaceRecord) -> VectorStore:
        """The store seen through the space's collection (one view per space generation)."""
        key = (space.name, space.created_at)
        with self._lock:
            if key not in self._views:
                self._views[key] = (
                    self.root
                    if space.name == getattr(self.root, "collection", None)
                    else self.root.with_collection(space.name)
                )
            return self._views[key]

    def pin(self) -> Pinned:
        space = self.active()
        text = self.models.text_for(space.model_id)
        check_model_fits(space, text)
        return Pinned(space, text, self.view(space))

    def moved_since(self, pinned: Pinned) -> bool:
        if pinned.space is None:
            return False
        active = self.catalog.active_space()
        return active is None or active.name != pinned.space.name

    def _active_view(self) -> VectorStore:
        return self.view(self.active())

    # ── the VectorStore Protocol, on the active space ──────────────

    def ensure_collection(
        self, dims: Mapping[str, int], distances: Mapping[str, str] | None = None
    ) -> None:
        space = self.active()
        metric = dict(distances or {})
        metric.setdefault(TEXT_SPACE, space.distance)
        self.view(space).ensure_collection(dims, metric)

    def upsert(self, points: Sequence[Point]) -> None:
        self._active_view().upsert(points)

    def delete_document(self, doc_id: str) -> None:
        # A space being built holds the document too; leaving it there would bring it back
        # (as an orphan) after the switch.
        self._active_view().delete_document(doc_id)
        pending = self.catalog.pending_space()
        if pending is not None:
            self.view(pending).delete_document(doc_id)

    def count(self, doc_id: str | None = None) -> int:
        return self._active_view().count(doc_id)

    def capacity_left(self) -> int | None:
        return self._active_view().capacity_left()

    def scroll(self, doc_id: str | None = None) -> Iterator[ScoredPoint]:
        return self._active_view().scroll(doc_id)

    def scroll_points(self, doc_id: str | None = None) -> Iterator[Point]:
        return self._active_view().scroll_points(doc_id)

    def with_collection(self, name: str) -> VectorStore:
        return self.root.with_collection(name)

    def drop_collection(self) -> None:
        raise ValueError(
            "refusing to drop the active model space: switch to another space first "
            "(python -m ingest reembed --model ...)"
        )

    def query(self, request: DenseQuery) -> DenseResult:
        return self._active_view().query(request)

    def distances(self) -> dict[str, str]:
        return self._active_view().distances()

    def close(self) -> None:
        self.root.close()
        with self._lock:
            self._views.clear()
