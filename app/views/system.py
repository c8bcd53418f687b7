"""System: where the data lives, which models and language model are in use, and the job queue."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import streamlit as st

from app import render, resources
from ingest.service import cancel_reembed, ocr_status, parse_limits, start_reembed
from ragcore.catalog import JobKind, JobStatus, SpaceBusy
from ragcore.errors import RagError
from ragcore.library import job_file_name
from ragcore.llm_speed import SpeedRecord
from ragcore.models.loader import NOT_LOADED
from ragcore.models.provenance import space_summary
from ragcore.models.registry import KNOWN, TEXT
from ragcore.models.resolver import offline_source
from ragcore.runtime import LLMChoice, Runtime
from ragcore.spaces import SpaceRouter


def store_section(rt: Runtime) -> None:
    settings = rt.settings
    st.subheader("Store")
    if settings.store == "embedded":
        st.markdown(f"Embedded vector store at `{settings.store_path}` (this process owns it).")
    else:
        st.markdown(
            f"VectorAI DB server at `{settings.vectorai_url}`, collection `{settings.collection}`."
        )
    counts = rt.catalog.counts()
    try:
        points: int | str = rt.store.count()
    except RagError as exc:
        points = "?"
        st.error(f"The vector store does not answer: {exc}")
    cols = st.columns(5)
    cols[0].metric("Documents", counts["documents"])
    cols[1].metric("Ready", counts["documents_ready"])
    cols[2].metric("Failed", counts["documents_failed"])
    cols[3].metric("Passages", counts["chunks"] - counts["image_chunks"])
    cols[4].metric("Vectors (points)", points)
    st.caption(f"{rt.catalog.status().describe()} · images indexed: {counts['image_chunks']}")


def models_section(rt: Runtime) -> None:
    st.subheader("Models")
    load = st.button("Load all models now", help="Models otherwise load on first use.")
    if load:
        with st.spinner("Loading models…"):
            statuses = rt.models.status(load=True)
    else:
        statuses = rt.models.status(load=False)
    rows = [
        {
            "role": s.role,
            "model": s.model_id,
            "state": "loaded"
            if s.available
            else ("not loaded yet" if s.detail == NOT_LOADED else "unavailable"),
            "detail": s.detail,
        }
        for s in statuses
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)


@st.cache_data(ttl=60, show_spinner=False)
def model_choices(cache_dir: str) -> dict[str, tuple[str, bool]]:
    """Known text models: a label with their facts, and whether they load without the network.

    Plain tuples: st.cache_data pickles what it keeps, and a class of this page would not load.
    """
    out = {}
    for facts in KNOWN:
        if facts.kind != TEXT:
            continue
        offline = offline_source(facts.model_id, cache_dir=Path(cache_dir)) is not None
        where = "offline copy" if offline else "needs a download"
        label = f"{facts.model_id} ({facts.dim}-d, {facts.distance}; {where})"
        out[facts.model_id] = (label, offline)
    return out


def switch_options(choices: Mapping[str, tuple[str, bool]], current: str) -> list[str]:
    """The models offered to switch to: the one in use first (so nothing that needs a download
    is preselected), then those with an offline copy, then those that need a download."""
    others = [m for m in choices if m != current]
    return [current, *sorted(others, key=lambda m: not choices[m][1])]


def choice_label(choices: Mapping[str, tuple[str, bool]], current: str, model_id: str) -> str:
    label = choices[model_id][0] if model_id in choices else model_id
    return f"{label} — in use" if model_id == current else label


def embedding_section(rt: Runtime) -> None:
    """Which model embedded which documents, and switching models by re-embedding (no downtime)."""
    st.subheader("Embedding model")
    router = rt.spaces
    active = rt.catalog.active_space()
    summary = space_summary(rt.catalog, active.model_id if active else rt.settings.text_model)
    rows = [
        {
            "": "▶" if s.active else "",
            "status": s.status,
            "model": s.model_id,
            "dim": s.dim or None,
            "distance": s.distance,
            "documents": s.documents,
            "chunks": s.chunks,
            "weights": s.fingerprint,
            "collection": s.space,
        }
        for s in summary.spaces
    ]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    if summary.drifted:
        st.warning(
            f"{len(summary.drifted)} document(s) were embedded with another model than the active "
            f"one ({summary.active_model}); re-embed with the active model to bring them in line:\n\n"
            + "\n".join(
                f"- {render.md_escape(d.name)}: {render.md_escape(d.reason)}"
                for d in summary.drifted[:20]
            )
        )
    note = st.session_state.pop("reembed_note", None)
    if note:
        st.info(note)
    pending = rt.catalog.pending_space()
    if pending is not None:
        reembed_progress(rt, router)
        return
    choices = model_choices(str(rt.settings.models_dir))
    current = active.model_id if active else rt.settings.text_model
    with st.form("reembed"):
        picked = st.selectbox(
            "Switch to",
            switch_options(choices, current),
            format_func=lambda m: choice_label(choices, current, m),
            key="reembed_model",
            help="Models marked 'needs a download' cannot load here without the network.",
        )
        other = st.text_input(
            "…or another model (a Hugging Face id or a local folder)", key="reembed_other"
        ).strip()
        start = st.form_submit_button(
            "Re-embed the library with this model",
            help="Every chunk is embedded again from the stored text (no re-parsing) into a new "
            "space; questions keep being answered with the current model until the new space is "
            "complete and checked, then it switches in one step.",
        )
    if start:
        model_id = other or picked
        if model_id == current:
            st.info(f"{current} is the model in use; choose another one to switch to.")
            return
        try:
            with st.spinner(f"Loading {model_id}…"):
                space, job = start_reembed(rt.catalog, router, rt.models, model_id)
        except (ValueError, SpaceBusy, RagError) as exc:
            st.error(f"Cannot re-embed with {model_id}: {exc}")
            return
        st.session_state["reembed_note"] = (
            f"Re-embedding with {space.model_id} (job {job.id}); {current} answers questions "
            "until it completes."
        )
        st.rerun()


def reembed_progress(rt: Runtime, router: SpaceRouter) -> None:
    """The running re-embed's progress, refreshed every second, with a cancel button."""

    def panel() -> None:
        pending = rt.catalog.pending_space()
        if pending is None:
            st.success("The re-embed finished; the new model answers questions now.")
            st.rerun()  # the whole page, so the table shows the switch
            return
        job = rt.catalog.get_job(pending.job_id) if pending.job_id is not None else None
        progress = job.progress if job else 0.0
        state = f"{job.status}, {job.stage}" if job and job.stage else (job.status if job else "?")
        st.progress(
            min(max(progress, 0.0), 1.0),
            text=f"Re-embedding with {pending.model_id}: {progress:.0%} ({state})",
        )
        if job and job.error:
            st.caption(render.md_escape(job.error))
        if st.button("Cancel re-embed", help="The current model stays active."):
            cancel_reembed(rt.catalog, router)
            st.rerun()

    st.fragment(run_every=1.0)(panel)()


NOT_MEASURED = "not measured yet: it is measured on each answer the model writes"


# An address ends before a space, and its trailing punctuation belongs to the sentence.
def answering_model(choice: LLMChoice) -> str:
    """Which model answers and where it runs; the address is the model's own, credentials masked."""
    llm = choice.llm
    if llm is None:
        return "No language model answers: answers are extractive."
    if choice.server is not None:
        where = f"local, llama.cpp serving {choice.server.model_path.name} at {llm.address}"
    else:
        where = f"an OpenAI-compatible endpoint at {llm.address}"
    return f"**Answers come from** {render.plain_with_addresses(f'{llm.model} — {where}')}"


def speed_line(record: SpeedRecord, model: str) -> str:
    summary = record.summary(model)
    described = summary.describe() if summary is not None else NOT_MEASURED
    return f"**Writing speed:** {render.md_escape(described)}"


def show_llm(slot: resources.LLMSlot) -> None:
    choice = slot.get()
    st.markdown(render.plain_with_addresses(choice.status))
    st.markdown(answering_model(choice))
    if choice.llm is not None:
        st.markdown(speed_line(slot.speed, choice.llm.model))


def llm_section() -> None:
    st.subheader("Language model")
    slot = resources.llm_slot()
    if slot.connected:
        show_llm(slot)
        return
    st.markdown("Not started yet: it starts with the first question.")
    if st.button("Start it now"):
        with st.spinner("Starting the language model…"):
            show_llm(slot)


def queue_section(rt: Runtime) -> None:
    st.subheader("Ingestion queue")
    counts = rt.catalog.counts()
    cols = st.columns(4)
    cols[0].metric("Queued", counts["jobs_queued"])
    cols[1].metric("Running", counts["jobs_running"])
    cols[2].metric("Done", counts["jobs_done"])
    cols[3].metric("Failed", counts["jobs_failed"])
    worker = resources.background_worker()
    if rt.settings.store != "embedded":
        st.caption("Server mode: jobs are run by `python -m ingest worker` processes.")
    elif worker is None:
        st.caption("The app's ingestion thread is off.")
    else:
        st.caption("The app's ingestion thread is " + ("running." if worker.alive else "stopped!"))
    st.caption(render.md_escape(ocr_status(parse_limits(rt.settings).ocr)))
    jobs = rt.catalog.jobs(limit=20)
    if jobs:
        names = {d.id: d.name for d in rt.catalog.list_documents()}
        rows = [
            {
                "job": j.id,
                # A re-embed job's doc_id names a model space, not a document.
                "document": j.doc_id if j.kind == JobKind.REEMBED else job_file_name(j, names),
                "kind": j.kind,
                "state": JobStatus.FAILED
                if render.job_view(j).failed
                else render.job_view(j).label,
                "attempts": j.attempts,
            }
            for j in jobs
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True)
        # Reasons in full, below the table, where a cell would cut them off.
        for j in jobs:
            if render.job_view(j).failed:
                name = j.doc_id if j.kind == JobKind.REEMBED else job_file_name(j, names)
                st.error(render.md_escape(f"Job {j.id} ({name}) failed: {j.error}"))


def main() -> None:
    rt = resources.runtime()
    st.title("System")
    store_section(rt)
    models_section(rt)
    embedding_section(rt)
    llm_section()
    queue_section(rt)


if __name__ == "__main__":  # Streamlit runs pages as __main__; tests import the helpers
    main()
