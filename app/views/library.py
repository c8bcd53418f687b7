"""Library: add documents, watch them being indexed, and manage what is there."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import PurePath
from typing import BinaryIO

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from app import collections_panel, render, resources
from ingest.service import EXTENSIONS, HEAD_BYTES, IMAGE_TYPES, detect_type
from ragcore import collections, library
from ragcore.catalog import CollectionRecord, DocumentRecord, DocumentStatus, JobKind, JobRecord
from ragcore.errors import RagError
from ragcore.models.loader import NOT_LOADED
from ragcore.runtime import Runtime, chunking_params
from ragcore.sources.cache import PageCache, pages_dir
from ragcore.types import ChunkingParams, Strategy

# What the parsers read, from their own list, so the uploader never refuses a readable type.
ACCEPTED = tuple(sorted(suffix.lstrip(".") for suffix in EXTENSIONS))
BLOCK = 1 << 20  # bytes per write while saving an upload
SHOWN_JOBS = 20
# A finished job's bar stays this long, then makes room; failures stay below, with their files.
FINISHED_SHOWN_SECONDS = 15.0
FINISHED_SEEN = "library_finished_seen"  # job id -> when this session first showed it finished
PAGE_RUN = "library_page_run"  # set while the whole page runs, not the progress panel alone
# The upload's collection: the chooser's choice, a new collection's name, and the collection
# a finished upload made, picked in the chooser at the next full run (a widget's value cannot
# change once it is drawn in a run).
UPLOAD_COLLECTION_KEY = "upload_collection"
UPLOAD_NEW_NAME_KEY = "upload_collection_name"
UPLOAD_COLLECTION_NEXT = "upload_collection_next"
NO_COLLECTION = 0  # collection ids start at 1
NEW_COLLECTION = -1

STRATEGY_HELP = (
    "recursive: split at paragraphs, then sentences, then words, up to the size · "
    "sentence: whole sentences up to the size · fixed: exactly the size in tokens"
)


def _blocks(upload: BinaryIO) -> Iterator[bytes]:
    upload.seek(0)
    while block := upload.read(BLOCK):
        yield block


def _params(strategy: str, size: int, overlap: int | None) -> ChunkingParams:
    return chunking_params(
        resources.settings(), strategy=Strategy(strategy), chunk_size=size, overlap=overlap
    )


def _track(job: JobRecord | None) -> None:
    if job is None:
        return
    tracked: list[int] = st.session_state.setdefault("tracked_jobs", [])
    if job.id not in tracked:
        tracked.append(job.id)
    del tracked[:-SHOWN_JOBS]


def refusal(upload: BinaryIO, name: str) -> tuple[str | None, str | None]:
    """(the type the file is read as, None) or (None, why it is refused), from its first bytes.

    What the worker would refuse anyway (a program, an empty file, a PNG named ``.pdf``) is
    refused here, before it is added, so the person reads one message instead of "Added"
    followed by a failure.
    """
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    try:
        return detect_type(head, name), None
    except RagError as exc:
        return None, str(exc)


def image_model_off(rt: Runtime) -> str | None:
    """Why images are not embedded (the image model is off or cannot load), or None."""
    image = next(s for s in rt.models.status(load=False) if s.role == "image")
    return None if image.available or image.detail == NOT_LOADED else image.detail


def _put_in(rt: Runtime, into: CollectionRecord, added: library.Added) -> str | None:
    """Make an added document a member of ``into``; None, or why it is not.

    A new document is still queued, so only the catalog changes (its points are labelled as
    they are written); one already indexed has its points relabelled, which needs the store.
    """
    try:
        collections.add_documents(rt.catalog, rt.store, into, [added.document.id])
    except RagError as exc:
        return f"{added.document.name} was added but not put in {into.name}: {exc}"
    return None


def add_uploads(
    rt: Runtime,
    uploads: list[UploadedFile],
    params: ChunkingParams,
    into: CollectionRecord | None = None,
) -> list[tuple[str, str]]:
    """Save each upload and queue it, in collection ``into`` if given; returns (level,
    message) notes for the person."""
    settings = rt.settings
    limit = int(settings.max_file_mb * 1024 * 1024)
    if len(uploads) > resources.MAX_FILES_PER_UPLOAD:
        return [
            (
                "error",
                f"You chose {len(uploads)} files; add at most "
                f"{resources.MAX_FILES_PER_UPLOAD} at a time.",
            )
        ]
    notes: list[tuple[str, str]] = []
    added_names: list[str] = []
    images = 0
    for upload in uploads:
        name = upload.name
        suffix = PurePath(name).suffix.lstrip(".").lower()
        if suffix not in ACCEPTED:
            notes.append(
                (
                    "error",
                    f"{name} was not added: .{suffix or '?'} files are not read here "
                    f"(these are: {', '.join(ACCEPTED)}).",
                )
            )
            continue
        # The browser enforces the limit too, but a request can skip the browser.
        if upload.size > limit:
            notes.append(
                (
                    "error",
                    f"{name} is {upload.size / 1048576:.1f} MB; "
                    f"the limit is {settings.max_file_mb:g} MB per file.",
                )
            )
            continue
        kind, refused = refusal(upload, name)
        if refused is not None:
            notes.append(("error", refused))
            continue
        images += kind in IMAGE_TYPES
        try:
            # The stream is held to the limit as well, so no bytes over it are ever kept.
            added = library.add_bytes(
                rt.catalog, rt.files, name, _blocks(upload), params, max_bytes=limit
            )
        except (OSError, RagError) as exc:
            notes.append(("error", f"{name} could not be saved: {exc}"))
            continue
        if into is not None and (problem := _put_in(rt, into, added)) is not None:
            notes.append(("error", problem))
        if added.duplicate and added.job is None:
            notes.append(("info", f"{added.document.name} is already in the library."))
        elif added.duplicate:
            notes.append(
                ("info", f"{added.document.name} is already in the library; it is being indexed.")
            )
            _track(added.job)
        else:
            added_names.append(added.document.name)
            _track(added.job)
    if added_names:
        listed = ", ".join(added_names)
        where = f" to {into.name}" if into is not None else ""
        notes.insert(0, ("success", f"Added {listed}{where}; indexing starts shortly."))
    if images and (why := image_model_off(rt)) is not None:
        notes.append(
            (
                "info",
                "Images are found only by their file name and any text OCR reads in them: "
                f"the image model (CLIP) is off ({why}).",
            )
        )
    return notes


def collection_chooser(rt: Runtime) -> str | None:
    """The collection uploads go into: an existing one's name, a new one's typed name ("" while
    none is typed), or None for no collection.

    Drawn above the upload form, not in it: a form's widgets do not rerun the page, so the
    name field could not appear when "New collection…" is chosen.
    """
    listed = {c.id: c.name for c in rt.catalog.collections()}
    made = st.session_state.pop(UPLOAD_COLLECTION_NEXT, None)
    if made in listed:
        st.session_state[UPLOAD_COLLECTION_KEY] = made
        st.session_state[UPLOAD_NEW_NAME_KEY] = ""
    labels = {NO_COLLECTION: "No collection", **listed, NEW_COLLECTION: "New collection…"}
    choice_col, name_col = st.columns(2)
    choice = choice_col.selectbox(
        "Add to collection",
        list(labels),
        format_func=labels.__getitem__,
        key=UPLOAD_COLLECTION_KEY,
        help="Uploads can go into a collection; a chat can then search just that collection.",
    )
    if choice != NEW_COLLECTION:
        return listed.get(choice) if choice is not None else None
    name = name_col.text_input(
        "New collection name", key=UPLOAD_NEW_NAME_KEY, placeholder="e.g. Papers", max_chars=80
    )
    if name.strip():
        # Said back, so the person sees the name was taken in before adding the files.
        name_col.caption(f"The files go into **{render.md_escape(' '.join(name.split()))}**.")
    return name


def _upload_collection(rt: Runtime, name: str | None) -> tuple[CollectionRecord | None, str | None]:
    """(the collection to add into, None) or (None, why not): made now if it is new."""
    if name is None:
        return None, None
    if not name.strip():
        return None, "Name the new collection first (or choose another)."
    try:
        into = rt.catalog.ensure_collection(name)
    except (RagError, ValueError) as exc:
        return None, f"Collection: {exc}"
    return into, None


def upload_form(rt: Runtime) -> None:
    settings = rt.settings
    collection = collection_chooser(rt)
    with st.form("upload", clear_on_submit=True):
        # No ``type=`` here: the uploader would drop other files without a word on submit;
        # add_uploads refuses them with a message instead.
        uploads = st.file_uploader(
            "Drop PDFs, Word, PowerPoint, Excel, HTML, CSV, Markdown, text files and images",
            accept_multiple_files=True,
            max_upload_size=max(1, math.ceil(settings.max_file_mb)),
            help=f"Up to {resources.MAX_FILES_PER_UPLOAD} files at once, "
            f"{settings.max_file_mb:g} MB each.",
        )
        left, middle, right = st.columns(3)
        strategies = [s.value for s in Strategy]
        strategy = left.selectbox(
            "Chunking strategy",
            strategies,
            index=strategies.index(str(settings.chunk_strategy)),
            help=STRATEGY_HELP,
        )
        size = middle.number_input(
            "Chunk size (tokens)", min_value=16, max_value=4096, value=settings.chunk_size, step=16
        )
        overlap = right.number_input(
            "Overlap",
            min_value=0,
            max_value=4096,
            value=None,
            placeholder=f"default ({settings.chunk_overlap} tokens)",
            help="Tokens for fixed and recursive chunks, sentences for the sentence strategy.",
        )
        submitted = st.form_submit_button("Add to library", type="primary")
    if not submitted:
        return
    if not uploads:
        st.session_state["upload_notes"] = [("warning", "Choose at least one file first.")]
        return
    try:
        params = _params(strategy, int(size), None if overlap is None else int(overlap))
    except ValueError as exc:
        st.session_state["upload_notes"] = [("error", f"Chunking settings: {exc}")]
        return
    into, refused = _upload_collection(rt, collection)
    if refused is not None:
        st.session_state["upload_notes"] = [("warning", refused)]
        return
    st.session_state["upload_notes"] = add_uploads(rt, list(uploads), params, into)
    if into is not None and st.session_state.get(UPLOAD_COLLECTION_KEY) == NEW_COLLECTION:
        # The chooser above was drawn before the collection existed: draw the page again
        # with it listed and picked, so the next upload goes there too.
        st.session_state[UPLOAD_COLLECTION_NEXT] = into.id
        st.rerun()


def show_notes() -> None:
    # Shown once: the next full rerun (a click, a job ending) starts from a clean page.
    for level, message in st.session_state.pop("upload_notes", []):
        # Notes quote file names and error text, which a person (or a document) chose:
        # they are shown as typed, never as Markdown.
        getattr(st, level)(render.md_escape(message))


def _recently_finished(job: JobRecord, now: float) -> bool:
    """Whether a finished job's bar is still up: for FINISHED_SHOWN_SECONDS from when this
    session first showed it finished, not from when it finished. On a busy machine a redraw
    can come long after the job ended, and the person must still see "ready" once."""
    if job.active:
        return False
    first_shown: dict[int, float] = st.session_state.setdefault(FINISHED_SEEN, {})
    return now - first_shown.setdefault(job.id, now) <= FINISHED_SHOWN_SECONDS


def _jobs_to_show(rt: Runtime) -> tuple[list[JobRecord], set[int]]:
    """Jobs in flight, and this session's jobs that finished a moment ago."""
    active = rt.catalog.jobs(active_only=True, limit=SHOWN_JOBS)
    ids = [j.id for j in active]
    ids += [i for i in reversed(st.session_state.get("tracked_jobs", [])) if i not in ids]
    jobs = [job for i in sorted(ids[:SHOWN_JOBS]) if (job := rt.catalog.get_job(i)) is not None]
    now = time.time()
    shown = [j for j in jobs if j.active or _recently_finished(j, now)]
    # Jobs no longer shown are forgotten, so their bars never come back.
    st.session_state["tracked_jobs"] = [
        i for i in st.session_state.get("tracked_jobs", []) if i in {j.id for j in shown}
    ]
    return shown, {j.id for j in active}


def finished_on_screen(rt: Runtime) -> bool:
    """Whether a finished job's bar is up: the panel then refreshes until it has gone."""
    now = time.time()
    tracked = st.session_state.get("tracked_jobs", [])
    return any(
        (job := rt.catalog.get_job(i)) is not None and _recently_finished(job, now) for i in tracked
    )


def progress_panel(rt: Runtime) -> None:
    """Every job in flight and this session's recent ones, refreshed each second while busy.

    A failed job is no bar (a full bar reads as done): its file is listed under "Failed" with
    the whole reason and what can be done, once.
    """
    jobs, active = _jobs_to_show(rt)
    names = {d.id: d.name for d in rt.catalog.list_documents()}
    bars = [j for j in jobs if not render.job_view(j).failed]
    if bars:
        st.subheader("Indexing")
    for job in bars:
        name = library.job_file_name(job, names)
        view = render.job_view(job)
        action = "re-index" if job.kind == JobKind.REINDEX else "add"
        st.progress(
            view.fraction,
            text=f"**{render.md_escape(name)}** ({action}) — {render.md_escape(view.label)}",
        )
    finished = st.session_state.get("active_jobs", set()) - active
    st.session_state["active_jobs"] = active
    cleared = st.session_state.get("bars_on_screen", False) and not bars
    st.session_state["bars_on_screen"] = bool(bars)
    if (finished or cleared) and not st.session_state.get(PAGE_RUN):
        # A job ended: the documents table below is stale, so redraw the whole page. The
        # last bar gone: redraw it too, which also stops this panel's polling. Only from the
        # panel's own runs: in a run of the whole page the table is drawn fresh after the
        # panel, and a rerun there would swallow the click that started the run.
        st.rerun()


def failed_files(rt: Runtime, docs: list[DocumentRecord]) -> None:
    """Each failed file with its whole reason, and a retry and a remove button."""
    failed = [d for d in docs if d.status == DocumentStatus.FAILED]
    if not failed:
        return
    st.subheader(f"Failed ({len(failed)})")
    for doc in failed:
        st.error(render.md_escape(f"{doc.name} failed: {doc.error or 'no reason recorded'}"))
        retry_col, remove_col, _ = st.columns([1, 1, 4])
        if retry_col.button("Retry", key=f"retry_{doc.id}", help="Index this file again."):
            try:
                job = library.retry(rt.catalog, doc.id, chunking_params(rt.settings))
            except (KeyError, ValueError) as exc:
                st.session_state["upload_notes"] = [("error", str(exc))]
            else:
                _track(job)
            st.rerun()
        if remove_col.button("Remove", key=f"remove_{doc.id}", help="Remove it from the library."):
            try:
                library.delete_document(
                    rt.catalog,
                    rt.store,
                    doc.id,
                    page_cache=PageCache(pages_dir(rt.settings.data_dir)),
                    files=rt.files,
                )
            except RagError as exc:
                st.session_state["upload_notes"] = [("error", f"{doc.name} was not removed: {exc}")]
            else:
                st.session_state["upload_notes"] = [("success", f"{doc.name} removed.")]
            st.rerun()


def collection_names(rt: Runtime) -> dict[str, list[str]]:
    """The names of the collections each document is in, by document id, in name order."""
    listed = rt.catalog.collections()  # by name
    memberships = rt.catalog.memberships()
    return {doc_id: [c.name for c in listed if c.id in ids] for doc_id, ids in memberships.items()}


def documents_table(rt: Runtime) -> list[DocumentRecord]:
    """The table, failed files and one document's controls; returns the documents listed."""
    docs = rt.catalog.list_documents()
    st.subheader(f"Documents ({len(docs)})")
    if not docs:
        st.info("Nothing here yet: drop some files above.")
        return docs
    states = [d.status for d in docs]
    indexing = states.count(DocumentStatus.QUEUED) + states.count(DocumentStatus.PROCESSING)
    ready, failed = states.count(DocumentStatus.READY), states.count(DocumentStatus.FAILED)
    st.caption(f"{ready} ready · {indexing} being indexed · {failed} failed")
    st.dataframe(pd.DataFrame(render.document_rows(docs, collection_names(rt))), hide_index=True)
    failed_files(rt, docs)
    names = {d.id: d.name for d in docs}
    chosen = st.selectbox(
        "Manage a document", list(names), format_func=lambda i: names[i], key="manage_doc"
    )
    if chosen is not None:
        reindex_col, delete_col = st.columns(2)
        with reindex_col:
            reindex_controls(rt, chosen)
        with delete_col:
            delete_controls(rt, chosen, names[chosen])
    return docs


def reindex_controls(rt: Runtime, doc_id: str) -> None:
    settings = rt.settings
    strategies = [s.value for s in Strategy]
    strategy = st.selectbox(
        "Re-index with strategy",
        strategies,
        index=strategies.index(str(settings.chunk_strategy)),
        key="reindex_strategy",
    )
    size = st.number_input(
        "Chunk size (tokens)",
        min_value=16,
        max_value=4096,
        value=settings.chunk_size,
        step=16,
        key="reindex_size",
    )
    if st.button("Re-index", key="reindex"):
        try:
            job = library.reindex(rt.catalog, doc_id, _params(strategy, int(size), None))
        except (ValueError, KeyError) as exc:
            st.error(render.md_escape(str(exc)))
            return
        _track(job)
        st.rerun()


def delete_controls(rt: Runtime, doc_id: str, name: str) -> None:
    if st.session_state.get("confirm_delete") != doc_id:
        if st.button("Delete…", key="delete"):
            st.session_state["confirm_delete"] = doc_id
            st.rerun()
        return
    st.warning(
        f"Delete **{render.md_escape(name)}**? Its file, passages and vectors are removed; "
        "answers can no longer cite it."
    )
    yes, no = st.columns(2)
    if yes.button("Yes, delete", type="primary", key="delete_yes"):
        st.session_state.pop("confirm_delete", None)
        try:
            library.delete_document(
                rt.catalog,
                rt.store,
                doc_id,
                page_cache=PageCache(pages_dir(rt.settings.data_dir)),
                files=rt.files,
            )
        except RagError as exc:
            # The store is opened before the catalog is touched: a failure leaves it whole.
            st.error(render.md_escape(f"{name} was not deleted: {exc}"))
            return
        st.session_state["upload_notes"] = [("success", f"{name} deleted.")]
        st.rerun()
    if no.button("Cancel", key="delete_no"):
        st.session_state.pop("confirm_delete", None)
        st.rerun()


rt = resources.runtime()
st.title("Library")
if rt.settings.store != "embedded":
    st.caption("Server mode: uploads are queued here and indexed by the worker processes.")
upload_form(rt)
show_notes()
# Poll only while something is in flight; an idle library page costs nothing.
busy = bool(rt.catalog.jobs(active_only=True, limit=1)) or finished_on_screen(rt)
st.session_state[PAGE_RUN] = True
try:
    st.fragment(run_every=1.0 if busy else None)(progress_panel)(rt)
finally:
    st.session_state[PAGE_RUN] = False
collections_panel.section(rt, documents_table(rt))
