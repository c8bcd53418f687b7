"""Switching the embedding model: re-embed into a new space, switch atomically, drop the old one (fakes)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ingest.batch import ingest_texts
from ingest.pipeline import Ingestor
from ingest.reembed import Reembedder, cancel_reembed, start_reembed
from ingest.service import build_worker
from ragcore import library
from ragcore.catalog import SpaceBusy, SpaceChanged
from ragcore.errors import CollectionMissing
from ragcore.models.provenance import id_fingerprint, space_summary
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.runtime import Runtime
from ragcore.spaces import Pinned, SpaceRouter
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

PARAMS = ChunkingParams(Strategy.FIXED, 12, 2)
TOPICS = ["zero trust networks", "pelican migration", "sourdough starters", "tidal energy"]


def texts(n: int, start: int = 0) -> list[tuple[str, str, str]]:
    out = []
    for i in range(start, start + n):
        topic = TOPICS[i % len(TOPICS)]
        body = " ".join(f"{topic} note {i} sentence {k} about {topic}." for k in range(6))
        out.append((f"doc-{i:03d}", f"note-{i}.txt", body))
    return out


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    runtime = make_runtime(
        tmp_path / "data",
        text=HashingEmbedder(64, model_id="hash-64"),
        parse_sandbox=False,
        reembed_drop_grace_seconds=0,
    )
    runtime.models.add_text_model(HashingEmbedder(32, model_id="hash-32"))
    ingest_texts(runtime.catalog, runtime.store, runtime.models, texts(8), PARAMS)
    yield runtime
    runtime.close()


def router(rt: Runtime) -> SpaceRouter:
    store = rt.store
    assert isinstance(store, SpaceRouter)
    return store


def held_per_doc(rt: Runtime, collection: str) -> Counter[str]:
    return Counter(
        str(p.payload["doc_id"]) for p in router(rt).with_collection(collection).scroll()
    )


def catalog_per_doc(rt: Runtime) -> Counter[str]:
    return Counter(row.doc_id for row in rt.catalog.chunks())


def reembedder(rt: Runtime, **kw: object) -> Reembedder:
    return Reembedder(
        rt.catalog, router(rt), rt.models, image_model_id=None, drop_grace_seconds=0, **kw
    )  # type: ignore[arg-type]


def test_reembed_switches_to_the_new_model_and_drops_the_old_space(rt: Runtime) -> None:
    old = router(rt).active()
    assert (old.name, old.model_id, old.dim) == ("docqa", "hash-64", 64)
    space, job = start_reembed(rt.catalog, router(rt), rt.models, "hash-32")
    assert (space.name, space.status, job.kind) == ("docqa__hash-32_32", "building", "reembed")
    assert router(rt).active().name == "docqa"  # questions still go to the old space

    (outcome,) = build_worker(rt).run_until_idle([job.id])
    assert outcome.ok and outcome.reembed is not None
    chunks = len(rt.catalog.chunks())
    assert (outcome.reembed.embedded, outcome.reembed.reused, outcome.reembed.chunks) == (
        chunks,
        0,
        chunks,
    )
    active = router(rt).active()
    assert (active.name, active.model_id, active.status) == (
        "docqa__hash-32_32",
        "hash-32",
        "active",
    )
    assert rt.catalog.get_space("docqa").status == "dropped"  # type: ignore[union-attr]
    assert router(rt).with_collection("docqa").count() == 0
    assert held_per_doc(rt, active.name) == catalog_per_doc(rt)
    assert {(r.embed_model, r.embed_fingerprint) for r in rt.catalog.chunks()} == {
        ("hash-32", id_fingerprint("hash-32"))
    }
    assert {d.embed_model for d in rt.catalog.list_documents()} == {"hash-32"}
    pinned = router(rt).pin()
    assert pinned.text.dim == 32
    result = Retriever(rt.catalog, rt.store, rt.models).run(
        "pelican migration", RetrievalConfig(mode="dense", rerank=False, use_image_leg=False)
    )
    assert result.hits and "pelican" in result.hits[0].text
    assert rt.catalog.get_job(job.id).status == "done"  # type: ignore[union-attr]


def test_documents_added_during_the_reembed_are_covered_before_the_switch(rt: Runtime) -> None:
    space, job = start_reembed(rt.catalog, router(rt), rt.models, "hash-32")
    added: list[int] = []

    def progress(stage: str, fraction: float) -> None:
        if stage == "embedding" and not added:
            # A document arrives mid-way, ingested into the (still active) old space.
            added.append(
                ingest_texts(rt.catalog, rt.store, rt.models, texts(2, 100), PARAMS).chunks
            )

    report = reembedder(rt, batch_size=4).run(rt.catalog.get_job(job.id), progress)  # type: ignore[arg-type]
    assert added and report.switched
    assert report.chunks == len(rt.catalog.chunks())
    assert held_per_doc(rt, space.name) == catalog_per_doc(rt)
    assert {"doc-100", "doc-101"} <= set(held_per_doc(rt, space.name))


def test_a_deleted_document_leaves_the_new_space_too(rt: Runtime) -> None:
    space, job = start_reembed(rt.catalog, router(rt), rt.models, "hash-32")
    deleted: list[str] = []

    def progress(stage: str, fraction: float) -> None:
        if stage == "embedding" and fraction > 0.2 and not deleted:
            library.delete_document(rt.catalog, rt.store, "doc-001")
            deleted.append("doc-001")

    reembedder(rt, batch_size=4).run(rt.catalog.get_job(job.id), progress)  # type: ignore[arg-type]
    assert deleted
    assert "doc-001" not in held_per_doc(rt, space.name)
    assert held_per_doc(rt, space.name) == catalog_per_doc(rt)


def test_an_interrupted_reembed_resumes_with_the_chunks_it_had(rt: Runtime) -> None:
    space, job = start_reembed(rt.catalog, router(rt), rt.models, "hash-32")
    total = len(rt.catalog.chunks())

    class Crash(Exception):
        pass

    def crash_after_two_batches(stage: str, fraction: float) -> None:
        if stage == "embedding" and fraction > 0.3:
            raise Crash

    with pytest.raises(Crash):
        reembedder(rt, batch_size=4).run(rt.catalog.get_job(job.id), crash_after_two_batches)  # type: ignore[arg-type]
    kept = router(rt).with_collection(space.name).count()
    assert 0 < kept < total
    assert router(rt).active().model_id == "hash-64"  # nothing switched

    target = rt.models.text_for("hash-32")
    calls_before = target.calls  # type: ignore[attr-defined]
    report = reembedder(rt, batch_size=4).run(rt.catalog.get_job(job.id))  # type: ignore[arg-type]
    assert (report.reused, report.embedded) == (kept, total - kept)
    assert target.calls - calls_before == -(-(total - kept) // 4)  # type: ignore[attr-defined]
    assert router(rt).active().model_id == "hash-32"


def test_cancelling_keeps_the_old_model_and_removes_the_new_collection(rt: Runtime) -> None:
    space, job = start_reembed(rt.catalog, router(rt), rt.models, "hash-32")
    with pytest.raises(SpaceBusy, match="already running"):
        rt.models.add_text_model(HashingEmbedder(16, model_id="hash-16"))
        start_reembed(rt.catalog, router(rt), rt.models, "hash-16")
    cancelled = cancel_reembed(rt.catalog, router(rt))
    assert cancelled is not None and cancelled.status == "dropped"
    assert rt.catalog.get_job(job.id).status == "cancelled"  # type: ignore[union-attr]
    assert build_worker(rt).run_until_idle() == []  # the cancelled job never runs
    assert router(rt).active().model_id == "hash-64"
    assert router(rt).with_collection(space.name).count() == 0
    assert cancel_reembed(rt.catalog, router(rt)) is None


def test_a_running_reembed_cancelled_stops_at_its_next_heartbeat(rt: Runtime) -> None:
    space, job = start_reembed(rt.catalog, router(rt), rt.models, "hash-32")
    worker = build_worker(rt)
    worker.reembedder.batch_size = 2  # type: ignore[union-attr]
    original = worker.catalog.heartbeat

    def heartbeat(*args: object, **kw: object) -> bool:
        if kw.get("stage") == "embedding" and rt.catalog.get_space(space.name).status == "building":  # type: ignore[union-attr]
            cancel_reembed(rt.catalog)  # as the CLI does while the app's worker runs it
        return original(*args, **kw)  # type: ignore[arg-type]

    worker.catalog.heartbeat = heartbeat  # type: ignore[method-assign]
    (outcome,) = worker.run_until_idle([job.id])
    assert not outcome.ok and "cancelled" in (outcome.error or "")
    assert rt.catalog.get_space(space.name).status == "dropped"  # type: ignore[union-attr]
    assert router(rt).with_collection(space.name).count() == 0
    assert router(rt).active().model_id == "hash-64"


def test_a_write_aimed_at_a_retired_space_is_refused_and_the_ingestion_redone(
    rt: Runtime, tmp_path: Path
) -> None:
    source = tmp_path / "late.txt"
    source.write_text("Tidal energy late arrival. " * 20)
    added = library.add_file(rt.catalog, rt.settings.uploads_dir, source, PARAMS)
    old = router(rt).pin()
    switched: list[bool] = []

    def progress(stage: str, fraction: float) -> None:
        if stage == "writing" and not switched:
            # The model switches while this document is between its embedding and its write.
            _, job = start_reembed(rt.catalog, router(rt), rt.models, "hash-32")
            switched.append(reembedder(rt).run(rt.catalog.get_job(job.id)).switched)  # type: ignore[arg-type]

    ingestor = Ingestor(rt.catalog, rt.store, rt.models, thumbs_dir=rt.thumbs_dir)
    ingestor.ingest(added.document.id, PARAMS, progress)
    assert switched == [True]
    rows = rt.catalog.chunks(added.document.id)
    assert rows and {r.embed_model for r in rows} == {"hash-32"}
    assert held_per_doc(rt, router(rt).active().name) == catalog_per_doc(rt)
    with pytest.raises(SpaceChanged, match="docqa"):
        rt.catalog.replace_chunks(
            added.document.id,
            [r.to_chunk() for r in rows],
            embed_model="hash-64",
            stats={},
            space=old.space_name,
        )


def test_status_summary_counts_documents_per_space_and_flags_drift(rt: Runtime) -> None:
    summary = space_summary(rt.catalog)
    (use,) = summary.spaces
    assert (use.model_id, use.documents, use.active, use.status) == ("hash-64", 8, True, "active")
    assert summary.drifted == ()
    # A document embedded by another model (e.g. an ingestion that bypassed the active space).
    rows = rt.catalog.chunks("doc-003")
    rt.catalog.replace_chunks(
        "doc-003", [r.to_chunk() for r in rows], embed_model="other-model", stats={}
    )
    summary = space_summary(rt.catalog)
    assert [(d.doc_id, d.model_id) for d in summary.drifted] == [("doc-003", "other-model")]
    assert any(s.status == "unregistered" and s.documents == 1 for s in summary.spaces)
    assert "doc-003" in "\n".join(summary.lines())


def test_ingest_status_shows_spaces_and_flags_drift(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from ingest.__main__ import main

    rows = rt.catalog.chunks("doc-002")
    rt.catalog.replace_chunks(
        "doc-002", [r.to_chunk() for r in rows], embed_model="old-model", stats={}
    )
    _, job = start_reembed(rt.catalog, router(rt), rt.models, "hash-32")  # pending, not run
    monkeypatch.setenv("RAG_DATA_DIR", str(rt.settings.data_dir))
    monkeypatch.setenv("RAG_LOCAL_LLM", "false")

    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    spaces = {s["model_id"]: s for s in status["spaces"]["spaces"]}
    assert spaces["hash-64"]["documents"] == 7 and spaces["hash-64"]["active"]
    assert spaces["hash-32"]["status"] == "building"
    assert status["spaces"]["pending"] == "docqa__hash-32_32"
    drifted = {d["id"]: d["drift"] for d in status["documents"] if d["drift"]}
    assert list(drifted) == ["doc-002"] and "old-model" in drifted["doc-002"]
    assert any(j["kind"] == "reembed" and j["id"] == job.id for j in status["jobs"])

    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert "! embedded with old-model, the active model is hash-64" in text
    assert "* active" in text and "building" in text


class PinsCounted:
    """A space source that counts its pins, and whose first pin may be one taken earlier: a
    question that pinned its space just before a switch landed."""

    def __init__(self, spaces: SpaceRouter, first: Pinned | None = None) -> None:
        self.spaces = spaces
        self.first = first
        self.pins = 0

    def pin(self) -> Pinned:
        self.pins += 1
        if self.pins == 1 and self.first is not None:
            return self.first
        return self.spaces.pin()

    def moved_since(self, pinned: Pinned) -> bool:
        return self.spaces.moved_since(pinned)


DENSE = RetrievalConfig(mode="dense", rerank=False, use_image_leg=False)


def test_a_question_pinned_before_a_switch_is_redone_on_the_new_space(rt: Runtime) -> None:
    old = router(rt).pin()
    _, job = start_reembed(rt.catalog, router(rt), rt.models, "hash-32")
    assert reembedder(rt).run(rt.catalog.get_job(job.id)).switched  # type: ignore[arg-type]
    assert rt.catalog.get_space(old.space_name or "").status == "dropped"  # type: ignore[union-attr]
    spaces = PinsCounted(router(rt), first=old)
    result = Retriever(rt.catalog, rt.store, rt.models, spaces=spaces).run(
        "pelican migration", DENSE
    )
    assert spaces.pins == 2
    assert result.hits and "pelican" in result.hits[0].text


def test_a_collection_gone_without_a_switch_is_not_retried(rt: Runtime) -> None:
    # Dropped behind the catalog's back: the active space did not move, so a retry would fail
    # the same way; the person sees what happened.
    router(rt).with_collection(router(rt).active().name).drop_collection()
    spaces = PinsCounted(router(rt))
    with pytest.raises(CollectionMissing, match="docqa"):
        Retriever(rt.catalog, rt.store, rt.models, spaces=spaces).run("pelican migration", DENSE)
    assert spaces.pins == 1
