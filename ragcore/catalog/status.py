"""What the System view shows of the catalog, whichever database holds it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogStatus:
    """The catalog as the System view shows it.

    ``location``: the SQLite file, or the PostgreSQL server (host, port, database; never the
    password). ``pool_size``/``pool_available``: connections the pool holds and how many of
    them are idle (None for SQLite, which has one connection). ``queue_depth``: queued jobs.
    """

    backend: str  # "sqlite" or "postgresql"
    version: str  # of the database engine
    location: str
    queue_depth: int
    running_jobs: int
    pool_size: int | None = None
    pool_available: int | None = None
