"""Chat: streamed answers whose [n] markers open source cards with the evidence behind them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app import render, resources
from ingest.pipeline import thumbnail_path
from ragcore.answering import Answer
from ragcore.errors import RagError
from ragcore.generation.citations import Citation
from ragcore.runtime import Runtime, retrieval_config
from ragcore.types import ChunkKind, Fusion, Hit

FUSION_LABELS = {
    Fusion.RRF.value: "RRF (reciprocal rank)",
    Fusion.DBSF.value: "DBSF (score distribution)",
}
MAX_SOURCES = 12


def controls(rt: Runtime) -> dict[str, Any]:
    """The sidebar: which documents to search and how; defaults come from settings."""
    settings = rt.settings
    with st.sidebar:
        st.header("Search")
        ready = [d for d in rt.catalog.list_documents() if d.status == "ready"]
        names = {d.id: d.name for d in ready}
        doc_ids = st.multiselect(
            "Documents",
            list(names),
            format_func=lambda i: names.get(i, i[:12]),
            placeholder="All documents",
            key="chat_docs",
        )
        fusions = list(FUSION_LABELS)
        fusion = st.radio(
            "Fusion of the text and image searches",
            fusions,
            index=fusions.index(str(settings.fusion)),
            format_func=FUSION_LABELS.__getitem__,
            key="chat_fusion",
        )
        # Known only once the reranker was tried (at the first question): then say why it is off.
        reranker = next(s for s in rt.models.status(load=False) if s.role == "reranker")
        missing = not reranker.available and reranker.detail != "not loaded yet"
        rerank = st.toggle(
            "Rerank with the cross-encoder",
            value=settings.rerank and not missing,
            disabled=missing,
            help=f"Unavailable: {reranker.detail}" if missing else reranker.model_id,
            key="chat_rerank",
        )
        rerank = rerank and not missing
        top_k = st.slider(
            "Number of sources",
            1,
            MAX_SOURCES,
            value=min(settings.top_k, MAX_SOURCES),
            key="chat_top_k",
        )
        if st.button("Clear the conversation", key="chat_clear"):
            st.session_state["chat"] = []
    return {"doc_ids": doc_ids or None, "fusion": Fusion(fusion), "rerank": rerank, "top_k": top_k}


def source_card(
    rt: Runtime, number: int, hit: Hit, citation: Citation | None, terms: Sequence[str], prefix: str
) -> None:
    title = f"[{number}] {hit.file_name} — {hit.where}"
    if hit.kind == ChunkKind.IMAGE:
        title += " — image"
    if citation is not None:
        title += " — cited" if citation.supported else " — ⚠ cited, not supported"
    st.markdown(f'<span id="{render.anchor_id(prefix, number)}"></span>', unsafe_allow_html=True)
    with st.expander(render.md_escape(title)):
        section = f" · {render.md_escape(hit.section)}" if hit.section else ""
        st.caption(f"**{render.md_escape(hit.file_name)}** · page {hit.page}{section}")
        if hit.kind == ChunkKind.IMAGE:
            thumb = thumbnail_path(rt.thumbs_dir, hit.doc_id, hit.chunk_no)
            if thumb.is_file():
                st.image(str(thumb), width=320)
        st.markdown(render.passage_html(hit.text, terms), unsafe_allow_html=True)
        if citation is not None and not citation.supported:
            st.warning(
                f"Only {citation.support:.0%} of the words of the sentence citing it "
                "occur in this passage."
            )
        st.table(pd.DataFrame(render.evidence_rows(hit.evidence)), hide_index=True)


def closest_passages(rt: Runtime, answer: Answer, prefix: str) -> None:
    if not answer.closest:
        return
    st.caption("The closest passages found, none close enough to answer from:")
    terms = render.question_terms(answer.standalone_question)
    for number, hit in enumerate(answer.closest, start=1):
        source_card(rt, number, hit, None, terms, f"{prefix}-near")


def show_answer(rt: Runtime, answer: Answer, prefix: str) -> None:
    """An answer with linked citations, its warnings, source cards and timings."""
    st.markdown(
        render.cited_answer_html(answer.text, answer.citations, anchor_prefix=prefix),
        unsafe_allow_html=True,
    )
    if answer.mode == "extractive":
        # answer.llm is set when a configured model was asked and failed.
        why = "the language model failed" if answer.llm else "no language model"
        st.caption(f"Extractive answer: the best-matching sentences, quoted ({why}).")
    elif answer.mode == "llm" and answer.llm:
        st.caption(f"Written by {render.md_escape(answer.llm)}")
    if answer.unsupported_sentences:
        listed = "\n".join(f"- {render.md_escape(s)}" for s in answer.unsupported_sentences)
        st.warning("These sentences are not backed by the sources they cite:\n\n" + listed)
    if answer.notes:
        st.caption("Notes: " + " · ".join(render.md_escape(n) for n in answer.notes))
    if answer.mode == "not_found":
        closest_passages(rt, answer, prefix)
        return
    cited = {c.number: c for c in answer.citations}
    terms = render.question_terms(answer.standalone_question)
    for number, hit in enumerate(answer.sources, start=1):
        source_card(rt, number, hit, cited.get(number), terms, prefix)
    with st.expander("What the model saw"):
        if answer.standalone_question != answer.question:
            st.markdown(f"Rewritten question: **{render.md_escape(answer.standalone_question)}**")
        else:
            st.markdown(f"Question: **{render.md_escape(answer.standalone_question)}**")
        st.code(answer.prompt_sources, language=None, wrap_lines=True)
    latency = pd.DataFrame(render.latency_rows(answer.timings))
    if not latency.empty:
        with st.expander(f"Latency: {answer.timings.get('total', 0):.0f} ms in all"):
            st.bar_chart(latency, x="stage", y="ms", horizontal=True, sort=False, height=260)


def ask(
    rt: Runtime, question: str, options: dict[str, Any], history: list[tuple[str, str]]
) -> dict[str, Any]:
    """Stream an answer into the page; returns the turn to keep in the history."""
    slot = resources.llm_slot()
    if slot.connected:
        choice = slot.get()
    else:
        with st.spinner("Starting the language model (first question only)…"):
            choice = slot.get()
    config = retrieval_config(
        rt.settings, fusion=options["fusion"], rerank=options["rerank"], top_k=options["top_k"]
    )
    try:
        with st.spinner("Searching your documents…"):
            stream = resources.answerer(rt, choice).start(
                question, config=config, history=history, doc_ids=options["doc_ids"]
            )
        # Not st.write_stream: it renders the text as Markdown, and an extractive answer is
        # document text, whose links and images must not come alive even while streaming.
        live = st.empty()
        shown = ""
        for token in stream.tokens():
            shown += token
            live.markdown(
                render.cited_answer_html(shown, [], anchor_prefix="live"), unsafe_allow_html=True
            )
        answer = stream.result()
    except RagError as exc:
        st.error(f"No answer: {exc}")
        return {"role": "assistant", "text": "", "answer": None, "error": str(exc)}
    live.empty()
    return {"role": "assistant", "text": answer.text, "answer": answer, "error": None}


def show_turn(rt: Runtime, turn: dict[str, Any], index: int) -> None:
    with st.chat_message(turn["role"]):
        if turn["role"] == "user":
            st.markdown(render.md_escape(turn["text"]))
        elif turn["answer"] is not None:
            show_answer(rt, turn["answer"], f"t{index}")
        else:
            st.error(f"No answer: {turn['error']}")


rt = resources.runtime()
options = controls(rt)
st.title("Ask your documents")
slot = resources.llm_slot()
if slot.connected:
    st.caption(render.md_escape(slot.get().status))
else:
    st.caption("The language model starts with your first question.")
if not any(d.status == "ready" for d in rt.catalog.list_documents()):
    st.info("No document is ready yet: add some on the Library page first.")

turns: list[dict[str, Any]] = st.session_state.setdefault("chat", [])
for i, past in enumerate(turns):
    show_turn(rt, past, i)

question = st.chat_input("Ask a question about your documents")
if question:
    history = [(t["role"], t["text"]) for t in turns if t["text"]]
    user_turn = {"role": "user", "text": question, "answer": None, "error": None}
    show_turn(rt, user_turn, len(turns))
    with st.chat_message("assistant"):
        reply = ask(rt, question, options, history)
        if reply["answer"] is not None:
            show_answer(rt, reply["answer"], f"t{len(turns) + 1}")
    turns.extend([user_turn, reply])
