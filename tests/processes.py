"""Processes that tests start: in their own group, stopped as a group on every outcome.

A test that starts a worker, a server or a browser must never leave it running: a leaked
``ingest worker`` kept a whole CPU busy for 18 minutes after pytest exited, and slowed every
test that came after it. ``started()`` puts the process in a new session (so its children,
such as the parse sandbox's fork server, share its process group) and kills that group when
the ``with`` block ends, however it ends. The session-end check in ``tests/conftest.py``
catches anything that still escapes.

>>> with started([sys.executable, "-m", "ingest", "worker"], env=env) as worker:
...     wait_until("the job to finish", lambda: job_done(), seconds=90)

Tests that start several processes, or must look at what a kill left behind before anything is
cleaned up, take the ``processes`` fixture (a ``Processes``): every group it started is
stopped at the test's teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any


def stop_group(process: subprocess.Popen[Any], *, grace: float = 10.0) -> None:
    """SIGTERM the process's group, then SIGKILL whatever is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its children may not be (a fork server, a parse child).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        return
    raise AssertionError(f"process {process.pid} ({process.args!r}) survived SIGKILL for 30 s")


@contextlib.contextmanager
def started(
    command: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    grace: float = 10.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in a new process group for the ``with`` block; stop the group after."""
    process = subprocess.Popen(
        list(command), cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=True
    )
    try:
        yield process
    finally:
        stop_group(process, grace=grace)


class Processes:
    """Starts processes in their own groups and stops every group in ``stop_all()``."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        command: Sequence[str],
        *,
        cwd: Path | str | None = None,
        env: dict[str, str] | None = None,
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
    ) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        self._started.append(process)
        return process

    def stop_all(self, *, grace: float = 10.0) -> None:
        errors = []
        for process in reversed(self._started):
            try:
                stop_group(process, grace=grace)
            except AssertionError as exc:
                errors.append(str(exc))
        self._started.clear()
        if errors:
            raise AssertionError("; ".join(errors))


def wait_until(
    what: str,
    condition: Callable[[], bool],
    *,
    seconds: float,
    every: float = 0.05,
    state: Callable[[], object] | None = None,
) -> None:
    """Poll ``condition`` until it holds; after ``seconds`` fail naming ``what`` and the state."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            seen = f"; last seen: {state()!r}" if state is not None else ""
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}{seen}")
        time.sleep(every)
