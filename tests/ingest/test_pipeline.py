"""Ingestion end to end with fake models: catalog, FTS and store stay in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.service import build_worker
from ragcore import library
from ragcore.runtime import Runtime
from ragcore.testing.documents import make_png, make_text_pdf
from ragcore.testing.embedders import ColorImageEmbedder
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, ChunkKind, Strategy

PAGES = [
    "Zero trust architecture assumes no implicit trust. " * 12,
    "The policy engine decides access for each request. Quokkaflux is a distinctive term. " * 8,
    "Continuous diagnostics and mitigation feed the trust algorithm. " * 10,
]


@pytest.fixture()
def rt(tmp_path: Path) -> Runtime:
    runtime = make_runtime(tmp_path / "data", chunk_size=40, chunk_overlap=5)
    yield runtime
    runtime.close()


def _ingest(rt: Runtime, path: Path, params: ChunkingParams | None = None) -> library.Added:
    added = library.add_file(
        rt.catalog, rt.settings.uploads_dir, path, params or ChunkingParams(Strategy.FIXED, 40, 5)
    )
    build_worker(rt).run_until_idle()
    return added


def test_pdf_ingests_with_counts_in_step(rt: Runtime, tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "zta.pdf", PAGES, image_on_page=2)
    added = _ingest(rt, pdf)
    doc = rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "ready", doc
    assert doc.pages == 3 and doc.images == 1 and doc.chunks > 3
    rows = rt.catalog.chunks(doc.id)
    assert len(rows) == rt.store.count(doc.id) == doc.chunks + doc.images
    assert {r.page for r in rows if r.kind == ChunkKind.TEXT} == {1, 2, 3}
    hits = rt.catalog.bm25_search("quokkaflux", limit=5)
    assert hits and all(row.page == 2 for row, _ in hits)
    assert "Quokkaflux" in hits[0][0].text
    # The image chunk carries its page number and a thumbnail for the UI.
    image_row = next(r for r in rows if r.kind == ChunkKind.IMAGE)
    assert image_row.page == 2
    assert (rt.thumbs_dir / doc.id / f"{image_row.chunk_no}.png").is_file()


def test_same_content_twice_is_one_document(rt: Runtime, tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "a.pdf", PAGES[:1])
    first = _ingest(rt, pdf)
    copy = tmp_path / "copy-of-a.pdf"
    copy.write_bytes(pdf.read_bytes())
    second = _ingest(rt, copy)
    assert second.duplicate and second.document.id == first.document.id
    assert len(rt.catalog.list_documents()) == 1
    assert rt.store.count() == len(rt.catalog.chunks())


def test_reindex_replaces_chunks_everywhere(rt: Runtime, tmp_path: Path) -> None:
    added = _ingest(rt, make_text_pdf(tmp_path / "z.pdf", PAGES))
    before = {r.point_id for r in rt.catalog.chunks(added.document.id)}
    library.reindex(rt.catalog, added.document.id, ChunkingParams(Strategy.SENTENCE, 60, 1))
    build_worker(rt).run_until_idle()
    doc = rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "ready" and doc.strategy == "sentence"
    after = rt.catalog.chunks(doc.id)
    assert len(after) == rt.store.count(doc.id)
    stored = {p.id for p in rt.store.scroll(doc.id)}
    assert stored == {r.point_id for r in after}
    # 60-token sentence chunks replace 40-token windows: fewer chunks, none of the old left over.
    assert len(after) < len(before)
    assert all(r.text.rstrip().endswith(".") for r in after if r.kind == ChunkKind.TEXT)


def test_delete_reaches_catalog_fts_and_store(rt: Runtime, tmp_path: Path) -> None:
    keep = _ingest(rt, make_text_pdf(tmp_path / "keep.pdf", ["Alpha bravo charlie. " * 20]))
    gone = _ingest(rt, make_text_pdf(tmp_path / "gone.pdf", PAGES))
    assert library.delete_document(rt.catalog, rt.store, gone.document.id)
    assert rt.catalog.get_document(gone.document.id) is None
    assert rt.catalog.bm25_search("quokkaflux", limit=5) == []
    assert rt.store.count(gone.document.id) == 0
    assert rt.store.count() == len(rt.catalog.chunks(keep.document.id)) > 0


def test_corrupt_file_fails_alone(rt: Runtime, tmp_path: Path) -> None:
    good = make_text_pdf(tmp_path / "good.pdf", PAGES)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(good.read_bytes()[:300])
    not_pdf = make_png(tmp_path / "image.pdf", 40, 40)
    for path in (bad, good, not_pdf):
        library.add_file(rt.catalog, rt.settings.uploads_dir, path, ChunkingParams())
    outcomes = build_worker(rt).run_until_idle()
    assert len(outcomes) == 3
    docs = {d.name: d for d in rt.catalog.list_documents()}
    assert docs["good.pdf"].status == "ready"
    for name in ("bad.pdf", "image.pdf"):
        assert docs[name].status == "failed"
        assert docs[name].error and name in docs[name].error
    assert rt.store.count() == len(rt.catalog.chunks())


def test_crashed_worker_job_is_retried_without_duplicates(tmp_path: Path) -> None:
    now = [1000.0]
    rt = make_runtime(tmp_path / "data")
    from ragcore.catalog import Catalog

    rt.catalog.close()
    rt.catalog = Catalog(rt.settings.catalog_path, clock=lambda: now[0])
    pdf = make_text_pdf(tmp_path / "z.pdf", PAGES)
    added = library.add_file(rt.catalog, rt.settings.uploads_dir, pdf, ChunkingParams())
    # Worker A claims the job, writes half of its points, then dies (never finishes).
    crashed = rt.catalog.claim_job("worker-a", lease_seconds=30)
    assert crashed is not None
    worker = build_worker(rt, worker_id="worker-b")
    assert worker.run_once() is None  # the lease is still held
    now[0] += 31
    outcome = worker.run_once()
    assert outcome is not None and outcome.ok, outcome
    doc = rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "ready"
    assert rt.store.count() == len(rt.catalog.chunks()) == doc.chunks + doc.images
    # Worker A's late heartbeat is refused: it must stop rather than write.
    assert not rt.catalog.heartbeat(
        crashed.id, "worker-a", stage="writing", progress=0.9, lease_seconds=30
    )
    rt.close()


def test_image_file_gets_an_image_vector(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data", image=ColorImageEmbedder())
    added = _ingest(rt, make_png(tmp_path / "red.png", 64, 64, color=(250, 10, 10)))
    doc = rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "ready" and doc.images == 1
    from ragcore.stores.base import DenseQuery, QueryLeg
    from ragcore.types import Fusion

    vec = ColorImageEmbedder().embed_texts(["red"])[0].tolist()
    result = rt.store.query(DenseQuery([QueryLeg("image", vec, 5)], fusion=Fusion.RRF, limit=5))
    assert [p.payload["doc_id"] for p in result.fused] == [doc.id]
    rt.close()


def test_image_is_listed_when_clip_is_off(rt: Runtime, tmp_path: Path) -> None:
    added = _ingest(rt, make_png(tmp_path / "blue.png", 64, 64, color=(0, 0, 250)))
    doc = rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "ready" and doc.images == 1
    status = {s.role: s for s in rt.models.status()}
    assert not status["image"].available
