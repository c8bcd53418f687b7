"""Collections: the payload that carries membership, and questions scoped to one collection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.consistency import ProblemKind, check_library, repair_library
from ingest.service import build_worker
from ragcore import collections, library
from ragcore.catalog import Catalog, DocumentRecord
from ragcore.collections import payload_collections
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.retrieval_config import RetrievalMode
from ragcore.runtime import Runtime
from ragcore.scope import Scope, allowed_documents, file_kind
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

PARAMS = ChunkingParams(Strategy.SENTENCE, 64, 0)
# Every file mentions maintenance, so an unscoped question finds all of them.
CORPUS = {
    "boats.txt": "Maintenance of sailing boats: hulls are cleaned and rigging checked each season.",
    "planes.md": "Maintenance of aircraft follows strict schedules set by the aviation authority.",
    "trains.txt": "Maintenance of railway engines happens in depots; brakes and wheels inspected.",
    "cars.txt": "Maintenance of a car: oil, brakes and tyres are checked by the garage.",
}


def _doc(catalog: Catalog, doc_id: str, name: str = "a.txt") -> None:
    catalog.upsert_document(
        DocumentRecord(
            id=doc_id,
            name=name,
            mime="text/plain",
            size_bytes=1,
            path=f"/tmp/{doc_id}",
            pages=1,
            pages_without_text=0,
            chunks=0,
            images=0,
            status="queued",
            error=None,
            strategy=None,
            chunk_size=None,
            overlap=None,
            embed_model=None,
            created_at=0.0,
            updated_at=0.0,
        )
    )


# The catalog's collections (made, renamed, deleted, members) are tested on both backends in
# test_catalog_contract.py.

# --- scope ------------------------------------------------------------------------------------


def test_scope_filters_by_pick_file_type_and_date(tmp_path: Path) -> None:
    now = [1_000.0]
    catalog = Catalog(tmp_path / "catalog.sqlite3", clock=lambda: now[0])
    _doc(catalog, "old-pdf", "report.PDF")
    now[0] = 5_000.0  # documents are stamped when the catalog lists them
    _doc(catalog, "new-pdf", "paper.pdf")
    _doc(catalog, "new-md", "notes.md")
    assert allowed_documents(catalog, Scope()) is None  # no filter at all
    assert allowed_documents(catalog, Scope(collection=3)) is None  # filtered by the searches
    assert sorted(allowed_documents(catalog, Scope(kinds=frozenset({"PDF"}))) or []) == [
        "new-pdf",
        "old-pdf",
    ]
    assert sorted(allowed_documents(catalog, Scope(added_from=2_000.0)) or []) == [
        "new-md",
        "new-pdf",
    ]
    assert allowed_documents(catalog, Scope(added_until=5_000.0)) == ["old-pdf"]
    picked = Scope(doc_ids=("old-pdf", "new-md"), kinds=frozenset({"Markdown"}))
    assert allowed_documents(catalog, picked) == ["new-md"]
    assert allowed_documents(catalog, Scope(kinds=frozenset({"Image"}))) == []
    assert file_kind("scan.JPEG") == "Image" and file_kind("archive.zip") == "Other"
    with pytest.raises(ValueError, match="unknown file types"):
        Scope(kinds=frozenset({"pdf"}))
    catalog.close()


# --- scoped questions on a real (embedded) store ---------------------------------------------


@pytest.fixture()
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "data")
    for name, text in CORPUS.items():
        path = tmp_path / name
        path.write_text(text)
        library.add_file(runtime.catalog, runtime.settings.uploads_dir, path, PARAMS)
    build_worker(runtime).run_until_idle()
    yield runtime
    runtime.close()


def _ids(rt: Runtime) -> dict[str, str]:
    return {d.name: d.id for d in rt.catalog.list_documents()}


def _found(rt: Runtime, mode: RetrievalMode, scope: Scope) -> set[str]:
    config = RetrievalConfig(mode=mode, rerank=False, top_k=10)
    result = Retriever(rt.catalog, rt.store, rt.models).run("maintenance", config, scope=scope)
    return {h.file_name for h in result.hits}


def _payload_ids(rt: Runtime, doc_id: str) -> set[tuple[int, ...]]:
    return {payload_collections(p.payload) for p in rt.store.scroll(doc_id)}


@pytest.mark.parametrize("mode", list(RetrievalMode))
def test_a_scoped_question_finds_only_the_collections_documents(
    rt: Runtime, mode: RetrievalMode
) -> None:
    ids = _ids(rt)
    vehicles = rt.catalog.create_collection("Vehicles")
    collections.add_documents(rt.catalog, rt.store, vehicles, [ids["cars.txt"], ids["trains.txt"]])
    assert _found(rt, mode, Scope()) == set(CORPUS)
    assert _found(rt, mode, Scope(collection=vehicles.id)) == {"cars.txt", "trains.txt"}
    # Filters combine: the collection and a file type.
    assert _found(rt, mode, Scope(collection=vehicles.id, kinds=frozenset({"Markdown"}))) == set()
    empty = rt.catalog.create_collection("Empty")
    assert _found(rt, mode, Scope(collection=empty.id)) == set()


def test_moving_and_copying_rewrite_the_payload_without_embedding_again(rt: Runtime) -> None:
    ids = _ids(rt)
    a = rt.catalog.create_collection("A")
    b = rt.catalog.create_collection("B")
    boats = ids["boats.txt"]
    vectors_before = {p.id: p.vectors for p in rt.store.scroll_points(boats)}
    collections.add_documents(rt.catalog, rt.store, a, [boats])
    assert _payload_ids(rt, boats) == {(a.id,)}
    collections.add_documents(rt.catalog, rt.store, b, [boats])  # copy: in both now
    assert _payload_ids(rt, boats) == {(a.id, b.id)}
    collections.move_documents(rt.catalog, rt.store, [boats], source=a, target=b)
    assert _payload_ids(rt, boats) == {(b.id,)}
    assert rt.catalog.collection_ids_of(boats) == (b.id,)
    assert _found(rt, RetrievalMode.DENSE, Scope(collection=a.id)) == set()
    assert _found(rt, RetrievalMode.DENSE, Scope(collection=b.id)) == {"boats.txt"}
    # Stored once: the same points and vectors, only the payload changed.
    assert {p.id: p.vectors for p in rt.store.scroll_points(boats)} == vectors_before
    assert rt.store.count() == len(rt.catalog.chunks())
    collections.remove_documents(rt.catalog, rt.store, b, [boats])
    assert _payload_ids(rt, boats) == {()}


def test_a_document_added_into_a_collection_is_written_with_its_label(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path / "data")
    try:
        path = tmp_path / "reef.txt"
        path.write_text("The reef lighthouse was rebuilt after the storm.")
        papers = runtime.catalog.create_collection("Papers")
        added = library.add_file(runtime.catalog, runtime.settings.uploads_dir, path, PARAMS)
        collections.add_documents(runtime.catalog, runtime.store, papers, [added.document.id])
        build_worker(runtime).run_until_idle()
        assert _payload_ids(runtime, added.document.id) == {(papers.id,)}
    finally:
        runtime.close()


def test_check_finds_and_repairs_points_whose_collections_drifted(rt: Runtime) -> None:
    ids = _ids(rt)
    a = rt.catalog.create_collection("A")
    # The catalog changed but the store did not (a crash between the two writes).
    rt.catalog.add_to_collection(a.id, [ids["planes.md"]])
    report = check_library(rt.catalog, rt.store)
    drift = [p for p in report.problems if p.kind == ProblemKind.POINT_COLLECTIONS]
    assert [p.doc_id for p in drift] == [ids["planes.md"]]
    assert _found(rt, RetrievalMode.DENSE, Scope(collection=a.id)) == set()
    repair_library(rt.catalog, rt.store, report, default_params=PARAMS)
    assert check_library(rt.catalog, rt.store).clean
    assert _found(rt, RetrievalMode.DENSE, Scope(collection=a.id)) == {"planes.md"}


def test_deleting_a_collection_relabels_its_former_members(rt: Runtime) -> None:
    ids = _ids(rt)
    a = rt.catalog.create_collection("A")
    collections.add_documents(rt.catalog, rt.store, a, [ids["cars.txt"]])
    assert collections.delete_collection(rt.catalog, rt.store, "A") == [ids["cars.txt"]]
    assert _payload_ids(rt, ids["cars.txt"]) == {()}
    assert check_library(rt.catalog, rt.store).clean
    assert {d.name for d in rt.catalog.list_documents()} == set(CORPUS)
