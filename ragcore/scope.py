"""Which documents a question may draw on: a collection, picked documents, file types, dates.

A collection is filtered inside each search (BM25's SQL and the store's payload filter on every
dense leg); the other filters are resolved here, in the catalog, to a list of document ids that
every search is given as well. The default scope is the whole library.

>>> scope = Scope(collection=papers.id, kinds=frozenset({"PDF"}))
>>> allowed_documents(catalog, scope)
['3f2a…', '9c1d…']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath

from ragcore.catalog.backend import CatalogBackend

# File types a person filters by, as the suffixes of the names their documents were added under.
FILE_KINDS: Mapping[str, frozenset[str]] = {
    "PDF": frozenset({".pdf"}),
    "Word": frozenset({".docx"}),
    "PowerPoint": frozenset({".pptx"}),
    "Spreadsheet": frozenset({".xlsx", ".xlsm", ".csv", ".tsv"}),
    "Web page": frozenset({".html", ".htm"}),
    "Markdown": frozenset({".md", ".markdown"}),
    "Text": frozenset({".txt", ".text", ".rst", ".log"}),
    "Image": frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"}),
}


def file_kind(name: str) -> str:
    """The FILE_KINDS label of a document called ``name`` ("Other" for none of them)."""
    suffix = PurePath(name).suffix.lower()
    return next((kind for kind, suffixes in FILE_KINDS.items() if suffix in suffixes), "Other")


@dataclass(frozen=True)
class Scope:
    """Filters that all hold at once; each left at its default lets everything through."""

    collection: int | None = None  # a collection's id
    doc_ids: tuple[str, ...] | None = None  # documents picked by hand
    kinds: frozenset[str] = frozenset()  # FILE_KINDS labels
    added_from: float | None = None  # seconds since the epoch, inclusive
    added_until: float | None = None  # seconds since the epoch, exclusive

    def __post_init__(self) -> None:
        unknown = sorted(self.kinds - set(FILE_KINDS) - {"Other"})
        if unknown:
            raise ValueError(f"unknown file types {unknown}; known: {sorted(FILE_KINDS)}")

    @property
    def filters_documents(self) -> bool:
        """Whether a list of document ids must be worked out (anything but the collection)."""
        return (
            self.doc_ids is not None
            or bool(self.kinds)
            or self.added_from is not None
            or self.added_until is not None
        )


def allowed_documents(catalog: CatalogBackend, scope: Scope) -> list[str] | None:
    """The ids of the documents ``scope``'s file, date and pick filters allow; None: no filter.

    An empty list means nothing is allowed (the searches then find nothing). The collection is
    not applied here: the searches filter on it themselves.
    """
    if not scope.filters_documents:
        return None
    picked = set(scope.doc_ids) if scope.doc_ids is not None else None
    allowed = []
    for doc in catalog.list_documents():
        if picked is not None and doc.id not in picked:
            continue
        if scope.kinds and file_kind(doc.name) not in scope.kinds:
            continue
        if scope.added_from is not None and doc.created_at < scope.added_from:
            continue
        if scope.added_until is not None and doc.created_at >= scope.added_until:
            continue
        allowed.append(doc.id)
    return allowed
