"""Suite-wide settings, and a check that no process a test started outlives the run."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from multiprocessing import forkserver, resource_tracker
from pathlib import Path

import psycopg
import pytest

from tests.postgres_server import PostgresMissing, PostgresServer, find_bindir, running_cluster
from tests.processes import Processes

# gRPC's C core logs connection teardown ("Got goaway ... http2_error") at info level when the
# in-process VectorAI server stops; it is noise, and it must be set before grpc is imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

_PR_SET_CHILD_SUBREAPER = 36
# Seconds a child may take to exit after its test let go of it (a SIGTERMed server flushing).
_EXIT_GRACE = 5.0


@pytest.fixture()
def processes() -> Iterator[Processes]:
    """Start processes with ``processes.start(...)``; their groups are stopped at teardown."""
    group = Processes()
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL cluster for the session (``.url``: its maintenance database)."""
    # Fail, not skip: CI must run these tests, so a machine without the binaries is an error.
    try:
        find_bindir()
    except PostgresMissing as exc:
        pytest.fail(str(exc))
    with running_cluster() as server:
        yield server


@pytest.fixture()
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for this test (dropped afterwards): its ``postgresql://`` URL."""
    name = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(postgres_server.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.database_url(name)
    finally:
        # FORCE: a pool or a killed process the test left connected must not block the drop.
        with psycopg.connect(postgres_server.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_configure(config: pytest.Config) -> None:
    # Orphans (the grandchild of a SIGKILLed worker, a server's helper) are re-parented to this
    # process instead of init, so the session-end check below sees them too (Linux only).
    if sys.platform.startswith("linux") and not hasattr(config, "workerinput"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run, naming each command, if a process the tests started is still alive."""
    if not sys.platform.startswith("linux"):
        return
    _stop_own_helpers()
    deadline = time.monotonic() + _EXIT_GRACE
    while (alive := _live_children()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not alive:
        return
    lines = [f"  pid {pid}: {command}" for pid, command in alive.items()]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    _reap()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "processes started by the tests were still running at the end (now killed):"
    if reporter is not None:
        reporter.write_line("")
        reporter.write_line(message, red=True, bold=True)
        for line in lines:
            reporter.write_line(line, red=True)
    else:
        print(message, *lines, sep="\n", file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _stop_own_helpers() -> None:
    """multiprocessing's fork server and resource tracker serve this process until it exits."""
    server = getattr(forkserver, "_forkserver", None)
    if server is not None and getattr(server, "_forkserver_pid", None) is not None:
        with contextlib.suppress(Exception):
            server._stop()
    tracker = getattr(resource_tracker, "_resource_tracker", None)
    if tracker is not None and getattr(tracker, "_pid", None) is not None:
        with contextlib.suppress(Exception):
            tracker._stop()


def _live_children() -> dict[int, str]:
    """This process's children that are still running, by pid, with their command lines."""
    _reap()
    me = os.getpid()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # The command name may hold spaces and parentheses: fields follow the last ')'.
            state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
            if int(ppid) != me or state == "Z":
                continue
            raw = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        found[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def _reap() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
