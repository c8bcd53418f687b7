"""The PostgreSQL catalog's connection pool, its transactions, and its errors in our words."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from ragcore.backoff import retry_delays
from ragcore.catalog.postgres.migrations import migrate
from ragcore.catalog.status import CatalogStatus
from ragcore.errors import CatalogCorrupt, CatalogUnavailable, RagError, disk_full_error

Cursor = psycopg.Cursor[dict[str, Any]]

# Refusals that waiting will not cure: a wrong password, no such role or database.
_NOT_WORTH_WAITING = frozenset({"28P01", "28000", "3D000"})
_NOT_WORTH_WAITING_TEXT = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # the database or the role
)
# Advisory-lock keys (any 64-bit numbers no other code of ours uses): one serialises changes to
# the model spaces, the other the creation of a document's job of one kind.
SPACES_LOCK = 0x7261_6773_7061_6365  # "ragspace"
ENQUEUE_LOCK_SALT = 0x7261_676A_6F62


def describe_url(url: str) -> str:
    """host:port/database of a connection URL, without the password, for messages and status."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unreadable PostgreSQL URL)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def wait_for_server(url: str, timeout: float) -> None:
    """Return once the server accepts a connection, retrying with the VectorAI store's backoff.

    Raises CatalogUnavailable when ``timeout`` seconds pass, or at once when the server refuses
    us for good (password, role, database).
    """
    delays = retry_delays(timeout)
    while True:
        try:
            with psycopg.connect(url, connect_timeout=max(2, min(10, int(timeout) or 2))):
                return
        except psycopg.OperationalError as exc:
            last = exc
            if _for_good(exc):
                raise CatalogUnavailable(
                    f"PostgreSQL at {describe_url(url)} refused the catalog: {_plain(exc)}"
                ) from exc
        delay = next(delays, None)
        if delay is None:
            raise CatalogUnavailable(
                f"PostgreSQL at {describe_url(url)} did not accept connections within "
                f"{timeout:g} s: last error {_plain(last)}"
            ) from last
        time.sleep(delay)


def _for_good(exc: psycopg.OperationalError) -> bool:
    """Whether the server turned us away for a reason that waiting will not cure."""
    # A failed connect often carries no SQLSTATE, only the server's FATAL message.
    text = str(exc)
    return exc.sqlstate in _NOT_WORTH_WAITING or any(m in text for m in _NOT_WORTH_WAITING_TEXT)


def _plain(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class PostgresDatabase:
    """Owns the pool; the documents, jobs, spaces and conversations halves build on it.

    Every call takes a connection from the pool for one transaction and gives it back, so one
    PostgresCatalog serves every thread of a process; several processes on several hosts share
    the database itself.
    """

    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 3,
        startup_timeout: float = 60.0,
        min_connections: int = 1,
        max_connections: int = 10,
        pool_timeout: float = 30.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if startup_timeout < 0:
            raise ValueError(f"startup_timeout must be >= 0 seconds, got {startup_timeout}")
        if not 1 <= min_connections <= max_connections:
            raise ValueError(
                f"need 1 <= min_connections <= max_connections, got {min_connections} and "
                f"{max_connections}"
            )
        if not url.startswith(("postgresql://", "postgres://")):
            # Not echoed: a URL may carry a password.
            raise ValueError("a PostgreSQL catalog URL starts with postgresql://")
        self.location = describe_url(url)
        self.max_attempts = max_attempts
        self._clock = clock
        wait_for_server(url, startup_timeout)
        with self._errors(), psycopg.connect(url) as conn:
            migrate(conn, where=self.location)
        # check_connection on every checkout costs one round trip and spares the caller a dead
        # connection after the server restarted (the pool replaces it instead).
        self._pool: ConnectionPool | None = ConnectionPool(
            url,
            min_size=min_connections,
            max_size=max_connections,
            timeout=pool_timeout,
            check=ConnectionPool.check_connection,
            name="catalog",
            open=False,
        )
        try:
            with self._errors():
                self._pool.open(wait=True, timeout=max(startup_timeout, 1.0))
        except BaseException:
            self.close()  # the pool's threads must not outlive a catalog that failed to open
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> float:
        return float(self._clock())

    def _json(self, value: Any) -> object:
        """A JSON column's value: psycopg writes it as JSONB."""
        return Jsonb(value)

    def _array(self, values: list[Any] | None) -> object:
        """A list as one parameter: psycopg sends it as a PostgreSQL array."""
        return values

    def _open_pool(self) -> ConnectionPool:
        if self._pool is None:
            raise RuntimeError(
                f"the catalog at {self.location} was closed; open a new PostgresCatalog"
            )
        return self._pool

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The server's failures as the errors the SQLite catalog raises for the same trouble;
        a lost connection as CatalogUnavailable, so the job in hand fails and is retried."""
        try:
            yield
        except RagError:
            raise
        except pg_errors.DiskFull as exc:
            raise disk_full_error(f"the PostgreSQL server at {self.location}") from exc
        except (pg_errors.DataCorrupted, pg_errors.IndexCorrupted) as exc:
            raise CatalogCorrupt(
                f"The catalog database at {self.location} reports damaged data ({_plain(exc)}); "
                "restore it from a backup (pg_dump or the server's archive)."
            ) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            if isinstance(exc, pg_errors.TransactionRollback):
                raise  # a deadlock or serialisation failure is a bug of ours, not an outage
            raise CatalogUnavailable(
                f"the catalog database at {self.location} is unavailable: {_plain(exc)}"
            ) from exc

    @contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[Cursor]:
        """A read-only transaction; ``snapshot`` makes its SELECTs see one moment in time."""
        with self._errors():
            pool = self._open_pool()
            with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                if snapshot:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield cur

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        """One transaction, committed when the block ends, rolled back if it raises."""
        with self._errors():
            pool = self._open_pool()
            with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                yield cur

    def status(self) -> CatalogStatus:
        """Server version, pool use and queue depth, for the System view."""
        pool = self._open_pool()
        with self._read() as cur:
            version = cur.execute("SHOW server_version").fetchone()
            counts = cur.execute(
                "SELECT count(*) FILTER (WHERE status = 'queued') AS queued, "
                "count(*) FILTER (WHERE status = 'running') AS running FROM jobs"
            ).fetchone()
        stats = pool.get_stats()
        assert version is not None and counts is not None
        return CatalogStatus(
            backend=self.backend,
            version=str(version["server_version"]),
            location=self.location,
            queue_depth=int(counts["queued"]),
            running_jobs=int(counts["running"]),
            pool_size=int(stats.get("pool_size", 0)),
            pool_available=int(stats.get("pool_available", 0)),
        )
