"""The Library's collections: list them, make, rename and delete one, and change its documents.

Every change is made in a button's callback, before the page is drawn again, so the table of
collections and the documents table below show it in the same run; what happened is said in
one line at the top of the section. Documents are never deleted here: a collection only groups
them, and membership changes rewrite labels in the store without embedding anything again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from app import render
from ragcore import collections
from ragcore.catalog import CollectionRecord, DocumentRecord
from ragcore.errors import RagError
from ragcore.runtime import Runtime

NOTE_KEY = "collections_note"  # (level, message) of the last change, shown once
NEW_NAME_KEY = "coll_new_name"
RENAME_KEY = "coll_rename_to"
CHOSEN_KEY = "coll_chosen"  # the collection being changed (its id)
DOCS_KEY = "coll_docs"  # the documents picked for add, remove and move
SOURCE_KEY = "coll_source"  # the collection documents are moved from (its id)
CONFIRM_KEY = "coll_confirm_delete"  # the id of the collection whose deletion is being asked


def plural(count: int, noun: str = "document") -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def stay(count: int) -> str:
    """What a change leaves in the library: "1 document stays", "2 documents stay"."""
    return f"{plural(count)} {'stays' if count == 1 else 'stay'}"


def _note(level: str, message: str) -> None:
    st.session_state[NOTE_KEY] = (level, message)


def _attempt(what: str, change: Callable[[], str]) -> None:
    """Run ``change`` and note its message; a refusal becomes one readable error line.

    ``RagError`` covers a name taken (CollectionExists), a collection deleted in another tab
    (CollectionNotFound) and the store held by another process (StoreUnavailable, raised
    before anything changed); ValueError an empty or over-long name.
    """
    try:
        _note("success", change())
    except (RagError, ValueError) as exc:
        _note("error", f"{what}: {exc}")


def _picked_docs() -> list[str]:
    return list(st.session_state.get(DOCS_KEY) or [])


def _current(rt: Runtime, key: str) -> CollectionRecord | None:
    """The collection whose id widget ``key`` holds now, read when a button is clicked rather
    than bound when it was drawn: a choice changed just before the click counts."""
    chosen = st.session_state.get(key)
    return rt.catalog.get_collection(chosen) if isinstance(chosen, int) else None


def _gone() -> None:
    _note("error", "That collection is gone (deleted in another tab?); choose another.")


# --- callbacks (they run before the page is drawn, so they may set widget state) -------------


def _create(rt: Runtime) -> None:
    name = str(st.session_state.get(NEW_NAME_KEY) or "")

    def change() -> str:
        made = rt.catalog.create_collection(name)
        st.session_state[NEW_NAME_KEY] = ""
        st.session_state[CHOSEN_KEY] = made.id  # the new one is the one to fill next
        return f"Created collection {made.name}."

    _attempt("No collection was made", change)


def _rename(rt: Runtime) -> None:
    chosen = _current(rt, CHOSEN_KEY)
    if chosen is None:
        _gone()
        return
    new_name = str(st.session_state.get(RENAME_KEY) or "")

    def change() -> str:
        renamed = rt.catalog.rename_collection(chosen.name, new_name)
        st.session_state[RENAME_KEY] = ""
        return f"Renamed {chosen.name} to {renamed.name}."

    _attempt(f"{chosen.name} was not renamed", change)


def _delete(rt: Runtime) -> None:
    chosen = _current(rt, CONFIRM_KEY)  # the one the question named
    st.session_state.pop(CONFIRM_KEY, None)
    if chosen is None:
        _gone()
        return

    def change() -> str:
        members = collections.delete_collection(rt.catalog, rt.store, chosen.name)
        return f"Deleted collection {chosen.name}; its {stay(len(members))} in the library."

    _attempt(f"{chosen.name} was not deleted", change)


def _ask_delete() -> None:
    st.session_state[CONFIRM_KEY] = st.session_state.get(CHOSEN_KEY)


def _cancel_delete() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


def _chosen_and_picked(rt: Runtime) -> tuple[CollectionRecord, list[str]] | None:
    """The collection picked and the documents picked; None, with the reason noted, if either
    is missing."""
    chosen = _current(rt, CHOSEN_KEY)
    if chosen is None:
        _gone()
        return None
    picked = _picked_docs()
    if not picked:
        _note("warning", "Pick one or more documents first.")
        return None
    return chosen, picked


def _add(rt: Runtime) -> None:
    target = _chosen_and_picked(rt)
    if target is None:
        return
    chosen, picked = target

    def change() -> str:
        added = collections.add_documents(rt.catalog, rt.store, chosen, picked)
        already = len(picked) - len(added)
        said = f"Added {plural(len(added))} to {chosen.name}"
        return said + (f" ({already} already in it)." if already else ".")

    _attempt(f"{chosen.name} was not changed", change)


def _remove(rt: Runtime) -> None:
    target = _chosen_and_picked(rt)
    if target is None:
        return
    chosen, picked = target

    def change() -> str:
        removed = collections.remove_documents(rt.catalog, rt.store, chosen, picked)
        if not removed:
            return f"None of those documents is in {chosen.name}; nothing changed."
        return f"Removed {plural(len(removed))} from {chosen.name}; the library keeps them."

    _attempt(f"{chosen.name} was not changed", change)


def _move(rt: Runtime) -> None:
    chosen = _current(rt, CHOSEN_KEY)
    if chosen is None:
        _gone()
        return
    picked = _picked_docs()
    source = _current(rt, SOURCE_KEY)
    if not picked or source is None or source.id == chosen.id:
        _note("warning", "Pick one or more documents and the collection to move them from.")
        return

    def change() -> str:
        moved = collections.move_documents(
            rt.catalog, rt.store, picked, source=source, target=chosen
        )
        if not moved:
            return f"None of those documents is in {source.name}; nothing moved."
        return f"Moved {plural(len(moved))} from {source.name} to {chosen.name}."

    _attempt(f"Nothing was moved to {chosen.name}", change)


# --- drawing ----------------------------------------------------------------------------------


def show_note() -> None:
    """The last change's one line, once; names in it were typed by a person, so escaped."""
    noted = st.session_state.pop(NOTE_KEY, None)
    if noted is not None:
        level, message = noted
        getattr(st, level)(render.md_escape(message))


def create_controls(rt: Runtime) -> None:
    name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    name_col.text_input(
        "New collection", key=NEW_NAME_KEY, placeholder="e.g. Contracts", max_chars=80
    )
    button_col.button("Create", key="coll_create", on_click=_create, args=(rt,))


def rename_delete_controls(rt: Runtime, chosen: CollectionRecord) -> None:
    name_col, rename_col, delete_col = st.columns([3, 1, 1], vertical_alignment="bottom")
    name_col.text_input("Rename to", key=RENAME_KEY, placeholder=chosen.name, max_chars=80)
    rename_col.button("Rename", key="coll_rename", on_click=_rename, args=(rt,))
    delete_col.button("Delete…", key="coll_delete", on_click=_ask_delete)
    if st.session_state.get(CONFIRM_KEY) != chosen.id:
        return
    st.warning(
        f"Delete the collection **{render.md_escape(chosen.name)}**? Its "
        f"{stay(chosen.documents)} in the library (and in any other collection); "
        "only this grouping goes."
    )
    yes, no = st.columns(2)
    yes.button(
        "Yes, delete the collection",
        type="primary",
        key="coll_delete_yes",
        on_click=_delete,
        args=(rt,),
    )
    no.button("Cancel", key="coll_delete_no", on_click=_cancel_delete)


def member_controls(
    rt: Runtime,
    chosen: CollectionRecord,
    listed: Sequence[CollectionRecord],
    docs: Sequence[DocumentRecord],
) -> None:
    """Pick documents, then add them to ``chosen`` (a copy: they stay where else they are),
    remove them from it, or move them into it from another collection."""
    names = {d.id: d.name for d in docs}
    st.multiselect(
        "Documents",
        list(names),
        format_func=lambda i: names.get(i, i[:12]),
        placeholder="Pick the documents to add, remove or move",
        key=DOCS_KEY,
    )
    add_col, remove_col = st.columns(2)
    add_col.button(
        f"Add to {render.md_escape(chosen.name)}",
        key="coll_add",
        help="A copy: the documents stay in their other collections. Nothing is re-embedded.",
        on_click=_add,
        args=(rt,),
    )
    remove_col.button(
        f"Remove from {render.md_escape(chosen.name)}",
        key="coll_remove",
        help="The documents stay in the library.",
        on_click=_remove,
        args=(rt,),
    )
    others = {c.id: c for c in listed if c.id != chosen.id}
    if not others:
        st.caption("Make a second collection to move documents between them.")
        return
    from_col, move_col = st.columns([3, 1], vertical_alignment="bottom")
    from_col.selectbox(
        "Move from",
        list(others),
        format_func=lambda i: f"{others[i].name} ({others[i].documents})",
        key=SOURCE_KEY,
    )
    move_col.button(
        f"Move to {render.md_escape(chosen.name)}",
        key="coll_move",
        help="Out of the collection on the left, into this one.",
        on_click=_move,
        args=(rt,),
    )


def section(rt: Runtime, docs: Sequence[DocumentRecord]) -> None:
    """The whole section: what there is, then how to change it."""
    listed = rt.catalog.collections()
    st.subheader(f"Collections ({len(listed)})")
    show_note()
    if listed:
        st.dataframe(
            pd.DataFrame([{"collection": c.name, "documents": c.documents} for c in listed]),
            hide_index=True,
        )
    else:
        st.caption(
            'Collections are named sets of documents ("Contracts", "Papers"); a chat can '
            "search one of them. A document can be in several without being stored twice."
        )
    create_controls(rt)
    if not listed:
        return
    by_id = {c.id: c for c in listed}
    chosen_id = st.selectbox(
        "Change collection",
        list(by_id),
        format_func=lambda i: f"{by_id[i].name} ({by_id[i].documents})",
        key=CHOSEN_KEY,
    )
    chosen = by_id.get(chosen_id) if chosen_id is not None else None
    if chosen is None:
        return
    rename_delete_controls(rt, chosen)
    if docs:
        member_controls(rt, chosen, listed, docs)
