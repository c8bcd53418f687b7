"""The catalog on PostgreSQL, for server mode: app replicas and workers on several hosts share it."""

from __future__ import annotations

from ragcore.catalog.postgres.collections import CollectionsMixin
from ragcore.catalog.postgres.conversations import ConversationsMixin
from ragcore.catalog.postgres.documents import DocumentsMixin
from ragcore.catalog.postgres.jobs import JobsMixin
from ragcore.catalog.postgres.migrations import MIGRATIONS, migrate
from ragcore.catalog.postgres.spaces import SpacesMixin


class PostgresCatalog(DocumentsMixin, JobsMixin, SpacesMixin, ConversationsMixin, CollectionsMixin):
    """Documents, chunks with a BM25 keyword index, model spaces, jobs, conversations and
    collections in a PostgreSQL database, behind the same ``CatalogBackend`` interface as the SQLite ``Catalog``.

    Opening waits (with backoff) up to ``startup_timeout`` seconds for the server, then applies
    the schema migrations it lacks. Safe to share between threads (a connection pool) and
    between processes and hosts (jobs are claimed with ``FOR UPDATE SKIP LOCKED``).

    Example::

        catalog = PostgresCatalog("postgresql://rag@db.internal/rag", startup_timeout=60)
        job = catalog.claim_job("host-2:worker-1", lease_seconds=60)
    """


__all__ = ["MIGRATIONS", "PostgresCatalog", "migrate"]
