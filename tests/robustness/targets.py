"""Parsers gone wrong, for the sandbox's tests; module level, so a forked child can import them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ingest.parsers import ParseLimits, parse_file
from ragcore.types import ParsedDocument


def sleepy_parse(path: Path, *, name: str, doc_id: str, limits: ParseLimits) -> ParsedDocument:
    """Writes its process id next to ``path`` (``<path>.pid``), then sleeps for a minute."""
    Path(f"{path}.pid").write_text(str(os.getpid()))
    time.sleep(60)
    raise AssertionError("sleepy_parse was not stopped")


def napping_parse(path: Path, *, name: str, doc_id: str, limits: ParseLimits) -> ParsedDocument:
    """The real parser after a 3-second nap (a slow but healthy file); the pid goes to ``<path>.pid``."""
    Path(f"{path}.pid").write_text(str(os.getpid()))
    time.sleep(3)
    return parse_file(path, name=name, doc_id=doc_id, limits=limits)


def greedy_parse(path: Path, *, name: str, doc_id: str, limits: ParseLimits) -> ParsedDocument:
    """Allocates memory until something stops it (8 GB at most)."""
    hoard = [bytearray(1 << 20) for _ in range(8 * 1024)]
    raise AssertionError(f"greedy_parse allocated {len(hoard)} MB without being stopped")


def segfault_parse(path: Path, *, name: str, doc_id: str, limits: ParseLimits) -> ParsedDocument:
    """Dies of SIGSEGV, as a fault in a C image or PDF decoder would."""
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("still alive after SIGSEGV")


def buggy_parse(path: Path, *, name: str, doc_id: str, limits: ParseLimits) -> ParsedDocument:
    """Raises a plain library exception, not an IngestError."""
    raise KeyError("/Root")
