"""Open the catalog a URL names: PostgreSQL for ``postgresql://...``, else the SQLite file."""

from __future__ import annotations

from pathlib import Path

from ragcore.catalog.backend import CatalogBackend

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_catalog(
    url: str,
    *,
    path: Path,
    startup_timeout: float = 60.0,
    pool_size: int = 10,
) -> CatalogBackend:
    """The PostgreSQL catalog at ``url``, or (``url`` empty) the SQLite catalog file ``path``.

    Opening PostgreSQL waits up to ``startup_timeout`` seconds for the server, with the same
    backoff as the VectorAI store, and migrates its schema.

    >>> open_catalog("", path=data_dir / "catalog.sqlite3")  # one person, one machine
    >>> open_catalog("postgresql://rag@db/rag", path=...)      # server mode, several hosts
    """
    if not url:
        from ragcore.catalog import Catalog

        path.parent.mkdir(parents=True, exist_ok=True)
        return Catalog(path)
    if not url.startswith(POSTGRES_SCHEMES):
        # Not echoed whole: a URL may carry a password.
        scheme = url.split("://", 1)[0] if "://" in url else "no scheme"
        raise ValueError(
            "the catalog URL must start with postgresql:// (or be empty for the SQLite file), "
            f"got {scheme!r}"
        )
    # Imported here: the embedded default never loads the PostgreSQL driver.
    from ragcore.catalog.postgres import PostgresCatalog

    return PostgresCatalog(url, startup_timeout=startup_timeout, max_connections=pool_size)
