"""Parse a file in a child process with a memory cap and a wall-clock limit, so no file can sink the worker."""

from __future__ import annotations

import contextlib
import ctypes
import io
import multiprocessing
import multiprocessing.process
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerProcess, set_spawning_popen
from pathlib import Path
from typing import Any, Protocol

from ingest.parsers import PARSER_LIBRARIES, ParseLimits, parse_file
from ingest.parsers.common import human_size
from ragcore.errors import CorruptFile, FileTooLarge, IngestError
from ragcore.types import ParsedDocument

# How often the waiting parent calls ``tick`` (the worker renews its job lease there).
TICK_SECONDS = 1.0
# Linux's prctl option asking for a signal when the parent process dies.
_PR_SET_PDEATHSIG = 1
_MB = 1024 * 1024


class ParseFn(Protocol):
    def __call__(
        self, path: Path, *, name: str, doc_id: str, limits: ParseLimits
    ) -> ParsedDocument: ...


@dataclass(frozen=True)
class SandboxLimits:
    """What one parse may use: seconds of wall-clock time and megabytes of memory.

    ``memory_mb`` is counted on top of the address space the reader process holds before it
    starts (the interpreter and the parsing libraries), so the limit means the same whatever
    the parent had loaded.

    >>> SandboxLimits(timeout_seconds=120, memory_mb=2048)
    """

    timeout_seconds: float = 120.0
    memory_mb: int = 2048

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0, got {self.timeout_seconds}")
        if self.memory_mb < 64:
            raise ValueError(f"memory_mb must be at least 64, got {self.memory_mb}")


@dataclass(frozen=True)
class SandboxRun:
    """How the last parse went: wall time, and the reader process's peak memory (None if unknown)."""

    seconds: float
    peak_rss_bytes: int | None


class ParseSandbox:
    """Runs ``parse_file`` in a forked child that cannot take the caller down with it.

    The child is forked from a small single-threaded server process (multiprocessing's
    "forkserver", started on first use with the parsers already imported), so a parse costs a
    fork, not a new interpreter. In the child an address-space limit turns runaway allocation
    into a MemoryError; the parent kills the child when the time limit passes, and a child that
    dies of a signal (a C library fault) becomes a readable ``IngestError``. The child also dies
    with its server, which dies with the parent, so a SIGKILLed worker leaves no parse behind.

    >>> sandbox = ParseSandbox(SandboxLimits(timeout_seconds=120, memory_mb=2048))
    >>> doc = sandbox.parse(path, name="report.pdf", doc_id=sha, limits=ParseLimits())
    """

    def __init__(
        self,
        limits: SandboxLimits = SandboxLimits(),
        *,
        parse: ParseFn = parse_file,
        grace_seconds: float = 5.0,
    ) -> None:
        if grace_seconds < 0:
            raise ValueError(f"grace_seconds must be >= 0, got {grace_seconds}")
        self.limits = limits
        self._parse = parse
        self._grace = grace_seconds
        self.last_run: SandboxRun | None = None

    def parse(
        self,
        path: Path,
        *,
        name: str,
        doc_id: str,
        limits: ParseLimits,
        tick: Callable[[], None] | None = None,
    ) -> ParsedDocument:
        """The parsed document, or the ``IngestError`` the parse raised or its limits caused.

        ``tick`` is called about once a second while the child works; whatever it raises (the
        worker's ``JobLost``) stops the child and propagates.
        """
        # The parsers' own time check (between PDF pages) gives the more precise message, so
        # it runs at the limit and the hard kill comes a little after.
        inner = replace(limits, timeout_seconds=self.limits.timeout_seconds)
        reader, writer = multiprocessing.Pipe(duplex=False)
        child = _new_process(
            target=_child_main,
            args=(writer, self._parse, path, name, doc_id, inner, self.limits.memory_mb),
            name=f"parse {name[:40]}",
            daemon=True,
        )
        started = time.monotonic()
        child.start()
        writer.close()  # the child holds the only write end: EOF means it is gone
        try:
            message = self._await(child, reader, started, name, tick)
        finally:
            reader.close()
            if child.is_alive():
                child.kill()
            child.join(5.0)
        status, payload, peak = message
        self.last_run = SandboxRun(time.monotonic() - started, peak)
        if status == "ok":
            return payload
        raise _rebuild_error(payload, name)

    def _await(
        self,
        child: Any,
        reader: Connection,
        started: float,
        name: str,
        tick: Callable[[], None] | None,
    ) -> tuple[str, Any, int | None]:
        deadline = started + self.limits.timeout_seconds + self._grace
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.last_run = SandboxRun(time.monotonic() - started, None)
                raise FileTooLarge(
                    f"{name} took longer than {self.limits.timeout_seconds:g} seconds to read, "
                    "the limit for one file; it was not ingested."
                )
            ready = wait([reader, child.sentinel], timeout=min(TICK_SECONDS, left))
            if reader in ready:
                try:
                    return pickle.loads(reader.recv_bytes())
                except (EOFError, OSError):
                    pass  # the child died before it could answer: judged below
            if ready:
                child.join(1.0)
                self.last_run = SandboxRun(time.monotonic() - started, None)
                raise _died(name, child.exitcode)
            if tick is not None:
                tick()


def _new_process(**kwargs: Any) -> multiprocessing.process.BaseProcess:
    """A forkserver child (POSIX) whose server preloads the parsers, so every fork starts warm."""
    # A library that fails to import is skipped by the server; its parser then says so itself.
    multiprocessing.set_forkserver_preload(["ingest.sandbox", *PARSER_LIBRARIES])
    return _ForkServerProcess(**kwargs)


class _Popen(popen_forkserver.Popen):
    """multiprocessing's forkserver launcher, minus the child's import of the parent's __main__.

    The stock launcher makes each child re-run the parent's main script or module before the
    target (CPython 3.11 never preloads it in the server): a second per parse under
    ``python -m bench...`` and, under Streamlit, whose ``__main__`` is the page script, a page
    run inside the child. The target here lives in an importable module and needs none of it.
    The body is the standard library's ``Popen._launch`` with those two keys dropped.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_name", None)
        prep_data.pop("init_main_from_path", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        # As the standard library does: a duplicate of the write end tells the child that
        # its parent is alive.
        parent_w = os.dup(w)
        close_fds = util.close_fds  # type: ignore[attr-defined]
        self.finalizer = util.Finalize(self, close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _ForkServerProcess(ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:
        return _Popen(process_obj)


def _child_main(
    conn: Connection,
    parse: ParseFn,
    path: Path,
    name: str,
    doc_id: str,
    limits: ParseLimits,
    memory_mb: int,
) -> None:
    _die_with_parent()
    _limit_memory(memory_mb)
    try:
        doc = parse(path, name=name, doc_id=doc_id, limits=limits)
        message: tuple[str, Any, int | None] = ("ok", doc, None)
    except MemoryError:
        message = ("error", _memory_error(name, memory_mb), None)
    except IngestError as exc:
        # Only the class and the message cross the pipe: a chained library exception may not
        # pickle, and the traceback stays in this process.
        what = (type(exc).__module__, type(exc).__qualname__, str(exc))
        if isinstance(exc.__cause__, MemoryError):  # a parser wrapped it as a damaged file
            what = _memory_error(name, memory_mb)
        message = ("error", what, None)
    except Exception as exc:  # a bug in a parser: this file fails, the worker does not
        message = ("error", _unexpected(name, exc), None)
    peak = _peak_rss_bytes()
    try:
        data = pickle.dumps((message[0], message[1], peak), protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        data = pickle.dumps(("error", _memory_error(name, memory_mb), peak))
    conn.send_bytes(data)
    conn.close()


def _memory_error(name: str, memory_mb: int) -> tuple[str, str, str]:
    return (
        FileTooLarge.__module__,
        FileTooLarge.__qualname__,
        f"{name} needed more than {human_size(memory_mb * _MB)} of memory to read, the limit "
        "for one file; it was not ingested.",
    )


def _unexpected(name: str, exc: Exception) -> tuple[str, str, str]:
    return (
        CorruptFile.__module__,
        CorruptFile.__qualname__,
        f"{name} could not be read ({type(exc).__name__}); it may be damaged.",
    )


def _rebuild_error(payload: tuple[str, str, str], name: str) -> IngestError:
    module, qualname, text = payload
    cls = getattr(sys.modules.get(module), qualname, None)
    if isinstance(cls, type) and issubclass(cls, IngestError):
        return cls(text)
    return CorruptFile(text or f"{name} could not be read; it may be damaged.")


def _died(name: str, exitcode: int | None) -> IngestError:
    if exitcode is not None and exitcode < 0:
        signum = -exitcode
        if signum == signal.SIGKILL:
            # Nobody here sent it: the kernel's out-of-memory killer is the usual sender.
            return FileTooLarge(
                f"{name} needed more memory than the machine could give while it was read "
                f"(the reader was stopped by the system); it was not ingested."
            )
        try:
            what = signal.Signals(signum).name
        except ValueError:
            what = f"signal {signum}"
        return CorruptFile(
            f"{name} could not be read: the reader stopped unexpectedly ({what}) on its "
            "content, which may be damaged or deliberately malformed; it was not ingested."
        )
    return CorruptFile(
        f"{name} could not be read: the reader quit without an answer (exit code {exitcode}); "
        "it was not ingested."
    )


def _die_with_parent() -> None:
    """Make this child die when the worker does, even by SIGKILL (Linux only).

    The child's parent is the fork server, which exits once no process holds its "alive"
    pipe; forked children inherit a hold on it, so this one lets go of its copy and asks the
    kernel for SIGKILL when the server exits.
    """
    if not sys.platform.startswith("linux"):
        return
    server = getattr(forkserver, "_forkserver", None)
    alive_fd = getattr(server, "_forkserver_alive_fd", None)
    if alive_fd is not None:
        with contextlib.suppress(OSError):
            os.close(alive_fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _limit_memory(memory_mb: int) -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the time limit still holds
        return
    base = _virtual_size_bytes()
    limit = base + memory_mb * _MB
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        # A reader killed by a signal must not leave a core file of a hostile document behind.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        return


def _virtual_size_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _peak_rss_bytes() -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
