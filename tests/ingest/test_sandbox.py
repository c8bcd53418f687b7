"""The parse sandbox: results cross the process boundary intact, and every limit becomes a clear IngestError."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ingest.parsers import ParseLimits, parse_file
from ingest.sandbox import ParseSandbox, SandboxLimits
from ingest.service import build_worker
from ragcore import library
from ragcore.errors import CorruptFile, EncryptedFile, FileTooLarge
from ragcore.testing.documents import make_png, make_text_pdf
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy
from tests.processes import Processes
from tests.robustness import targets

# Every parse here runs in a child process (the sandbox), so the module is not a unit test.
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LIMITS = ParseLimits()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its parent (the fork server).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_child_parse_equals_in_process_parse(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "a.pdf", ["First page words.", "Second page."], image_on_page=2)
    sandbox = ParseSandbox(SandboxLimits(timeout_seconds=60))
    inside = sandbox.parse(pdf, name="a.pdf", doc_id="d1", limits=LIMITS)
    # The sandbox applies its time limit to the parsers' own page-by-page check as well.
    assert inside == parse_file(pdf, name="a.pdf", doc_id="d1", limits=LIMITS)
    assert sandbox.last_run is not None and sandbox.last_run.peak_rss_bytes
    assert 0 < sandbox.last_run.seconds < 60


def test_ingest_errors_keep_their_class_and_message(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "locked.pdf", ["secret"], user_password="pw")
    with pytest.raises(EncryptedFile, match=r"^locked\.pdf is password-protected"):
        ParseSandbox().parse(pdf, name="locked.pdf", doc_id="d", limits=LIMITS)


def test_time_limit_stops_the_child_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "slow.pdf"
    path.write_bytes(b"%PDF-1.7")
    sandbox = ParseSandbox(
        SandboxLimits(timeout_seconds=1.0), parse=targets.sleepy_parse, grace_seconds=0.5
    )
    started = time.monotonic()
    with pytest.raises(FileTooLarge, match=r"^slow\.pdf took longer than 1 seconds to read"):
        sandbox.parse(path, name="slow.pdf", doc_id="d", limits=LIMITS)
    assert time.monotonic() - started < 10
    assert _wait_gone(int(Path(f"{path}.pid").read_text()), 5)


def test_memory_limit_turns_runaway_allocation_into_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "hungry.png"
    path.write_bytes(b"")
    sandbox = ParseSandbox(SandboxLimits(memory_mb=128), parse=targets.greedy_parse)
    with pytest.raises(FileTooLarge, match=r"^hungry\.png needed more than 128 MB of memory"):
        sandbox.parse(path, name="hungry.png", doc_id="d", limits=LIMITS)


def test_memory_limit_with_a_real_file(tmp_path: Path) -> None:
    # 40 MB of text: reading, decoding and normalising it needs well over 64 MB.
    path = tmp_path / "big.txt"
    path.write_bytes(b"plain words and more words\n" * 1_500_000)
    sandbox = ParseSandbox(SandboxLimits(memory_mb=64))
    with pytest.raises(FileTooLarge, match=r"^big\.txt needed more than 64 MB of memory to read"):
        sandbox.parse(path, name="big.txt", doc_id="d", limits=LIMITS)
    # The same file parses with the default limit.
    doc = ParseSandbox().parse(path, name="big.txt", doc_id="d", limits=LIMITS)
    assert len(doc.pages[0].text) == 40_500_000


def test_a_child_killed_by_a_signal_is_a_readable_failure(tmp_path: Path) -> None:
    path = tmp_path / "evil.jpg"
    path.write_bytes(b"\xff\xd8\xff")
    sandbox = ParseSandbox(parse=targets.segfault_parse)
    with pytest.raises(CorruptFile, match=r"^evil\.jpg could not be read: .*\(SIGSEGV\)") as info:
        sandbox.parse(path, name="evil.jpg", doc_id="d", limits=LIMITS)
    assert "crash" not in str(info.value).lower()


def test_an_unexpected_exception_in_a_parser_is_a_readable_failure(tmp_path: Path) -> None:
    path = tmp_path / "odd.pdf"
    path.write_bytes(b"%PDF-1.7")
    with pytest.raises(CorruptFile, match=r"^odd\.pdf could not be read \(KeyError\)"):
        ParseSandbox(parse=targets.buggy_parse).parse(
            path, name="odd.pdf", doc_id="d", limits=LIMITS
        )


def test_tick_runs_while_waiting_and_its_exception_stops_the_child(tmp_path: Path) -> None:
    path = tmp_path / "long.pdf"
    path.write_bytes(b"%PDF-1.7")
    ticks: list[float] = []

    class Lost(Exception):
        pass

    def tick() -> None:
        ticks.append(time.monotonic())
        if len(ticks) == 2:
            raise Lost

    sandbox = ParseSandbox(SandboxLimits(timeout_seconds=30), parse=targets.sleepy_parse)
    with pytest.raises(Lost):
        sandbox.parse(path, name="long.pdf", doc_id="d", limits=LIMITS, tick=tick)
    assert len(ticks) == 2
    assert _wait_gone(int(Path(f"{path}.pid").read_text()), 5)


def test_a_killed_parent_leaves_no_parse_behind(tmp_path: Path, processes: Processes) -> None:
    path = tmp_path / "orphan.pdf"
    path.write_bytes(b"%PDF-1.7")
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from ingest.parsers import ParseLimits
        from ingest.sandbox import ParseSandbox, SandboxLimits
        from tests.robustness import targets
        if __name__ == "__main__":
            ParseSandbox(SandboxLimits(timeout_seconds=120), parse=targets.sleepy_parse).parse(
                Path({str(path)!r}), name="orphan.pdf", doc_id="d", limits=ParseLimits()
            )
        """
    )
    parent = processes.start([sys.executable, "-c", script], cwd=REPO)
    pid_file = Path(f"{path}.pid")
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    # The fork server sees its parent gone and exits; the child dies with it.
    assert _wait_gone(child, 10), "the parse child outlived its killed parent"


def test_overhead_per_document_is_small(tmp_path: Path) -> None:
    text = tmp_path / "note.txt"
    text.write_text("A short note about the harbour.\n")
    sandbox = ParseSandbox()
    sandbox.parse(text, name="note.txt", doc_id="d", limits=LIMITS)  # starts the fork server
    started = time.perf_counter()
    for _ in range(10):
        sandbox.parse(text, name="note.txt", doc_id="d", limits=LIMITS)
    per_parse = (time.perf_counter() - started) / 10
    # Measured at 20-40 ms on a busy 2-core machine; a fresh interpreter per file costs ~1 s.
    assert per_parse < 0.5, f"{per_parse * 1000:.0f} ms per parse"


def test_worker_parses_in_the_sandbox_by_default_and_settings_turn_it_off(tmp_path: Path) -> None:
    on = make_runtime(tmp_path / "on")
    off = make_runtime(tmp_path / "off", parse_sandbox=False)
    try:
        sandbox = build_worker(on).ingestor.sandbox
        assert sandbox is not None
        assert sandbox.limits == SandboxLimits(
            on.settings.parse_timeout_seconds, on.settings.parse_memory_mb
        )
        assert build_worker(off).ingestor.sandbox is None
    finally:
        on.close()
        off.close()


def test_a_long_parse_keeps_the_job_lease(tmp_path: Path) -> None:
    """While the child reads, the worker renews its lease, so no other worker takes the job."""
    rt = make_runtime(tmp_path / "data", lease_seconds=1.5)
    try:
        png = make_png(tmp_path / "pic.png", 40, 40)
        added = library.add_file(
            rt.catalog, rt.settings.uploads_dir, png, ChunkingParams(Strategy.FIXED, 40, 5)
        )
        worker = build_worker(rt, worker_id="slow")
        assert worker.ingestor.sandbox is not None
        # A real parse slowed down: the sandbox runs the real parser after a 3-second nap.
        worker.ingestor.sandbox = ParseSandbox(
            SandboxLimits(timeout_seconds=30), parse=targets.napping_parse
        )
        done = threading.Event()

        def run() -> None:
            worker.run_once()
            done.set()

        thread = threading.Thread(target=run)
        thread.start()
        stolen = []
        while not done.is_set():
            job = rt.catalog.claim_job("thief", lease_seconds=5)
            if job is not None:
                stolen.append(job)
            time.sleep(0.2)
        thread.join()
        assert stolen == []
        doc = rt.catalog.get_document(added.document.id)
        assert doc is not None and doc.status == "ready", doc
    finally:
        rt.close()
