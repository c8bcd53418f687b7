"""A throw-away PostgreSQL cluster for the ``postgres`` tests: initdb, start, stop, delete.

Each run gets its own cluster in a temporary directory, on a free loopback port, with its unix
socket inside that directory, so it never meets another cluster on the machine (Debian's own
``main`` cluster included) nor a second test run. It is tuned for throw-away data: no fsync,
small buffers. ``running_cluster()`` stops the server (``pg_ctl stop -m immediate``, then
SIGKILL of its process group) and deletes the directory however the ``with`` block ends.

>>> with running_cluster() as server:
...     psycopg.connect(server.url)  # postgresql://postgres@127.0.0.1:PORT/postgres

PostgreSQL refuses to run as root; as root the cluster belongs to, and runs as, the
``postgres`` OS user (Debian's package creates it). Run by hand for a benchmark, it prints its
URL and serves until Ctrl-C: ``python -m tests.postgres_server``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

# The superuser initdb creates; trust authentication, so URLs carry no password.
SUPERUSER = "postgres"
INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, postgres, pg_ctl) were not found: `make test` "
    "installs Debian's postgresql package (apt-get install postgresql)"
)
_START_SECONDS = 30.0
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
    "logging_collector": "off",
}


class PostgresMissing(RuntimeError):
    """The server binaries are not installed."""


@dataclasses.dataclass(frozen=True)
class PostgresServer:
    """A running cluster: connect as ``SUPERUSER`` over TCP on ``host``:``port``."""

    host: str
    port: int
    data_dir: Path
    pid: int

    @property
    def url(self) -> str:
        """The URL of the ``postgres`` maintenance database (base URL for ``database_url``)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{name}"

    def __str__(self) -> str:
        return self.url

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        """A new, empty database for the block (dropped after it, even if still connected)."""
        name = f"t_{uuid.uuid4().hex}"
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.database_url(name)
        finally:
            with psycopg.connect(self.url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def find_bindir() -> Path:
    """The directory holding initdb/postgres/pg_ctl, or ``PostgresMissing`` naming the fix."""
    candidates: list[str] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=10
        )
        candidates.append(out.stdout.strip())
    # Newest major version first: /usr/lib/postgresql/15/bin before .../13/bin.
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        bindir = Path(candidate)
        if all((bindir / name).is_file() for name in ("initdb", "postgres", "pg_ctl")):
            return bindir
    raise PostgresMissing(INSTALL_HINT)


def _run_as() -> str | None:
    """The OS user the cluster runs as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError as exc:
        raise PostgresMissing(
            f"running as root needs the '{SUPERUSER}' OS user; {INSTALL_HINT}"
        ) from exc
    return SUPERUSER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresServer]:
    """initdb a cluster in a temp dir, serve it for the block, then stop it and delete it."""
    bindir = find_bindir()
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="pgtest-"))
    try:
        if user is not None:
            shutil.chown(root, user=user, group=pwd.getpwnam(user).pw_gid)
        data_dir = root / "data"
        _initdb(bindir, data_dir, user=user, cwd=root)
        # A port picked free may be taken before postgres binds it: try another one.
        for attempt in range(3):
            with _serving(bindir, root, data_dir, _free_port(), user=user) as server:
                if server is None:
                    if attempt == 2:
                        raise RuntimeError(f"postgres could not bind a port: {_log_tail(root)}")
                    continue
                yield server
                return
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _initdb(bindir: Path, data_dir: Path, *, user: str | None, cwd: Path) -> None:
    command = [
        str(bindir / "initdb"),
        "-D",
        str(data_dir),
        "-U",
        SUPERUSER,
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]
    result = subprocess.run(
        command, cwd=cwd, user=user, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed ({result.returncode}): {result.stderr or result.stdout}")


@contextlib.contextmanager
def _serving(
    bindir: Path, root: Path, data_dir: Path, port: int, *, user: str | None
) -> Iterator[PostgresServer | None]:
    """Run the postmaster on ``port`` for the block; yields None if it could not bind."""
    settings = {**_SETTINGS, "port": str(port), "unix_socket_directories": str(root)}
    command = [str(bindir / "postgres"), "-D", str(data_dir)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    log_path = root / "postgres.log"
    with open(log_path, "ab") as log:
        # The postmaster is our direct child, in its own group with its backends, so it can be
        # stopped as a group and the session-end check in conftest sees it if anything leaks.
        process = subprocess.Popen(
            command,
            cwd=root,
            user=user,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        server = PostgresServer(host="127.0.0.1", port=port, data_dir=data_dir, pid=process.pid)
        if not _wait_ready(process, server, root):
            yield None
            return
        yield server
    finally:
        _stop(bindir, data_dir, process, user=user, cwd=root)


def _wait_ready(process: subprocess.Popen[Any], server: PostgresServer, root: Path) -> bool:
    """True once the server accepts connections; False if it exited because the port was taken."""
    deadline = time.monotonic() + _START_SECONDS
    while True:
        if process.poll() is not None:
            if "could not bind" in _log_tail(root) or "Address already in use" in _log_tail(root):
                return False
            raise RuntimeError(f"postgres exited with {process.returncode}: {_log_tail(root)}")
        try:
            with psycopg.connect(server.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres did not accept connections within {_START_SECONDS:g} s: "
                    f"{_log_tail(root)}"
                ) from None
            time.sleep(0.05)


def _stop(
    bindir: Path, data_dir: Path, process: subprocess.Popen[Any], *, user: str | None, cwd: Path
) -> None:
    """Immediate shutdown (the data is thrown away), then SIGKILL the group if anything is left."""
    if process.poll() is None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [str(bindir / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "immediate", "-w"],
                cwd=cwd,
                user=user,
                capture_output=True,
                timeout=15,
                check=False,
            )
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
    # Backends the postmaster left behind share its process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


def _log_tail(root: Path, chars: int = 2000) -> str:
    try:
        return (root / "postgres.log").read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Serve a cluster until Ctrl-C (or SIGTERM), printing its URL: for benchmarks by hand."""
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    with running_cluster() as server:
        print(f"PostgreSQL ready in {time.monotonic() - started:.1f} s: {server.url}", flush=True)
        print("Ctrl-C stops it and deletes its data.", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
