"""The catalog's one SQLite connection, shared by threads under a lock, with write transactions."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from ragcore.catalog.health import (
    catalog_corrupt,
    open_on_disk,
    quick_check_file,
    storage_error,
)
from ragcore.catalog.schema import connect
from ragcore.catalog.status import CatalogStatus
from ragcore.errors import CatalogCorrupt


class CatalogDatabase:
    """Owns the connection; the document and job halves of the Catalog build on it."""

    backend = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 3,
        busy_timeout: float = 30.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if busy_timeout < 0:
            raise ValueError(f"busy_timeout must be >= 0 seconds, got {busy_timeout}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_attempts = max_attempts
        self._clock = clock
        # Streamlit's UI thread and the background worker thread share one Catalog, and a
        # sqlite3 connection must not run two statements at once: the lock serialises them.
        self._lock = threading.Lock()
        # Set once SQLite reports the file damaged: from then on every write is refused, since
        # writing into a damaged b-tree can spread the damage to pages that were still sound.
        self._damage: CatalogCorrupt | None = None
        with self._storage_errors():
            self._conn: sqlite3.Connection | None = connect(
                str(self.path), busy_timeout=busy_timeout
            )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """A damaged file or a full disk as the error a person reads; other errors as they are."""
        try:
            yield
        except sqlite3.Error as exc:
            error = storage_error(exc, self.path)
            if error is None:
                raise
            if isinstance(error, CatalogCorrupt):
                self._damage = error
            raise error from exc

    def _refuse_if_damaged(self) -> None:
        if self._damage is not None:
            raise CatalogCorrupt(str(self._damage))

    def quick_check(self) -> None:
        """Raise CatalogCorrupt, and refuse writes from now on, if SQLite finds the file damaged.

        Runs when the catalog opens; long-running processes call it again (after a backup, in
        `ingest check`) to notice damage done since.
        """
        self._open_connection()  # a closed catalog says so, as for any other call
        with self._storage_errors():
            problem = quick_check_file(self.path)
        if problem is not None:
            self._damage = catalog_corrupt(self.path, problem)
            raise CatalogCorrupt(str(self._damage))

    def backup_to(self, target: Path) -> None:
        """Copy the catalog into the new file ``target`` with SQLite's online backup API.

        The copy is one consistent snapshot even while others write (it reads under one read
        transaction), made from the file on disk rather than this connection's page cache, so
        damage done to the file shows in the copy. It is left in rollback-journal mode: one
        file, no -wal.
        """
        self._open_connection()
        with self._storage_errors():
            self._refuse_if_damaged()
            source = open_on_disk(self.path)
            try:
                copy = sqlite3.connect(target, isolation_level=None)
                try:
                    source.backup(copy)
                    copy.execute("PRAGMA journal_mode = DELETE")
                finally:
                    copy.close()
            finally:
                source.close()

    def status(self) -> CatalogStatus:
        """The file, SQLite's version and the queue depth, for the System view."""
        with self._read() as conn:
            queued, running = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'queued'), "
                "count(*) FILTER (WHERE status = 'running') FROM jobs"
            ).fetchone()
        return CatalogStatus(
            backend=self.backend,
            version=sqlite3.sqlite_version,
            location=str(self.path),
            queue_depth=int(queued),
            running_jobs=int(running),
        )

    def _now(self) -> float:
        return float(self._clock())

    def _json(self, value: Any) -> object:
        """A JSON column's value: SQLite keeps it as text."""
        return json.dumps(value)

    def _array(self, values: list[Any] | None) -> object:
        """A list as one parameter, read back in SQL with json_each (no SQL-variable limit)."""
        return None if values is None else json.dumps(values)

    def _open_connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the catalog {self.path} was closed; open a new Catalog")
        return self._conn

    @contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs (a deferred transaction never blocks writers).

        Every read here is one snapshot, so ``snapshot`` (PostgreSQL's choice) changes nothing.
        """
        with self._lock, self._storage_errors():
            conn = self._open_connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock from its first statement (other processes wait)."""
        with self._lock, self._storage_errors():
            self._refuse_if_damaged()
            conn = self._open_connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # some errors already rolled it back
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                # Never leave the shared connection inside a half-finished transaction.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
