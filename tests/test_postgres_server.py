"""The throw-away PostgreSQL cluster: it serves, gives each test its own database, and stops."""

from __future__ import annotations

import os
import time

import psycopg
import pytest

from tests.postgres_server import PostgresServer, running_cluster

pytestmark = pytest.mark.postgres

# Databases seen by the parametrised test below, to show each run of it had its own.
_SEEN: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_empty_database(
    postgres_server: PostgresServer, postgres_url: str, run: int
) -> None:
    with psycopg.connect(postgres_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        assert tables == (0,), "a database must start empty"
        # Would fail in the second run if the first run's database were shared.
        conn.execute("CREATE TABLE marker (run int)")
        conn.execute("INSERT INTO marker VALUES (%s)", (run,))
    assert name[0] not in _SEEN
    _SEEN.append(name[0])
    with psycopg.connect(postgres_server.url) as admin:
        names = {row[0] for row in admin.execute("SELECT datname FROM pg_database")}
    assert name[0] in names
    # The earlier run's database was dropped at its teardown.
    assert not (set(_SEEN[:-1]) & names)


def test_a_cluster_is_gone_after_its_block() -> None:
    started = time.monotonic()
    with running_cluster() as server:
        seconds = time.monotonic() - started
        with psycopg.connect(server.url) as conn:
            version = conn.execute("SHOW server_version_num").fetchone()
            settings = dict(conn.execute("SELECT name, setting FROM pg_settings").fetchall())
        assert version is not None and int(version[0]) >= 130000
        assert settings["fsync"] == "off"
        assert settings["listen_addresses"] == "127.0.0.1"
        assert server.data_dir.is_dir()
    assert seconds < 30
    assert not server.data_dir.exists(), "the cluster's directory must be deleted"
    try:
        os.kill(server.pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"postmaster {server.pid} still running after the block")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=2)


def test_a_cluster_stops_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), running_cluster() as server:
        raise RuntimeError("boom")
    assert not server.data_dir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)
