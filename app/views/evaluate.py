"""Evaluate: retrieval quality on a BEIR folder, and chunking strategies compared on your documents."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from app import evaluation_tables as tables
from app import render, resources
from bench.beir import MODES
from bench.beir_folder import BeirReport, eval_models, evaluate_beir_folder, fusion_from_settings
from bench.chunking_compare import NO_LLM, ChunkingReport, compare_chunking
from bench.common import Progress
from ragcore.errors import RagError
from ragcore.models.base import Reranker
from ragcore.runtime import Runtime, chunking_params, retrieval_config
from ragcore.settings import Settings
from ragcore.spaces import pin
from ragcore.types import ChunkingParams, Strategy

DEFAULT_MODES = ["bm25", "dense", "hybrid-rrf", "hybrid-dbsf"]
DEFAULT_MAX_QUERIES = 50
SIZE_CHOICES = (64, 128, 256, 512)

BEIR_HELP = (
    "A BEIR folder holds `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`. Its corpus "
    "is indexed with the app's text model and chunking into a scratch folder under the data "
    "directory (your library is not touched) and kept, so a second run on the same folder "
    "starts at once. Indexing takes a while: SciFact's 5,183 abstracts take about ten minutes "
    "on a small machine."
)
CHUNKING_HELP = (
    "A language model writes one question from each of a sample of your chunks. Each strategy "
    "then re-chunks the same documents into a scratch index (your library is not touched), and "
    "hybrid search looks for the passage each question was written from: **Hit@k** counts a "
    "question as found when one of the top k chunks is of its document and overlaps that "
    "passage; **MRR@10** is 1/rank of the first such chunk."
)
SYNTHETIC_CAVEAT = (
    "Synthetic questions reuse their passage's words, so they are easier than a person's, and "
    "a bigger chunk overlaps a passage more easily: compare the strategies with each other "
    "(with their chunk counts), not with the benchmark's numbers."
)


def progress_bar(start: str) -> Progress:
    """A progress bar the long runs report to: (what, done, total)."""
    bar = st.progress(0.0, text=start)

    def report(what: str, done: int, total: int) -> None:
        share = done / total if total else 1.0
        bar.progress(min(1.0, share), text=f"{what}: {done:,} of {total:,}")

    return report


# ── Benchmark (BEIR folder) ────────────────────────────────────────


def keep_result(key: str, failure: str, build: Callable[[], object]) -> None:
    """Run ``build`` and keep its report under ``key``; a RagError shows and clears it instead."""
    try:
        report = build()
    except RagError as exc:
        st.session_state.pop(key, None)
        st.error(f"{failure}: {render.md_escape(str(exc))}")
        return
    st.session_state[key] = report


def run_beir(rt: Runtime, folder: str, split: str, max_queries: int, modes: list[str]) -> None:
    keep_result(
        "beir_report", "No benchmark", lambda: _beir_report(rt, folder, split, max_queries, modes)
    )


def _beir_report(
    rt: Runtime, folder: str, split: str, max_queries: int, modes: list[str]
) -> BeirReport:
    settings = rt.settings
    with st.spinner("Loading the models…"):
        text = pin(rt.store, rt.models).text
        reranker: Reranker | str | None = None
        if any(m.endswith("+rerank") for m in modes):
            reranker = rt.models.reranker or settings.reranker_model or None
    return evaluate_beir_folder(
        Path(folder.strip()),
        split=split.strip(),
        models=eval_models(text, reranker, settings.models_dir),
        params=chunking_params(settings),
        workdir=settings.data_dir / "eval" / "beir",
        modes=modes,
        fusion=fusion_from_settings(settings),
        max_queries=max_queries,
        progress=progress_bar("Reading the folder…"),
    )


def show_beir(report: BeirReport) -> None:
    st.subheader(render.md_escape(f"{report.dataset} · {report.split}"))
    chunking = report.chunking
    st.caption(
        render.md_escape(
            f"{report.queries:,} of {report.queries_in_split:,} queries · "
            f"{report.documents:,} documents · {report.chunks:,} chunks · {report.model} · "
            f"{chunking.strategy} chunks of at most {chunking.chunk_size} tokens · index "
            f"{'reused' if report.index_reused else 'built'} at {report.index_path} · "
            f"{report.seconds:.1f} s"
        )
    )
    st.dataframe(tables.beir_table(report), hide_index=True)
    chart = tables.beir_chart(report)
    if not chart.empty:
        st.bar_chart(chart, x="mode", y="nDCG@10", color="source", horizontal=True, sort=False)
    if report.anchors:
        note = "Published nDCG@10 on the whole SciFact test split (300 queries)"
        if report.queries < report.queries_in_split:
            note += f"; this run used {report.queries} of them, so expect the numbers to differ"
        st.caption(note + ".")


def beir_tab(rt: Runtime) -> None:
    st.markdown(BEIR_HELP)
    folder = st.text_input(
        "BEIR folder",
        value=resources.default_beir_folder(),
        placeholder="/path/to/beir/scifact",
        key="beir_folder",
    )
    left, right = st.columns(2)
    split = left.text_input("Split", value="test", key="beir_split")
    max_queries = int(
        right.number_input(
            "Max queries (0 = all)",
            min_value=0,
            value=DEFAULT_MAX_QUERIES,
            step=10,
            key="beir_max_queries",
            help="The first queries by id; fewer make a quick try, all of them the real number.",
        )
    )
    modes = st.multiselect(
        "Modes",
        list(MODES),
        default=DEFAULT_MODES,
        key="beir_modes",
        help="The +rerank modes need the cross-encoder; without it they say so.",
    )
    if st.button("Run benchmark", type="primary", key="beir_run"):
        if not folder.strip():
            st.error("Give the path of a BEIR folder first.")
        elif not modes:
            st.error("Choose at least one mode.")
        else:
            run_beir(rt, folder, split, max_queries, modes)
    report = st.session_state.get("beir_report")
    if report is not None:
        show_beir(report)


# ── Chunking strategies (your documents) ───────────────────────────


def strategy_params(settings: Settings, strategy: str, size: int) -> ChunkingParams:
    """The library's chunking with this strategy and size; the overlap shrinks to fit a small size."""
    params = chunking_params(settings, strategy=Strategy(strategy), chunk_size=size)
    if params.strategy != Strategy.SENTENCE and params.overlap >= size:
        return ChunkingParams(params.strategy, size, size // 4)
    return params


def run_chunking(rt: Runtime, n_questions: int, strategies: list[ChunkingParams]) -> None:
    settings = rt.settings
    slot = resources.llm_slot()
    with st.spinner("Starting the language model…"):
        choice = slot.get()
    if choice.llm is None:
        st.session_state.pop("chunking_report", None)
        st.error(render.md_escape(f"{NO_LLM} ({choice.status})"))
        return

    def build() -> ChunkingReport:
        with st.spinner("Loading the text model…"):
            text = pin(rt.store, rt.models).text
        return compare_chunking(
            rt.catalog,
            choice.llm,
            text,
            strategies,
            n_questions=n_questions,
            workdir=settings.data_dir / "eval" / "chunking",
            config=retrieval_config(settings),
            progress=progress_bar("Sampling your chunks…"),
        )

    keep_result("chunking_report", "No comparison", build)


def show_chunking(report: ChunkingReport) -> None:
    label = render.md_escape(report.questions.label)
    st.subheader(f"Chunking strategies — {label}")
    st.caption(
        f"{len(report.questions.questions)} questions, {label}; "
        + render.md_escape(
            f"{report.questions.asked} chunks sampled, {report.questions.skipped} replies "
            f"skipped as not one question · {report.documents} documents · embedded with "
            f"{report.model}"
        )
    )
    with st.expander(f"The {len(report.questions.questions)} questions — {label}"):
        st.dataframe(tables.questions_table(report.questions), hide_index=True)
    st.dataframe(tables.chunking_table(report), hide_index=True)
    st.caption(f"Hit@5 and MRR@10 per strategy, on the {label}:")
    st.bar_chart(tables.chunking_chart(report), x="strategy", stack=False, horizontal=True)
    st.caption(SYNTHETIC_CAVEAT)


def chunking_tab(rt: Runtime) -> None:
    st.markdown(CHUNKING_HELP)
    settings = rt.settings
    ready = sum(1 for d in rt.catalog.list_documents() if d.status == "ready")
    if not ready:
        st.info("No document is ready yet: add some on the Library page first.")
        return
    left, right = st.columns(2)
    n_questions = int(
        left.number_input(
            "Questions", min_value=1, max_value=500, value=20, step=5, key="chunk_questions"
        )
    )
    sizes = right.multiselect(
        "Chunk sizes (tokens)",
        sorted({*SIZE_CHOICES, settings.chunk_size}),
        default=[settings.chunk_size],
        key="chunk_sizes",
    )
    strategies = st.multiselect(
        "Strategies",
        [s.value for s in Strategy],
        default=[s.value for s in Strategy],
        key="chunk_strategies",
        help="Every strategy is tried with every chunk size.",
    )
    chosen = [strategy_params(settings, s, size) for s in strategies for size in sorted(sizes)]
    st.caption(
        f"{len(chosen)} configurations, each re-indexing your {ready} ready documents; "
        "the questions stay the same for all of them."
    )
    if st.button("Run comparison", type="primary", key="chunk_run"):
        if not chosen:
            st.error("Choose at least one strategy and one chunk size.")
        else:
            run_chunking(rt, n_questions, chosen)
    report = st.session_state.get("chunking_report")
    if report is not None:
        show_chunking(report)


rt = resources.runtime()
st.title("Evaluate")
benchmark, chunking = st.tabs(["Benchmark (BEIR folder)", "Chunking strategies (your documents)"])
with benchmark:
    beir_tab(rt)
with chunking:
    chunking_tab(rt)
