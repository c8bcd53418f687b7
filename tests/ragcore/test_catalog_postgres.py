"""What only the PostgreSQL catalog has: migrations, waiting for the server, lost connections.

Everything both backends do alike is in test_catalog_contract.py.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import psycopg
import pytest

from ragcore.catalog import Catalog
from ragcore.catalog.factory import open_catalog
from ragcore.catalog.postgres import MIGRATIONS, PostgresCatalog
from ragcore.errors import CatalogUnavailable, SchemaMismatch
from ragcore.settings import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- choosing the backend (no server needed) ---------------------------------------------------


def test_an_empty_url_opens_the_sqlite_file(tmp_path: Path) -> None:
    with open_catalog("", path=tmp_path / "data" / "catalog.sqlite3") as catalog:
        assert isinstance(catalog, Catalog)
        assert catalog.status().location == str(tmp_path / "data" / "catalog.sqlite3")


def test_another_scheme_is_refused_without_echoing_the_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must start with postgresql://") as refused:
        open_catalog("mysql://root:hunter2@db/rag", path=tmp_path / "c.sqlite3")
    assert "hunter2" not in str(refused.value)


def test_the_url_is_read_from_rag_catalog_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_CATALOG_URL", "postgresql://rag:secret@db:5432/rag")
    settings = Settings()
    assert settings.catalog_url.get_secret_value() == "postgresql://rag:secret@db:5432/rag"
    assert "secret" not in repr(settings)
    monkeypatch.delenv("RAG_CATALOG_URL")
    assert Settings().catalog_url.get_secret_value() == ""


def test_an_unreachable_server_is_waited_for_then_named() -> None:
    url = f"postgresql://rag:secret@127.0.0.1:{_free_port()}/rag"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(CatalogUnavailable, match=r"did not accept connections within 0\.5 s") as e:
        PostgresCatalog(url, startup_timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 5  # it retried until the time was up, no longer
    assert "127.0.0.1" in str(e.value) and "secret" not in str(e.value)


# --- against a real server ---------------------------------------------------------------------


@pytest.mark.postgres
def test_migrations_are_recorded_and_applied_once(postgres_url: str) -> None:
    with PostgresCatalog(postgres_url, startup_timeout=10):
        pass
    with PostgresCatalog(postgres_url, startup_timeout=10) as again:
        assert again.list_documents() == []
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]


@pytest.mark.postgres
def test_a_database_migrated_by_a_newer_app_is_refused(postgres_url: str) -> None:
    PostgresCatalog(postgres_url, startup_timeout=10).close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')")
    with pytest.raises(SchemaMismatch, match=r"newer version of this app \(schema 99"):
        PostgresCatalog(postgres_url, startup_timeout=10)


@pytest.mark.postgres
def test_processes_starting_at_once_migrate_once(postgres_url: str) -> None:
    """Several app replicas and workers starting together on an empty database."""
    start = threading.Barrier(4)
    opened: list[PostgresCatalog] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            start.wait(timeout=30)
            opened.append(PostgresCatalog(postgres_url, startup_timeout=10))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert not errors
        assert len(opened) == 4
        opened[0].enqueue("doc-a")
        assert [j.doc_id for j in opened[3].jobs()] == ["doc-a"]
    finally:
        for catalog in opened:
            catalog.close()
    with psycopg.connect(postgres_url) as conn:
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert count is not None and count[0] == len(MIGRATIONS)


@pytest.mark.postgres
def test_a_wrong_database_is_refused_at_once(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    started = time.monotonic()
    with pytest.raises(CatalogUnavailable, match="refused the catalog"):
        PostgresCatalog(url, startup_timeout=30)
    assert time.monotonic() - started < 5  # not worth waiting 30 s for


def _terminate_others(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgres
def test_a_connection_lost_mid_transaction_is_catalog_unavailable(postgres_url: str) -> None:
    with PostgresCatalog(postgres_url, startup_timeout=10) as catalog:
        catalog.enqueue("doc-a")
        with pytest.raises(CatalogUnavailable, match="unavailable"), catalog._write() as cur:
            cur.execute("UPDATE jobs SET progress = 0.5")
            assert _terminate_others(postgres_url) >= 1
            cur.execute("SELECT 1")
        # Nothing of the lost transaction was kept, and the next call gets a sound connection.
        [job] = catalog.jobs()
        assert job.progress == 0.0


@pytest.mark.postgres
def test_connections_killed_between_calls_are_replaced(postgres_url: str) -> None:
    """A server restart (or a proxy dropping idle connections) costs no failed call."""
    with PostgresCatalog(postgres_url, startup_timeout=10, min_connections=2) as catalog:
        catalog.enqueue("doc-a")
        assert _terminate_others(postgres_url) >= 1
        assert [j.doc_id for j in catalog.jobs()] == ["doc-a"]
        status = catalog.status()
        assert status.pool_size is not None and status.pool_size >= 1
