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

    def describe(self) -> str:
        """One line for the System view.

        >>> CatalogStatus("postgresql", "15.14", "db:5432/rag", 4, 1, 10, 7).describe()
        'Catalog: PostgreSQL 15.14 at `db:5432/rag` · pool 7 of 10 connections idle · jobs: 4 queued, 1 running'
        """
        name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(self.backend, self.backend)
        where = "file" if self.backend == "sqlite" else "at"
        parts = [f"Catalog: {name} {self.version} {where} `{self.location}`"]
        if self.pool_size is not None:
            parts.append(f"pool {self.pool_available} of {self.pool_size} connections idle")
        parts.append(f"jobs: {self.queue_depth} queued, {self.running_jobs} running")
        return " · ".join(parts)
