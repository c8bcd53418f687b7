"""Collections in the app: upload into one, copy, move, rename and delete them in the Library,
and a chat scoped to one collection cites only its documents."""

from __future__ import annotations

import re
from collections.abc import Callable

from qdrant_client import QdrantClient
from streamlit.testing.v1 import AppTest

from ragcore.catalog import DocumentStatus
from ragcore.collections import payload_collections
from ragcore.runtime import Runtime

# Both files answer the same question, in different words: an unscoped question finds both.
BOATS = b"Maintenance schedule: boats need their hulls cleaned every spring season."
PLANES = b"Maintenance schedule: planes need their engines inspected every spring season."
QUESTION = "What does the maintenance schedule say about every spring season?"


def shown(markdown: str) -> str:
    """What a person reads: Markdown's backslash escapes removed (the views escape names)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _messages(at: AppTest, kind: str) -> list[str]:
    return [shown(str(e.value)) for e in getattr(at, kind)]


def _upload(at: AppTest, files: list[tuple[str, bytes, str]]) -> None:
    at.file_uploader[0].set_value(files)
    next(b for b in at.button if b.label == "Add to library").click()
    at.run()
    assert not at.exception


def _upload_into_new(at: AppTest, name: str, files: list[tuple[str, bytes, str]]) -> None:
    """Choose "New collection…" beside the uploader, name it, and upload ``files``."""
    at.selectbox(key="upload_collection").set_value(-1).run()
    at.text_input(key="upload_collection_name").set_value(name)
    _upload(at, files)


def _rows(at: AppTest) -> dict[str, dict[str, object]]:
    """The documents table by file name."""
    table = next(d for d in at.dataframe if "status" in d.value.columns)
    return {r["name"]: r for r in table.value.to_dict("records")}


def _doc_ids(runtime: Runtime) -> dict[str, str]:
    return {d.name: d.id for d in runtime.catalog.list_documents()}


def _members(runtime: Runtime, name: str) -> set[str]:
    """The file names of collection ``name``'s documents, from the catalog."""
    found = runtime.catalog.require_collection(name)
    names = {d.id: d.name for d in runtime.catalog.list_documents()}
    return {names[d] for d, ids in runtime.catalog.memberships().items() if found.id in ids}


def _payload_labels(runtime: Runtime, doc_id: str) -> set[tuple[int, ...]]:
    """The collection ids each of a document's stored points carries."""
    return {payload_collections(p.payload) for p in runtime.store.scroll_points(doc_id)}


def _library(at: AppTest) -> None:
    at.switch_page("views/library.py").run()
    assert not at.exception


def test_upload_into_a_new_collection_and_an_existing_one(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    app.run()
    _library(app)
    assert app.selectbox(key="upload_collection").value == 0  # "No collection" by default
    _upload_into_new(app, "Sea", [("boats.txt", BOATS, "text/plain")])
    assert _messages(app, "success") == ["Added boats.txt to Sea; indexing starts shortly."]
    assert _members(runtime, "Sea") == {"boats.txt"}

    # The chooser now offers the collection the upload made, and it is picked.
    sea = runtime.catalog.require_collection("Sea").id
    assert app.selectbox(key="upload_collection").value == sea
    assert "Sea" in app.selectbox(key="upload_collection").options
    _upload(app, [("planes.txt", PLANES, "text/plain")])
    assert _members(runtime, "Sea") == {"boats.txt", "planes.txt"}

    # Queued documents get their labels when their points are written.
    ingest_all()
    app.run()
    ids = _doc_ids(runtime)
    assert _payload_labels(runtime, ids["boats.txt"]) == {(sea,)}
    rows = _rows(app)
    assert rows["boats.txt"]["collections"] == "Sea" and rows["boats.txt"]["status"] == "ready"

    # A "New collection…" without a name adds nothing and says why.
    app.selectbox(key="upload_collection").set_value(-1).run()
    _upload(app, [("notes.txt", b"Some notes about nothing.", "text/plain")])
    assert any("Name the new collection first" in w for w in _messages(app, "warning"))
    assert "notes.txt" not in _doc_ids(runtime)


def test_create_copy_move_remove_rename_and_delete(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    app.run()
    _library(app)
    _upload(app, [("boats.txt", BOATS, "text/plain"), ("planes.txt", PLANES, "text/plain")])
    ingest_all()
    app.run()
    ids = _doc_ids(runtime)
    assert {r["collections"] for r in _rows(app).values()} == {"—"}

    # Create two collections; a name taken (ignoring case) is refused in one line.
    for name in ("Papers", "Archive"):
        app.text_input(key="coll_new_name").set_value(name)
        app.button(key="coll_create").click().run()
        assert _messages(app, "success") == [f"Created collection {name}."]
    app.text_input(key="coll_new_name").set_value("papers")
    app.button(key="coll_create").click().run()
    assert len(app.error) == 1 and "already exists" in app.error[0].value
    papers = runtime.catalog.require_collection("Papers")
    archive = runtime.catalog.require_collection("Archive")

    # Add (a copy) both documents to Papers.
    app.selectbox(key="coll_chosen").set_value(papers.id)
    app.multiselect(key="coll_docs").set_value([ids["boats.txt"], ids["planes.txt"]])
    app.button(key="coll_add").click().run()
    assert _messages(app, "success") == ["Added 2 documents to Papers."]
    assert _members(runtime, "Papers") == {"boats.txt", "planes.txt"}
    assert _payload_labels(runtime, ids["boats.txt"]) == {(papers.id,)}
    assert _rows(app)["planes.txt"]["collections"] == "Papers"

    # Copy boats into Archive too: it is in both, stored once.
    app.selectbox(key="coll_chosen").set_value(archive.id)
    app.multiselect(key="coll_docs").set_value([ids["boats.txt"]])
    app.button(key="coll_add").click().run()
    assert _rows(app)["boats.txt"]["collections"] == "Archive, Papers"
    assert _payload_labels(runtime, ids["boats.txt"]) == {(papers.id, archive.id)}

    # Move planes from Papers to Archive.
    app.selectbox(key="coll_chosen").set_value(archive.id).run()
    app.multiselect(key="coll_docs").set_value([ids["planes.txt"]])
    app.selectbox(key="coll_source").set_value(papers.id)
    app.button(key="coll_move").click().run()
    assert _messages(app, "success") == ["Moved 1 document from Papers to Archive."]
    assert _members(runtime, "Papers") == {"boats.txt"}
    assert _members(runtime, "Archive") == {"boats.txt", "planes.txt"}
    assert _payload_labels(runtime, ids["planes.txt"]) == {(archive.id,)}

    # Remove boats from Archive: it stays in the library and in Papers.
    app.multiselect(key="coll_docs").set_value([ids["boats.txt"]])
    app.button(key="coll_remove").click().run()
    assert _messages(app, "success") == ["Removed 1 document from Archive; the library keeps them."]
    assert _members(runtime, "Archive") == {"planes.txt"}
    assert _rows(app)["boats.txt"]["collections"] == "Papers"

    # An action with no documents picked changes nothing and says so.
    app.multiselect(key="coll_docs").set_value([])
    app.button(key="coll_add").click().run()
    assert _messages(app, "warning") == ["Pick one or more documents first."]

    # Rename: the id stays, so no point changes.
    app.selectbox(key="coll_chosen").set_value(papers.id).run()
    app.text_input(key="coll_rename_to").set_value("Reports")
    app.button(key="coll_rename").click().run()
    assert _messages(app, "success") == ["Renamed Papers to Reports."]
    assert runtime.catalog.get_collection("Papers") is None
    assert runtime.catalog.require_collection("Reports").id == papers.id
    assert _rows(app)["boats.txt"]["collections"] == "Reports"

    # Delete asks first, then forgets the collection; its documents stay.
    app.selectbox(key="coll_chosen").set_value(papers.id).run()
    app.button(key="coll_delete").click().run()
    assert any("1 document stays in the library" in w for w in _messages(app, "warning"))
    assert runtime.catalog.get_collection("Reports") is not None  # nothing before the yes
    app.button(key="coll_delete_yes").click().run()
    assert not app.exception
    assert _messages(app, "success") == [
        "Deleted collection Reports; its 1 document stays in the library."
    ]
    assert [c.name for c in runtime.catalog.collections()] == ["Archive"]
    assert len(runtime.catalog.list_documents()) == 2
    assert _payload_labels(runtime, ids["boats.txt"]) == {()}
    assert _rows(app)["boats.txt"]["collections"] == "—"


def test_a_held_store_is_a_readable_error_and_changes_nothing(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    """Another process holding the embedded store: the change is refused before the catalog is
    touched, with the store's own explanation."""
    app.run()
    _library(app)
    _upload(app, [("boats.txt", BOATS, "text/plain")])
    ingest_all()
    app.run()
    app.text_input(key="coll_new_name").set_value("Sea")
    app.button(key="coll_create").click().run()
    doc_id = _doc_ids(runtime)["boats.txt"]
    runtime.store.close()  # reopened at its next use, which finds the folder held
    holder = QdrantClient(path=str(runtime.settings.store_path))
    try:
        app.multiselect(key="coll_docs").set_value([doc_id])
        app.button(key="coll_add").click().run()
    finally:
        holder.close()
    errors = _messages(app, "error")
    assert len(errors) == 1, errors
    assert errors[0].startswith("Sea was not changed: The document store at "), errors
    assert "open in another process" in errors[0]
    assert _members(runtime, "Sea") == set()  # the catalog was not touched either


def test_a_scoped_chat_cites_only_documents_of_its_collection(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    app.run()
    _library(app)
    _upload_into_new(app, "Sea", [("boats.txt", BOATS, "text/plain")])
    _upload_into_new(app, "Air", [("planes.txt", PLANES, "text/plain")])
    ingest_all()
    assert all(d.status == DocumentStatus.READY for d in runtime.catalog.list_documents())
    ids = _doc_ids(runtime)
    by_collection = {"Sea": {ids["boats.txt"]}, "Air": {ids["planes.txt"]}}

    app.switch_page("views/chat.py").run()
    assert not app.exception
    # Unscoped, the question finds both files: the scope below is what narrows it.
    app.chat_input[0].set_value(QUESTION).run()
    assert _source_files(app) == {"boats.txt", "planes.txt"}

    for name, members in by_collection.items():
        chosen = runtime.catalog.require_collection(name)
        app.selectbox(key="chat_collection").set_value(chosen.id).run()
        app.chat_input[0].set_value(QUESTION).run()
        assert not app.exception
        answer = app.session_state["chat"][-1].answer
        assert answer is not None and answer.sources, f"no sources in {name}"
        cited = {answer.sources[c.number - 1].doc_id for c in answer.citations}
        assert cited, f"the answer scoped to {name} cites nothing"
        assert {h.doc_id for h in answer.sources} <= members
        assert cited <= members
        # The source cards drawn for it name only the collection's file.
        assert _source_files(app) == {n for n, i in ids.items() if i in members}


def _source_files(at: AppTest) -> set[str]:
    """The files named by the source cards of the last answer on the page."""
    last = [m for m in at.chat_message if m.name == "assistant"][-1]
    titles = [shown(e.label) for e in last.expander if e.label.startswith("\\[")]
    assert titles, "the last answer shows no source card"
    return {re.sub(r"^\[\d+\] (.+?) — .*$", r"\1", t) for t in titles}


def test_a_conversation_remembers_its_collection(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    """The answer says which collection it searched; reopened, the conversation picks that
    collection again."""
    app.run()
    _library(app)
    _upload_into_new(app, "Sea", [("boats.txt", BOATS, "text/plain")])
    ingest_all()
    sea = runtime.catalog.require_collection("Sea")

    app.switch_page("views/chat.py").run()
    app.selectbox(key="chat_collection").set_value(sea.id).run()
    app.chat_input[0].set_value(QUESTION).run()
    assert not app.exception
    said = "Searched in the collection **Sea**."
    assert said in [c.value for c in app.caption]
    first = app.session_state["chat_conversation"]

    # A new conversation over every document: its answer names no collection.
    app.button(key="chat_new").click().run()
    app.selectbox(key="chat_collection").set_value(None).run()
    app.chat_input[0].set_value(QUESTION).run()
    assert said not in [c.value for c in app.caption]
    assert app.selectbox(key="chat_collection").value is None

    # Reopening the first picks Sea again, and its answer still says so.
    app.button(key=f"chat_open_{first}").click().run()
    assert not app.exception
    assert app.selectbox(key="chat_collection").value == sea.id
    assert said in [c.value for c in app.caption]

    # Renamed since, the turn keeps the name it was asked under; deleted, the conversation
    # still opens and says where it searched then.
    runtime.catalog.rename_collection("Sea", "Ocean")
    app.button(key="chat_new").click().run()
    app.button(key=f"chat_open_{first}").click().run()
    assert app.selectbox(key="chat_collection").value == sea.id
    assert said in [c.value for c in app.caption]
    runtime.catalog.delete_collection("Ocean")
    app.button(key="chat_new").click().run()
    app.button(key=f"chat_open_{first}").click().run()
    assert not app.exception
    assert said in [c.value for c in app.caption]
    # No collection is left to pick, so the sidebar offers none and the chat searches all.
    assert all(box.key != "chat_collection" for box in app.selectbox)
    assert app.session_state["chat_collection"] is None
