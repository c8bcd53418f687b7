"""Evaluate: retrieval on a BEIR folder, chunking strategies and answer quality on your documents."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from app import evaluation_tables as tables
from app import render, resources
from ingest.service import ingest_texts
from ragcore.catalog import DocumentStatus
from ragcore.errors import EvaluationError, RagError
from ragcore.evaluation.answers import (
    AnswerCase,
    AnswerRow,
    QuestionSetRun,
    load_cases,
    read_cases,
    run_question_set,
)
from ragcore.evaluation.beir import MODES, per_fusion
from ragcore.evaluation.beir_folder import (
    BeirReport,
    eval_models,
    evaluate_beir_folder,
)
from ragcore.evaluation.chunking import NO_LLM, ChunkingReport, compare_chunking
from ragcore.evaluation.runs import Progress, one_run_at_a_time
from ragcore.models.base import Reranker
from ragcore.runtime import Runtime, chunking_params
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
ANSWERS_HELP = (
    "Each question of a question set (JSON lines: `id`, `question`, `kind`, `file`, `pages`, "
    "`facts`; see `bench/data/README.md`) is asked of your library exactly as the chat asks it, "
    "with the language model in use, one at a time. An answer is right when it states every "
    "key fact; a citation is on the right page when its file and page are among the "
    "question's; an unanswerable question should be refused. Questions about files your "
    "library does not hold are skipped. On a small machine with the local model, each "
    "question takes from a few seconds to a minute."
)
DEFAULT_ANSWER_LIMIT = 10
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
        fusion=per_fusion(settings.retrieval),
        index_texts=ingest_texts,
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
            config=settings.retrieval,
            index_texts=ingest_texts,
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
    ready = sum(1 for d in rt.catalog.list_documents() if d.status == DocumentStatus.READY)
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


# ── Answers (your documents) ───────────────────────────────────────


def question_set(path: str, upload: UploadedFile | None) -> tuple[list[AnswerCase], str]:
    """The questions of the upload, else of the file at ``path``, and where they came from."""
    try:
        if upload is not None:
            text = upload.getvalue().decode("utf-8")
            return read_cases(text.splitlines(), source=upload.name), upload.name
        if not path.strip():
            raise EvaluationError("Give the path of a question set file, or upload one.")
        file = Path(path.strip()).expanduser()
        return load_cases(file), str(file)
    except UnicodeDecodeError:
        raise EvaluationError("The question set is not UTF-8 text.") from None
    except FileNotFoundError:
        raise EvaluationError(f"There is no file at {path.strip()}.") from None
    except (ValueError, OSError) as exc:
        raise EvaluationError(f"The question set cannot be read: {exc}") from exc


def answer_progress(slot: resources.LLMSlot) -> Callable[[int, int, AnswerRow], None]:
    """A progress bar for the questions; each measured answer also feeds the System view's
    writing speed, as the chat's do."""
    bar = st.progress(0.0, text="Asking the first question…")

    def report(done: int, total: int, row: AnswerRow) -> None:
        slot.record_speed(row.timings)
        bar.progress(
            min(1.0, done / total if total else 1.0),
            text=f"Asked {done} of {total} questions (last: {row.id}, {row.mode})",
        )

    return report


def run_answer_set(rt: Runtime, path: str, upload: UploadedFile | None, limit: int) -> None:
    slot = resources.llm_slot()

    def build() -> QuestionSetRun:
        cases, source = question_set(path, upload)
        with one_run_at_a_time():
            with st.spinner("Starting the language model…"):
                choice = slot.get()
            with st.spinner("Loading the models…"):
                rt.models.status(load=True)  # before the clock starts, as bench.answers does
            return run_question_set(
                cases,
                rt,
                choice,
                source=source,
                limit=limit,
                config=rt.settings.retrieval,
                progress=answer_progress(slot),
            )

    keep_result("answers_report", "No answer benchmark", build)


def show_answers(run: QuestionSetRun) -> None:
    scores = run.scores
    st.subheader(f"Answers — {render.md_escape(Path(run.source).name)}")
    st.caption(
        render.md_escape(
            f"{scores.questions} of the {run.questions} questions asked "
            f"({scores.answerable} answerable, {scores.unanswerable} unanswerable) · "
            f"{run.llm} · {run.seconds:,.1f} s · prompt tokens {run.tokens_method}"
        )
    )
    if run.skipped:
        files = ", ".join(run.missing_files)
        st.info(
            render.md_escape(
                f"{len(run.skipped)} question(s) skipped: they are about files that are not in "
                f"your library ({files})."
            )
        )
    if run.beyond_limit:
        st.caption(f"{run.beyond_limit} more question(s) not asked (beyond the limit).")
    if scores.errors:
        failed = next(r for r in run.rows if r.error)
        st.warning(
            render.md_escape(
                f"{scores.errors} question(s) got no answer; the first: {failed.id}: {failed.error}"
            )
        )
    cols = st.columns(4)
    cols[0].metric("Key facts (model's words)", tables.share(scores.fact_accuracy_own))
    cols[1].metric("Cited page precision", tables.share(scores.location_precision))
    cols[2].metric("Unanswerable refused", tables.share(scores.refusal_recall))
    cols[3].metric("First token p50", tables.seconds(scores.first_token_p50_ms))
    st.dataframe(tables.answer_summary_table(scores), hide_index=True)
    st.caption("By kind of question:")
    st.dataframe(tables.answer_kind_table(scores), hide_index=True)
    with st.expander(f"Each of the {len(run.rows)} questions"):
        st.dataframe(tables.answer_rows_table(run.rows), hide_index=True)


def answers_tab(rt: Runtime) -> None:
    st.markdown(ANSWERS_HELP)
    if not any(d.status == DocumentStatus.READY for d in rt.catalog.list_documents()):
        st.info("No document is ready yet: add some on the Library page first.")
        return
    path = st.text_input(
        "Question set (JSON lines)",
        value=resources.default_question_set(),
        placeholder="/path/to/questions.jsonl",
        key="answers_path",
    )
    upload = st.file_uploader("…or upload one", type=["jsonl", "json", "txt"], key="answers_upload")
    limit = int(
        st.number_input(
            "First N questions (0 = all)",
            min_value=0,
            value=DEFAULT_ANSWER_LIMIT,
            step=5,
            key="answers_limit",
            help="The first questions of the file whose documents are in your library.",
        )
    )
    if st.button("Run answer benchmark", type="primary", key="answers_run"):
        run_answer_set(rt, path, upload, limit)
    report = st.session_state.get("answers_report")
    if report is not None:
        show_answers(report)


rt = resources.runtime()
st.title("Evaluate")
benchmark, chunking, answers = st.tabs(
    [
        "Benchmark (BEIR folder)",
        "Chunking strategies (your documents)",
        "Answers (your documents)",
    ]
)
with benchmark:
    beir_tab(rt)
with chunking:
    chunking_tab(rt)
with answers:
    answers_tab(rt)
