"""Collections as the library sees them: membership in the catalog, and the same in the store.

The catalog is the authority on which document is in which collection. Every point of a
document also carries its collection ids in the payload (``collections``), so that a question
scoped to a collection is filtered inside the vector store's own query, on every leg. When a
membership changes, the catalog changes first, then the document's points are rewritten with
the new ids. A crash in between leaves stale payloads that `ingest check --repair` rewrites.

>>> papers = catalog.ensure_collection("Papers")
>>> add_documents(catalog, store, papers.id, [doc_id])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace

from ragcore.catalog import CollectionRecord, DocumentStatus
from ragcore.catalog.backend import CatalogBackend
from ragcore.errors import StoreUnavailable
from ragcore.stores.base import VectorStore
from ragcore.types import Point

# The payload key; a list of collection ids, ascending.
PAYLOAD_KEY = "collections"
# Points rewritten per upsert while relabelling one document.
_RELABEL_BATCH = 256


def with_collections(point: Point, collection_ids: Sequence[int]) -> Point:
    """``point`` with its payload's collection ids set to ``collection_ids``."""
    return replace(point, payload={**point.payload, PAYLOAD_KEY: sorted(collection_ids)})


def payload_collections(payload: dict[str, object]) -> tuple[int, ...]:
    """The collection ids a stored payload carries (none for points written before collections)."""
    value = payload.get(PAYLOAD_KEY)
    if not isinstance(value, list):
        return ()
    return tuple(sorted(int(v) for v in value if isinstance(v, int | float)))


def relabel(store: VectorStore, doc_id: str, collection_ids: Sequence[int]) -> int:
    """Rewrite the payload of ``doc_id``'s points to carry ``collection_ids``; returns how many.

    The store has no partial payload update that every backend supports (VectorAI DB takes
    upserts only), so the points are read back with their vectors and upserted whole.
    """
    batch: list[Point] = []
    rewritten = 0
    wanted = tuple(sorted(collection_ids))
    for point in store.scroll_points(doc_id):
        if payload_collections(point.payload) == wanted:
            continue
        batch.append(with_collections(point, wanted))
        if len(batch) >= _RELABEL_BATCH:
            store.upsert(batch)
            rewritten += len(batch)
            batch = []
    if batch:
        store.upsert(batch)
        rewritten += len(batch)
    return rewritten


def _indexed(catalog: CatalogBackend, doc_ids: Sequence[str]) -> list[str]:
    """The documents that may have points: queued ones get their labels when they are written."""
    wanted = set(doc_ids)
    return [
        d.id
        for d in catalog.list_documents()
        if d.id in wanted and d.status in (DocumentStatus.READY, DocumentStatus.PROCESSING)
    ]


def _open(store: VectorStore) -> None:
    """Open the store before the catalog changes, as deleting does: when another process holds
    it (the embedded store admits one), StoreUnavailable leaves membership as it was."""
    store.count()


def _relabel_all(
    catalog: CatalogBackend,
    store: VectorStore,
    doc_ids: Sequence[str],
    indexed: Sequence[str] | None = None,
) -> None:
    """Rewrite the labels of those of ``doc_ids`` that may have points (``indexed``, when the
    caller already read them)."""
    may_have_points = set(_indexed(catalog, doc_ids) if indexed is None else indexed)
    changed = [doc_id for doc_id in doc_ids if doc_id in may_have_points]
    labels = catalog.memberships(changed)
    for doc_id in changed:
        relabel(store, doc_id, labels.get(doc_id, ()))


def _relabelled(
    catalog: CatalogBackend,
    store: VectorStore,
    doc_ids: Sequence[str],
    change: Callable[[], list[str]],
) -> list[str]:
    """Run a membership ``change`` (it returns the documents it changed), then rewrite their
    points' labels; the store is opened first when any of ``doc_ids`` may have points."""
    indexed = _indexed(catalog, doc_ids)
    if indexed:
        _open(store)
    changed = change()
    # A document queued meanwhile gets its labels from the writer, which reads them last.
    _relabel_all(catalog, store, changed, indexed)
    return changed


def add_documents(
    catalog: CatalogBackend,
    store: VectorStore,
    collection: CollectionRecord,
    doc_ids: Sequence[str],
) -> list[str]:
    """Put documents in ``collection`` (copy: they stay in their other collections too).

    Returns the ids that were not members before. Nothing is stored or embedded again.
    """
    return _relabelled(
        catalog, store, doc_ids, lambda: catalog.add_to_collection(collection.id, doc_ids)
    )


def remove_documents(
    catalog: CatalogBackend,
    store: VectorStore,
    collection: CollectionRecord,
    doc_ids: Sequence[str],
) -> list[str]:
    """Take documents out of ``collection``; they stay in the library. Returns those removed."""
    return _relabelled(
        catalog, store, doc_ids, lambda: catalog.remove_from_collection(collection.id, doc_ids)
    )


def move_documents(
    catalog: CatalogBackend,
    store: VectorStore,
    doc_ids: Sequence[str],
    *,
    source: CollectionRecord,
    target: CollectionRecord,
) -> list[str]:
    """Move documents from ``source`` to ``target``; returns those that were in ``source``."""

    def move() -> list[str]:
        moved = catalog.remove_from_collection(source.id, doc_ids)
        catalog.add_to_collection(target.id, moved)
        return moved

    return _relabelled(catalog, store, doc_ids, move)


def delete_collection(catalog: CatalogBackend, store: VectorStore, name: str) -> list[str]:
    """Forget a collection; its documents stay. Returns the ids of its former members.

    Their points are relabelled too, though a deleted id matches no query (ids are never
    reused): a payload should say what the catalog says.
    """
    members = catalog.delete_collection(name)
    # Best effort: the deleted id matches nothing, so when another process holds the store the
    # stale ids can wait for `ingest check --repair`.
    with contextlib.suppress(StoreUnavailable):
        _relabel_all(catalog, store, members)
    return members
