"""Hybrid retrieval on a small fixture corpus: each signal finds what the other misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.service import build_worker
from ragcore import library
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.runtime import Runtime
from ragcore.scope import Scope
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, ChunkKind, Fusion, Strategy

CORPUS = {
    "gasket.txt": "Maintenance note. The XJ4471 seal must be swapped every two years by a technician.",
    "cars.txt": "A car needs regular servicing: oil, brakes and tyres are checked by the garage.",
    "bikes.txt": "A bicycle chain should be cleaned and oiled after riding in the rain.",
    "boats.txt": "Sailing boats need their hulls cleaned and their rigging checked each season.",
    "planes.txt": "Aircraft maintenance follows strict schedules set by the aviation authority.",
    "trains.txt": "Railway engines are serviced in depots; technicians inspect brakes and wheels.",
}
EMBEDDER = HashingEmbedder(
    dim=256, synonyms={"automobile": "car", "upkeep": "servicing"}, unknown={"xj4471"}
)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    root = tmp_path_factory.mktemp("corpus")
    runtime = make_runtime(root / "data", text=EMBEDDER)
    for name, text in CORPUS.items():
        path = root / name
        path.write_text(text)
        library.add_file(
            runtime.catalog,
            runtime.settings.uploads_dir,
            path,
            ChunkingParams(Strategy.SENTENCE, 64, 0),
        )
    build_worker(runtime).run_until_idle()
    assert all(d.status == "ready" for d in runtime.catalog.list_documents())
    yield runtime
    runtime.close()


def _top(rt: Runtime, query: str, mode: str, **kw: object) -> list[str]:
    config = RetrievalConfig(mode=mode, rerank=False, top_k=6, **kw)  # type: ignore[arg-type]
    result = Retriever(rt.catalog, rt.store, rt.models).run(query, config)
    return [h.file_name for h in result.hits]


def test_keyword_target_found_by_hybrid_though_dense_misses(rt: Runtime) -> None:
    # Only BM25 knows the part number; only dense understands "automobile".
    query = "XJ4471 automobile"
    assert _top(rt, query, "dense")[0] == "cars.txt"
    assert _top(rt, query, "bm25")[0] == "gasket.txt"
    assert _top(rt, query, "hybrid")[0] == "gasket.txt"


def test_paraphrase_found_by_hybrid_though_bm25_misses(rt: Runtime) -> None:
    query = "automobile upkeep"
    assert "cars.txt" not in _top(rt, query, "bm25")
    assert _top(rt, query, "dense")[0] == "cars.txt"
    assert _top(rt, query, "hybrid")[0] == "cars.txt"


def test_document_filter_holds_on_both_legs(rt: Runtime) -> None:
    allowed = [d.id for d in rt.catalog.list_documents() if d.name in ("boats.txt", "planes.txt")]
    config = RetrievalConfig(mode="hybrid", rerank=False, top_k=10)
    result = Retriever(rt.catalog, rt.store, rt.models).run(
        "technician brakes car", config, scope=Scope(doc_ids=tuple(allowed))
    )
    assert result.hits
    assert {h.file_name for h in result.hits} <= {"boats.txt", "planes.txt"}
    assert result.legs["bm25"] == 0 or all(h.doc_id in allowed for h in result.hits)


def test_hits_carry_evidence_and_timings(rt: Runtime) -> None:
    config = RetrievalConfig(mode="hybrid", rerank=True, fusion=Fusion.DBSF, top_k=3)
    result = Retriever(rt.catalog, rt.store, rt.models).run("technicians inspect brakes", config)
    top = result.hits[0]
    assert top.file_name == "trains.txt"
    ev = top.evidence
    assert ev.bm25_rank == 1 and ev.text_rank is not None and ev.fused_rank == 1
    assert ev.fused_score is not None and ev.fused_score > 0
    assert top.text == CORPUS["trains.txt"][top.start : top.end]
    assert {"encode", "dense", "bm25", "fuse", "rerank", "total"} <= set(result.timings)
    assert any("reranker off" in n for n in result.notes)


def test_query_text_never_breaks_search(rt: Runtime) -> None:
    for query in ['"unbalanced', "AND OR NOT", "*", "(((", "技术员 检查", "", "the of and"]:
        result = Retriever(rt.catalog, rt.store, rt.models).run(
            query, RetrievalConfig(rerank=False)
        )
        assert isinstance(result.hits, tuple)


def test_deleted_document_never_returned(rt: Runtime, tmp_path: Path) -> None:
    extra = tmp_path / "ghost.txt"
    extra.write_text("Ghostly quasar maintenance in orbit.")
    added = library.add_file(rt.catalog, rt.settings.uploads_dir, extra, ChunkingParams())
    build_worker(rt).run_until_idle()
    assert _top(rt, "ghostly quasar", "hybrid")[0] == "ghost.txt"
    # The catalog forgets it first; even if vectors linger (a store's rough edge), no hit shows it.
    rt.catalog.delete_document(added.document.id)
    assert "ghost.txt" not in _top(rt, "ghostly quasar", "hybrid")
    rt.store.delete_document(added.document.id)


@pytest.mark.integration
def test_reranker_plumbing_with_tiny_cross_encoder(tmp_path: Path) -> None:
    from ragcore.models.reranker import CrossEncoderReranker
    from ragcore.models.resolver import resolve
    from ragcore.testing.tiny_models import build_tiny_cross_encoder

    folder = build_tiny_cross_encoder(tmp_path / "ce")
    reranker = CrossEncoderReranker(resolve(str(folder), cache_dir=tmp_path))
    rt = make_runtime(tmp_path / "data", text=EMBEDDER, reranker=reranker)
    for name, text in CORPUS.items():
        (tmp_path / name).write_text(text)
        library.add_file(rt.catalog, rt.settings.uploads_dir, tmp_path / name, ChunkingParams())
    build_worker(rt).run_until_idle()
    config = RetrievalConfig(mode="hybrid", rerank=True, top_k=6)
    result = Retriever(rt.catalog, rt.store, rt.models).run("brakes technicians", config)
    scores = [h.evidence.rerank_score for h in result.hits]
    assert all(isinstance(s, float) for s in scores)
    assert scores == sorted(scores, reverse=True)  # all text hits: ordered by the cross-encoder
    assert not any("reranker off" in n for n in result.notes)
    rt.close()


@pytest.mark.integration
def test_image_found_by_text_question_through_image_leg(tmp_path: Path) -> None:
    from ragcore.models.image import ClipEmbedder
    from ragcore.models.resolver import resolve
    from ragcore.testing.documents import make_png
    from ragcore.testing.tiny_models import build_tiny_clip

    clip = ClipEmbedder(resolve(str(build_tiny_clip(tmp_path / "clip")), cache_dir=tmp_path))
    rt = make_runtime(tmp_path / "data", text=EMBEDDER, image=clip)
    make_png(tmp_path / "figure.png", 48, 48, color=(10, 200, 10))
    (tmp_path / "notes.txt").write_text(CORPUS["boats.txt"])
    for name in ("figure.png", "notes.txt"):
        library.add_file(rt.catalog, rt.settings.uploads_dir, tmp_path / name, ChunkingParams())
    build_worker(rt).run_until_idle()
    config = RetrievalConfig(mode="hybrid", rerank=False, top_k=5)
    result = Retriever(rt.catalog, rt.store, rt.models).run("a green square", config)
    images = [h for h in result.hits if h.kind == ChunkKind.IMAGE]
    assert images and images[0].file_name == "figure.png"
    assert images[0].evidence.image_rank == 1
    assert not any("image search off" in n for n in result.notes)
    rt.close()


def test_figures_found_only_by_the_same_words_are_one_result() -> None:
    from dataclasses import replace

    from ragcore.retrieval import _distinct_figures
    from ragcore.testing.hits import passage_hit
    from ragcore.types import Evidence

    page_text = "NIST Privacy Framework January 16, 2020. Since its release in 2014 ..."
    figures = [
        passage_hit(page_text, number=n, doc_id="pf", page=7, kind=ChunkKind.IMAGE)
        for n in (1, 2, 3)
    ]
    by_picture = replace(
        passage_hit(page_text, number=4, doc_id="pf", page=7, kind=ChunkKind.IMAGE),
        evidence=Evidence(image_rank=1),
    )
    other_page = passage_hit(page_text, number=5, doc_id="pf", page=8, kind=ChunkKind.IMAGE)
    text = passage_hit(page_text, number=6, doc_id="pf", page=7)
    kept = _distinct_figures([text, *figures, by_picture, other_page])
    # The text; one of the three look-alike figures (a figure is not the passage it shares words
    # with); the one its picture found; the other page's.
    assert [h.point_id for h in kept] == ["point-6", "point-1", "point-4", "point-5"]
