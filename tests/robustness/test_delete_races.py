"""Deleting a document while it is ingested or while a question is answered leaves a consistent library,
and no answer started after the delete shows the deleted document's passages."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ingest.consistency import check_library
from ingest.sandbox import ParseSandbox, SandboxLimits
from ingest.service import build_worker
from ingest.worker import JobOutcome, Worker
from ragcore import library
from ragcore.answering import Answerer
from ragcore.models.base import Vectors
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.runtime import Runtime
from ragcore.testing.documents import make_text_pdf
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Point, Strategy
from tests.robustness import targets

PARAMS = ChunkingParams(Strategy.FIXED, 30, 3)
DOOMED = "The quokkaflux reactor manual says the coolant valve opens at dawn. " * 40
KEPT = "The harbour ledger records every falcon landing at the meridian tower. " * 20
CONFIG = RetrievalConfig(rerank=False, top_k=5)


class Gate:
    """Holds a worker thread at one point until the test lets it go."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def hold(self) -> None:
        if not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(30), "the test never released the gate"


class GatedEmbedder(HashingEmbedder):
    def __init__(self, gate: Gate | None = None) -> None:
        super().__init__(dim=32)
        self.gate = gate

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if self.gate is not None:
            self.gate.hold()
        return super().embed_passages(texts)


class GatedStore:
    """The real store; the first upsert is held after its points are written."""

    def __init__(self, store: Any, gate: Gate) -> None:
        self._store = store
        self._gate = gate

    def upsert(self, points: Sequence[Point]) -> None:
        self._store.upsert(points)
        self._gate.hold()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture()
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(
        tmp_path / "data", text=GatedEmbedder(), image_model="", parse_sandbox=False
    )
    library.add_bytes(
        runtime.catalog, runtime.settings.uploads_dir, "kept.txt", [KEPT.encode()], PARAMS
    )
    build_worker(runtime).run_until_idle()
    yield runtime
    runtime.close()


def _run_in_thread(worker: Worker) -> tuple[threading.Thread, list[JobOutcome | None]]:
    out: list[JobOutcome | None] = []
    thread = threading.Thread(target=lambda: out.append(worker.run_once()))
    thread.start()
    return thread, out


def _assert_gone_and_consistent(rt: Runtime, doc_id: str) -> None:
    assert rt.catalog.get_document(doc_id) is None
    assert rt.catalog.chunks(doc_id) == []
    assert rt.store.count(doc_id) == 0
    assert not (rt.thumbs_dir / doc_id).exists()
    report = check_library(rt.catalog, rt.store, thumbs_dir=rt.thumbs_dir)
    assert report.clean and report.busy == (), report
    # The document kept all along still answers.
    hits = Retriever(rt.catalog, rt.store, rt.models).run("falcon landing ledger", CONFIG).hits
    assert hits and hits[0].file_name == "kept.txt"
    assert all("quokkaflux" not in h.text for h in hits)


@pytest.mark.parametrize("stage", ["parsing", "embedding", "writing"])
def test_delete_during_ingestion(rt: Runtime, tmp_path: Path, stage: str) -> None:
    gate = Gate()
    worker = build_worker(rt)
    if stage == "parsing":
        # The real parser in the sandbox, after a nap; the worker's heartbeat learns of the
        # delete while it waits and stops the child.
        worker.ingestor.sandbox = ParseSandbox(SandboxLimits(30), parse=targets.napping_parse)
    elif stage == "embedding":
        rt.models.text.gate = gate  # type: ignore[attr-defined]
    else:
        worker.ingestor.store = GatedStore(rt.store, gate)
    pdf = make_text_pdf(tmp_path / "doomed.pdf", [DOOMED[:2000], DOOMED[2000:]], image_on_page=1)
    added = library.add_file(rt.catalog, rt.settings.uploads_dir, pdf, PARAMS)
    doc_id = added.document.id

    thread, outcome = _run_in_thread(worker)
    if stage == "parsing":
        deadline = time.monotonic() + 30
        while not list(rt.settings.uploads_dir.rglob("*.pid")) and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        assert gate.reached.wait(30)
    if stage == "writing":
        assert rt.store.count(doc_id) > 0  # points are in; the catalog has no chunks yet
    assert library.delete_document(rt.catalog, rt.store, doc_id)
    gate.release.set()
    thread.join(30)
    assert not thread.is_alive()
    assert outcome and outcome[0] is not None and not outcome[0].ok
    _assert_gone_and_consistent(rt, doc_id)
    # And the worker goes on with the next file.
    again = library.add_bytes(
        rt.catalog, rt.settings.uploads_dir, "next.txt", [b"The next file is fine."], PARAMS
    )
    worker.ingestor.store = rt.store
    rt.models.text.gate = None  # type: ignore[attr-defined]
    worker.ingestor.sandbox = None
    worker.run_until_idle()
    doc = rt.catalog.get_document(again.document.id)
    assert doc is not None and doc.status == "ready"


def test_delete_while_questions_are_answered(rt: Runtime) -> None:
    added = library.add_bytes(
        rt.catalog, rt.settings.uploads_dir, "doomed.txt", [DOOMED.encode()], PARAMS
    )
    build_worker(rt).run_until_idle()
    doc_id = added.document.id
    answerer = Answerer(Retriever(rt.catalog, rt.store, rt.models), None, embedder=rt.models.text)
    question = "when does the quokkaflux coolant valve open"
    first = answerer.ask(question, config=CONFIG)
    assert any(h.doc_id == doc_id for h in first.sources)

    deleted_at: list[float] = []
    seen: list[tuple[float, bool]] = []  # (when the answer started, did it show the document)
    stop = threading.Event()

    def ask_repeatedly() -> None:
        while not stop.is_set():
            started = time.monotonic()
            answer = answerer.ask(question, config=CONFIG)
            shown = [*answer.sources, *answer.closest]
            seen.append((started, any(h.doc_id == doc_id or "quokkaflux" in h.text for h in shown)))

    askers = [threading.Thread(target=ask_repeatedly) for _ in range(2)]
    for t in askers:
        t.start()
    time.sleep(0.3)
    assert library.delete_document(rt.catalog, rt.store, doc_id)
    deleted_at.append(time.monotonic())
    time.sleep(0.5)
    stop.set()
    for t in askers:
        t.join(30)
    after = [showed for started, showed in seen if started > deleted_at[0]]
    assert after, "no answer was started after the delete"
    assert not any(after)
    _assert_gone_and_consistent(rt, doc_id)


def test_vectors_that_outlive_their_document_are_never_shown(rt: Runtime) -> None:
    """A delete cut short after the catalog half (a crash) leaves points behind: answers ignore
    them, and `ingest check --repair` removes them."""
    added = library.add_bytes(
        rt.catalog, rt.settings.uploads_dir, "doomed.txt", [DOOMED.encode()], PARAMS
    )
    build_worker(rt).run_until_idle()
    doc_id = added.document.id
    rt.catalog.delete_document(doc_id)
    assert rt.store.count(doc_id) > 0
    result = Retriever(rt.catalog, rt.store, rt.models).run(
        "quokkaflux coolant valve", RetrievalConfig(mode="dense", rerank=False, top_k=5)
    )
    assert all(h.doc_id != doc_id for h in result.hits)
    report = check_library(rt.catalog, rt.store)
    assert [p.kind for p in report.problems] == ["points_without_document"]
