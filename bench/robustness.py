"""Feed the hostile corpus to one worker and write bench/ROBUSTNESS.md: outcome, time and memory per file.

    python -m bench.robustness                 # hashing embedder, data dir on tmpfs when there is one
    python -m bench.robustness --model configured --data-dir /tmp/rb

Documents ingested before and after the corpus must still answer their questions, and
`ingest check` must find the catalog, keyword index and vector store in agreement.
The hand-written probe findings in bench/robustness_probes.md are appended to the report.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO_ROOT, log, machine
from ingest.consistency import check_library
from ingest.parsers import ParseLimits, parse_file
from ingest.sandbox import ParseSandbox
from ingest.service import build_worker, parse_limits
from ingest.worker import Worker
from ragcore import library
from ragcore.catalog import Catalog, DocumentStatus
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.runtime import Runtime, build_runtime, chunking_params
from ragcore.settings import Settings
from ragcore.testing.documents import make_text_pdf
from ragcore.testing.hostile import FAILED, INGESTED, HostileCase, build_corpus
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams

_MB = 1024 * 1024
# Findings from probing beyond the corpus, written by hand: each regeneration appends them.
PROBES = REPO_ROOT / "bench" / "robustness_probes.md"

# Control documents: ingested before and after the corpus, each must still answer its question.
CONTROLS = (
    (
        "before-1.md",
        "# Tide tables\n\nThe harbour master publishes the quokkaflux tide table every Monday.\n",
        "who publishes the quokkaflux tide table",
    ),
    (
        "before-2.txt",
        "The zephyrine bridge was repainted in 1987 with marine grey paint.\n",
        "when was the zephyrine bridge repainted",
    ),
    (
        "after-1.md",
        "# Orchard\n\nThe brambleworth orchard grows forty kinds of heritage apple.\n",
        "how many apple kinds does the brambleworth orchard grow",
    ),
    (
        "after-2.txt",
        "Velocimeter calibration for the skarnholm tunnel happens each spring.\n",
        "when is the skarnholm tunnel velocimeter calibrated",
    ),
)


@dataclass(frozen=True)
class CaseResult:
    """How one hostile file went: outcome, message, wall time and memory."""

    case: HostileCase
    display_name: str
    outcome: str  # "ingested" or "failed"
    message: str  # the failure, or what was indexed (and the first warning)
    seconds: float
    parse_peak_mb: float | None  # the parse child's peak resident memory
    worker_peak_mb: float  # the worker process's peak resident memory during the case
    stored_path: Path | None
    chunks: int


class RssSampler:
    """Samples this process's resident memory every few milliseconds; ``peak`` is the highest seen."""

    def __init__(self, every: float = 0.01) -> None:
        self.every = every
        self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, _rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            yield block


def run_case(rt: Runtime, worker: Worker, case: HostileCase, params: ChunkingParams) -> CaseResult:
    """Upload one case's file under its hostile name, run its job on ``worker``, and measure."""
    started = time.perf_counter()
    with RssSampler() as rss:
        added = library.add_bytes(
            rt.catalog, rt.settings.uploads_dir, case.upload_name, _blocks(case.path), params
        )
        outcomes = worker.run_until_idle([added.job.id]) if added.job is not None else []
    seconds = time.perf_counter() - started
    doc = rt.catalog.get_document(added.document.id) or added.document
    sandbox = worker.ingestor.sandbox
    run = sandbox.last_run if sandbox is not None and outcomes else None
    peak = run.peak_rss_bytes if run is not None else None
    if doc.status == DocumentStatus.READY:
        message = f"{doc.chunks} text chunks, {doc.images} images"
        if added.document.name != case.upload_name:
            message = f"as {added.document.name!r}: {message}"
        report = outcomes[-1].report if outcomes else None
        if report is not None and report.warnings:
            message += f"; warning: {report.warnings[0]}"
        outcome = INGESTED
    else:
        message = doc.error or f"left {doc.status}"
        outcome = FAILED
    return CaseResult(
        case=case,
        display_name=added.document.name,
        outcome=outcome,
        message=message,
        seconds=seconds,
        parse_peak_mb=None if peak is None else peak / _MB,
        worker_peak_mb=rss.peak / _MB,
        stored_path=Path(doc.path) if doc.path else None,
        chunks=doc.chunks + doc.images,
    )


def add_controls(rt: Runtime, worker: Worker, params: ChunkingParams, which: str) -> list[str]:
    """Ingest the 'before' or 'after' control documents; returns their document ids."""
    ids = []
    for name, text, _ in CONTROLS:
        if not name.startswith(which):
            continue
        added = library.add_bytes(
            rt.catalog, rt.settings.uploads_dir, name, [text.encode()], params
        )
        if added.job is not None:
            worker.run_until_idle([added.job.id])
        ids.append(added.document.id)
    return ids


def controls_answer(rt: Runtime) -> dict[str, bool]:
    """Each control question's top hit is its own document's passage."""
    retriever = Retriever(rt.catalog, rt.store, rt.models)
    config = RetrievalConfig(rerank=False, top_k=3)
    out = {}
    for name, text, question in CONTROLS:
        hits = retriever.run(question, config).hits
        out[name] = bool(hits) and hits[0].file_name == name and hits[0].text.strip() in text
    return out


def run_corpus(
    rt: Runtime, cases: Sequence[HostileCase], params: ChunkingParams
) -> tuple[list[CaseResult], dict[str, bool]]:
    """Controls before, every case on one worker, controls after; then the controls' answers."""
    worker = build_worker(rt)
    add_controls(rt, worker, params, "before")
    results = []
    for case in cases:
        result = run_case(rt, worker, case, params)
        log(f"{case.key:<22} {result.outcome:<8} {result.seconds:7.2f} s  {result.message[:90]}")
        results.append(result)
    add_controls(rt, worker, params, "after")
    return results, controls_answer(rt)


def sandbox_overhead(folder: Path, runs: int = 20) -> tuple[float, float]:
    """Median milliseconds to parse a small PDF in this process and in the sandbox."""
    pdf = make_text_pdf(folder / "overhead.pdf", ["A short page of text about tides."] * 2)
    sandbox = ParseSandbox()
    sandbox.parse(pdf, name="overhead.pdf", doc_id="d", limits=ParseLimits())  # starts its server

    def median_ms(parse: Callable[[], object]) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            parse()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    inside = median_ms(lambda: parse_file(pdf, name="overhead.pdf", doc_id="d"))
    child = median_ms(
        lambda: sandbox.parse(pdf, name="overhead.pdf", doc_id="d", limits=ParseLimits())
    )
    return inside, child


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _shown_name(name: str) -> str:
    shown = name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name
    return _cell(shown if len(shown) <= 48 else shown[:45] + "…")


def render(
    results: Sequence[CaseResult],
    controls: dict[str, bool],
    consistent: bool,
    settings: Settings,
    model: str,
    data_dir: Path,
    overhead: tuple[float, float],
    probes: Path | None = PROBES,
) -> str:
    """The report in Markdown: summary, limits, setup, one row per case, then ``probes``."""
    limits = parse_limits(settings)
    survived = all(ok for name, ok in controls.items() if name.startswith("after"))
    ingested = sum(r.outcome == INGESTED for r in results)
    expected = sum(r.outcome == r.case.expect for r in results)
    slowest = max(results, key=lambda r: r.seconds)
    facts = machine()
    lines = [
        "# Robustness: hostile and broken files",
        "",
        "Generated by `python -m bench.robustness` (the corpus is `ragcore/testing/hostile.py`; the",
        "same cases run in `tests/robustness/test_hostile_corpus.py`). One worker ingested every",
        "file in turn; each file was uploaded under the name in the second column.",
        "",
        f"**Summary:** {len(results)} hostile files: {ingested} ingested, "
        f"{len(results) - ingested} failed their own job with a message; {expected} of "
        f"{len(results)} had the expected outcome. "
        + (
            "The worker survived every file: the same worker went on to ingest the controls. "
            if survived
            else "The worker did NOT take the later controls. "
        )
        + f"{sum(controls.values())} of {len(controls)} control documents (two ingested before the "
        "corpus, two after) still answer their questions; `ingest check`: "
        + (
            "the catalog, keyword index and vector store agree."
            if consistent
            else "DIFFERENCES FOUND."
        )
        + f" Slowest: {slowest.case.key} ({slowest.seconds:.1f} s).",
        "",
        "**Limits in force:** "
        f"parse in a child process, stopped after {settings.parse_timeout_seconds:g} s and at "
        f"{settings.parse_memory_mb} MB of memory (`RAG_PARSE_TIMEOUT_SECONDS`, "
        f"`RAG_PARSE_MEMORY_MB`); files up to {settings.max_file_mb:g} MB, "
        f"{limits.max_pages:,} pages, {limits.max_text_chars:,} characters of text and at most "
        f"{limits.max_chars_per_byte:g} per byte of the file (at least {limits.min_text_chars:,}), "
        f"images up to {limits.max_image_pixels / 1e6:g} megapixels, "
        f"{limits.max_images_per_page} images per page; {settings.max_chunks_per_document:,} "
        f"chunks and {settings.job_timeout_seconds:g} s per document "
        "(`RAG_MAX_CHUNKS_PER_DOCUMENT`, `RAG_JOB_TIMEOUT_SECONDS`). "
        f"Parsing a small PDF takes {overhead[1]:.0f} ms in the child against {overhead[0]:.0f} ms "
        f"in the worker itself: the sandbox costs about {overhead[1] - overhead[0]:.0f} ms per file "
        "(median of 20), once its fork server runs.",
        "",
        f"**Setup:** text embedder `{model}`; chunking {settings.chunk_strategy} "
        f"{settings.chunk_size} tokens; embedded store in `{data_dir}`; "
        f"{facts['cpu']}, {facts['cores']} cores, load average {facts['load_average']}; "
        f"{facts['date']}. Time is wall-clock from upload to the job's end (parse, chunk, embed, "
        "write). *Parse peak* is the parse child's peak resident memory; *worker peak* is the "
        "worker process's resident memory at its highest during the file (models and earlier "
        "files included).",
        "",
        "| case | file name (as uploaded) | outcome | time (s) | parse peak (MB) | worker peak (MB) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in results:
        outcome = (
            f"ingested: {r.message}"
            if r.outcome == INGESTED
            else f"failed its own job: {r.message}"
        )
        parse_peak = "-" if r.parse_peak_mb is None else f"{r.parse_peak_mb:.0f}"
        lines.append(
            f"| {_cell(r.case.title)} | {_shown_name(r.case.upload_name)} | {_cell(outcome)} "
            f"| {r.seconds:.2f} | {parse_peak} | {r.worker_peak_mb:.0f} |"
        )
    lines.append("")
    if probes is not None:
        lines += ["", probes.read_text().rstrip("\n"), ""]
    return "\n".join(lines)


def _default_data_dir() -> Path:
    # The embedded store commits every point to SQLite on its own; on tmpfs that costs nothing,
    # so the table measures the pipeline rather than this machine's disk syncs.
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="robustness-", dir=base))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.robustness", description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "ROBUSTNESS.md")
    parser.add_argument("--data-dir", type=Path, help="a fresh folder (default: a temporary one)")
    parser.add_argument(
        "--model",
        choices=("hashing", "configured"),
        default="hashing",
        help="hashing: a fast deterministic fake (measures parsing and writing); configured: "
        "RAG_TEXT_MODEL as the app uses it",
    )
    parser.add_argument("--light", action="store_true", help="leave out the 50 MB file")
    args = parser.parse_args(argv)

    data_dir = args.data_dir or _default_data_dir()
    env = Settings()
    # No CLIP and no reranker: the table is about files, not models.
    if args.model == "hashing":
        rt = make_runtime(
            data_dir / "library",
            image_model="",
            reranker_model="",
            parse_timeout_seconds=env.parse_timeout_seconds,
            parse_memory_mb=env.parse_memory_mb,
        )
        model = "testing/hashing (64-d)"
    else:
        update = {"data_dir": data_dir / "library", "image_model": "", "reranker_model": ""}
        rt = build_runtime(env.model_copy(update=update))
        model = env.text_model
    try:
        cases = build_corpus(data_dir / "corpus", heavy=not args.light)
        params = chunking_params(rt.settings)
        results, controls = run_corpus(rt, cases, params)
        # `ingest check` reads the SQLite file itself (its FTS index), as this bench's catalog is.
        assert isinstance(rt.catalog, Catalog), "the robustness bench runs on a SQLite catalog"
        report = check_library(rt.catalog, rt.store, thumbs_dir=rt.thumbs_dir)
        overhead = sandbox_overhead(data_dir)
        text = render(results, controls, report.clean, rt.settings, model, data_dir, overhead)
    finally:
        rt.close()
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    args.out.write_text(text)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
