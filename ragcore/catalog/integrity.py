"""What `ingest check` reads of a catalog's own bookkeeping, whichever database holds it.

One ``CatalogIntegrity`` per backend (``sqlite_integrity``, ``postgres/integrity``), picked by
``catalog_integrity``. These are maintenance calls of one command, not what the app, the worker
or the benches ask of a catalog, so they stay out of ``CatalogBackend``: each backend's version
is written in its own SQL, beside the tables it reads, and the Protocol everyone else types
against keeps to the library's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ragcore.catalog.backend import CatalogBackend

# How many example row ids (or terms) a state carries; the counts are always complete.
SAMPLE = 20


@dataclass(frozen=True)
class KeywordIndexState:
    """How the keyword (BM25) index compares with the chunk rows it indexes.

    ``missing``: chunk rows the index does not hold; ``extra``: index entries whose row is gone
    (both samples, with full counts); ``stale``: entries whose document or terms differ from
    their chunk row's; ``statistics``: the corpus statistics BM25 reads (chunk count, total
    length, each term's document frequency) where they differ from a recount of the entries,
    one phrase each; ``error``: what the index's own integrity check said, if not ok.
    """

    chunk_rows: int
    indexed_rows: int
    missing_count: int
    extra_count: int
    missing: tuple[int, ...]
    extra: tuple[int, ...]
    error: str | None = None
    stale_count: int = 0
    stale: tuple[int, ...] = ()
    statistics: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (
            self.missing_count or self.extra_count or self.stale_count or self.statistics
        ) and (self.error is None)


@dataclass(frozen=True)
class ChunkRef:
    """Where a vector-store point belongs according to the catalog."""

    doc_id: str
    chunk_no: int


class CatalogIntegrity(Protocol):
    """The catalog's self-checks and repairs that `ingest check` runs.

    >>> integrity = catalog_integrity(rt.catalog)
    >>> integrity.check_storage()                  # CatalogCorrupt on a damaged SQLite file
    >>> if not integrity.keyword_index_state().ok:
    ...     integrity.rebuild_keyword_index()
    """

    backend: str
    # What restores a catalog too damaged to read, in a sentence for a person.
    restore_advice: str

    def check_storage(self) -> None:
        """Raise CatalogCorrupt if the database reports damaged storage."""
        ...

    def keyword_index_state(self) -> KeywordIndexState: ...

    def rebuild_keyword_index(self) -> None:
        """Rebuild the keyword index and its statistics from the chunk rows, in one transaction."""
        ...

    def chunk_refs(self) -> dict[str, ChunkRef]:
        """Every chunk's point id and where it belongs, without loading the chunks' text."""
        ...

    def chunk_counts(self) -> dict[str, tuple[int, int]]:
        """Per document id: (text chunk rows, image chunk rows)."""
        ...

    def delete_chunks_without_document(self) -> int:
        """Remove chunk rows whose document row is gone, with their keyword entries; how many."""
        ...


def catalog_integrity(catalog: CatalogBackend) -> CatalogIntegrity:
    """The integrity checks for ``catalog``'s backend (SQLite file or PostgreSQL database)."""
    from ragcore.catalog.database import CatalogDatabase

    if isinstance(catalog, CatalogDatabase):
        from ragcore.catalog.sqlite_integrity import SqliteIntegrity

        return SqliteIntegrity(catalog)
    if getattr(catalog, "backend", "") == "postgresql":
        # Imported here: the embedded default never loads the PostgreSQL driver.
        from ragcore.catalog.postgres.database import PostgresDatabase
        from ragcore.catalog.postgres.integrity import PostgresIntegrity

        if isinstance(catalog, PostgresDatabase):
            return PostgresIntegrity(catalog)
    raise TypeError(f"no integrity checks for a catalog of type {type(catalog).__name__}")
