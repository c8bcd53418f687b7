"""System: where the data lives, which models and language model are in use, and the job queue."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import render, resources
from ragcore.errors import RagError
from ragcore.runtime import Runtime


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
    st.caption(f"Catalog: `{settings.catalog_path}` · images indexed: {counts['image_chunks']}")


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
            else ("not loaded yet" if s.detail == "not loaded yet" else "unavailable"),
            "detail": s.detail,
        }
        for s in statuses
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def llm_section() -> None:
    st.subheader("Language model")
    slot = resources.llm_slot()
    if slot.connected:
        st.markdown(render.md_escape(slot.get().status))
        return
    st.markdown("Not started yet: it starts with the first question.")
    if st.button("Start it now"):
        with st.spinner("Starting the language model…"):
            st.markdown(render.md_escape(slot.get().status))


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
    jobs = rt.catalog.jobs(limit=20)
    if jobs:
        names = {d.id: d.name for d in rt.catalog.list_documents()}
        rows = [
            {
                "job": j.id,
                "document": names.get(j.doc_id, j.doc_id[:12]),
                "kind": j.kind,
                "state": render.job_view(j).label,
                "attempts": j.attempts,
            }
            for j in jobs
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True)


rt = resources.runtime()
st.title("System")
store_section(rt)
models_section(rt)
llm_section()
queue_section(rt)
