"""`python -m ingest add/delete/check` as a person runs them, on what probing found wrong.

Each command runs in its own process (``tests.robustness.cli_proc``: the real CLI with the
hashing fake for the text model) and is killed with its process group however the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ingest.consistency import UPLOAD_GRACE_SECONDS, check_library
from ingest.service import build_worker
from ragcore import library
from ragcore.catalog import Catalog
from ragcore.models.base import Vectors
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy
from tests.robustness.worker_proc import DIM

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120.0
PARAMS = ChunkingParams(Strategy.FIXED, 30, 3)


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "ROBUST_"))}
    env.update(
        RAG_DATA_DIR=str(data_dir),
        RAG_STORE="embedded",
        RAG_LOCAL_LLM="false",
        RAG_IMAGE_MODEL="",
        RAG_RERANKER_MODEL="",
        RAG_PARSE_SANDBOX="false",
        RAG_WORKER_POLL_SECONDS="0.1",
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def _command(args: Sequence[str | bytes]) -> list[str | bytes]:
    return [sys.executable, "-m", "tests.robustness.cli_proc", *args]


@contextlib.contextmanager
def _started(args: Sequence[str | bytes], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The CLI in a process group of its own, killed (with any child) when the block ends."""
    proc = subprocess.Popen(
        _command(args),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)


def _run(args: Sequence[str | bytes], env: dict[str, str]) -> tuple[int, str, str]:
    with _started(args, env) as proc:
        out, err = proc.communicate(timeout=TIMEOUT)
        return proc.returncode, out, err


def _rows(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _no_stack_dump(err: str) -> None:
    assert "Traceback" not in err, err[-2000:]


def test_a_file_name_that_is_not_utf8_is_added_and_every_file_is_reported(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    ok = tmp_path / "ok.txt"
    ok.write_text("The harbour ledger lists every ship.")
    bad = os.fsencode(tmp_path) + b"/caf\xe9.txt"  # Latin-1 bytes: not a UTF-8 name
    with open(bad, "wb") as f:
        f.write(b"The cafe serves coffee at dawn.")

    code, out, err = _run(["add", str(ok), bad, "--wait", "--json"], _env(data))
    _no_stack_dump(err)
    assert code == 0, err[-2000:]
    rows = {r["name"]: r for r in _rows(out)}
    assert set(rows) == {"ok.txt", "caf\ufffd.txt"}
    assert all(r["status"] == "ready" for r in rows.values()), rows
    assert "not valid UTF-8" in str(rows["caf\ufffd.txt"]["note"])
    assert rows["ok.txt"]["note"] is None

    rt = make_runtime(data, text=HashingEmbedder(dim=DIM), parse_sandbox=False)
    try:
        assert len(_files(rt.settings.uploads_dir)) == 2  # one copy per document, no other
        report = check_library(rt.catalog, rt.store, uploads_dir=rt.settings.uploads_dir)
        assert report.clean, report.problems
    finally:
        rt.close()


def test_an_argument_that_is_not_a_file_fails_add_after_the_others(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok = tmp_path / "a.txt"
    ok.write_text("Alpha words.")
    code, out, err = _run(["add", str(ok), "--", "--wait", str(tmp_path / "gone.txt")], _env(data))
    _no_stack_dump(err)
    assert code == 1
    assert "--wait is not a file (after `--` every argument is a file name)" in out
    assert "gone.txt is not a file" in out
    assert out.startswith("queued   a.txt")  # the readable file was added all the same
    catalog = Catalog(data / "catalog.sqlite3")
    try:
        assert [d.name for d in catalog.list_documents()] == ["a.txt"]
    finally:
        catalog.close()


def test_an_oversized_file_is_refused_before_it_is_copied(tmp_path: Path) -> None:
    data = tmp_path / "data"
    big = tmp_path / "big.pdf"
    with big.open("wb") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: 300 MB that take no disk
    code, out, err = _run(["add", str(big), "--json"], _env(data, RAG_MAX_FILE_MB="200"))
    _no_stack_dump(err)
    assert code == 1
    (row,) = _rows(out)
    assert row["status"] == "failed"
    assert "big.pdf is 300 MB, more than the limit of 200 MB" in str(row["error"])
    assert _files(data / "uploads") == []


def test_wait_waits_only_for_its_own_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rt = make_runtime(data, text=HashingEmbedder(dim=DIM), parse_sandbox=False, image_model="")
    try:
        abandoned = library.add_bytes(
            rt.catalog, rt.settings.uploads_dir, "abandoned.txt", [b"Left behind."], PARAMS
        )
        # What a killed `add --wait` leaves: a running job under a lease nobody renews.
        assert rt.catalog.claim_job("killed-add", lease_seconds=0.01) is not None
        queued = library.add_bytes(
            rt.catalog, rt.settings.uploads_dir, "queued.txt", [b"For the app."], PARAMS
        )
    finally:
        rt.close()
    mine = tmp_path / "mine.txt"
    mine.write_text("Mine to wait for.")

    started = time.monotonic()
    code, out, err = _run(["add", str(mine), "--wait", "--json"], _env(data))
    assert code == 0, err[-2000:]
    assert [(r["name"], r["status"]) for r in _rows(out)] == [("mine.txt", "ready")]
    assert time.monotonic() - started < TIMEOUT
    catalog = Catalog(data / "catalog.sqlite3")
    try:
        jobs = {j.doc_id: j for j in catalog.jobs()}
        left = jobs[abandoned.document.id]
        assert (left.status, left.worker_id) == ("running", "killed-add")
        assert jobs[queued.document.id].status == "queued"
    finally:
        catalog.close()


def test_a_delete_while_add_holds_the_store_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    doc = tmp_path / "big.txt"
    doc.write_text("The harbour ledger lists every falcon. " * 200)
    gate = tmp_path / "gate"  # embedding waits for it: the delete lands mid-ingestion
    env = _env(data, ROBUST_GATE=str(gate))
    with _started(["add", str(doc), "--wait", "--json"], env) as adding:
        catalog = Catalog(data / "catalog.sqlite3")
        try:
            deadline = time.monotonic() + TIMEOUT
            while not ((jobs := catalog.jobs()) and jobs[0].stage == "embedding"):
                assert time.monotonic() < deadline and adding.poll() is None, jobs
                time.sleep(0.05)
            (record,) = catalog.list_documents()
            code, _, err = _run(["delete", record.id[:12]], _env(data))
            _no_stack_dump(err)
            assert code == 2
            assert "Nothing was deleted: big.txt" in err and "open in another process" in err
            assert catalog.get_document(record.id) is not None  # the catalog was not touched
            assert [j.status for j in catalog.jobs()] == ["running"]
            gate.touch()
            out, err = adding.communicate(timeout=TIMEOUT)
        finally:
            catalog.close()
    assert adding.returncode == 0, err[-2000:]
    assert [r["status"] for r in _rows(out)] == ["ready"]
    assert len(_files(data / "uploads")) == 1
    # Once the add has finished, the same delete goes through, uploaded copy and all.
    code, out, err = _run(["delete", record.id[:12]], _env(data))
    assert code == 0 and out.startswith("deleted big.txt"), err[-2000:]
    assert _files(data / "uploads") == []


class GatedEmbedder(HashingEmbedder):
    """Holds the first embedding call until the test lets it go."""

    def __init__(self) -> None:
        super().__init__(dim=DIM)
        self.reached = threading.Event()
        self.release = threading.Event()

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.reached.set()
        assert self.release.wait(TIMEOUT), "the test never released the embedder"
        return super().embed_passages(texts)


def test_add_wait_reports_a_document_deleted_while_it_waited(tmp_path: Path) -> None:
    """The app holds the store and ingests; a person deletes the file there meanwhile."""
    data = tmp_path / "data"
    gate = GatedEmbedder()
    app = make_runtime(data, text=gate, parse_sandbox=False, image_model="")
    app.store.count()  # the app holds the embedded store, as it does while it runs
    worker = build_worker(app)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    doc = tmp_path / "doomed.txt"
    doc.write_text("The quokkaflux manual. " * 50)
    try:
        with _started(["add", str(doc), "--wait", "--json"], _env(data)) as adding:
            assert gate.reached.wait(TIMEOUT), "the app's worker never ran the queued file"
            (record,) = app.catalog.list_documents()
            assert library.delete_document(app.catalog, app.store, record.id)
            gate.release.set()
            out, err = adding.communicate(timeout=TIMEOUT)
        _no_stack_dump(err)
        assert adding.returncode == 1
        (row,) = _rows(out)
        assert (row["name"], row["status"]) == ("doomed.txt", "deleted")
        assert "deleted from the library while it was being added" in str(row["error"])
        assert _files(app.settings.uploads_dir) == []  # the delete took the uploaded copy too
    finally:
        gate.release.set()
        stop.set()
        thread.join(30)
        app.close()


def test_check_reports_and_repair_removes_an_upload_without_document(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rt = make_runtime(data, text=HashingEmbedder(dim=DIM), parse_sandbox=False, image_model="")
    try:
        kept = library.add_bytes(rt.catalog, rt.settings.uploads_dir, "k.txt", [b"Kept."], PARAMS)
        build_worker(rt).run_until_idle()
    finally:
        rt.close()
    stray_id = "cd" + "1" * 62
    stray = data / "uploads" / stray_id[:2] / f"{stray_id}.txt"  # an add that failed after copying
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"orphaned bytes")
    then = time.time() - UPLOAD_GRACE_SECONDS - 60
    os.utime(stray, (then, then))

    code, out, err = _run(["check", "--repair"], _env(data))
    _no_stack_dump(err)
    assert code == 0, out + err
    assert "1 uploaded file (14 bytes) belong to no document (cd1111111111)" in out
    assert "repaired: deleted 1 uploaded file that no document in the library reads" in out
    assert not stray.exists() and Path(kept.document.path).exists()
