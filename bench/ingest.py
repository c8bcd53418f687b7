"""Ingestion speed over real files: `python -m bench.ingest [PATH ...]` (default: the shared PDFs)."""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    bench_models,
    command_line,
    default_workdir,
    log,
    machine,
    publish,
    shared_data_dir,
)
from ingest.pipeline import EMBED_BATCH, Ingestor
from ingest.service import job_limits, parse_limits, parse_sandbox
from ingest.worker import Worker
from ragcore import library
from ragcore.catalog import Catalog
from ragcore.models.loader import Models
from ragcore.runtime import chunking_params
from ragcore.settings import Settings
from ragcore.stores import open_store

STAGES = ("parse", "chunk", "embed", "write")
SUFFIXES = {".pdf", ".md", ".markdown", ".txt", ".png", ".jpg", ".jpeg"}


@dataclass(frozen=True)
class IngestedFile:
    """One file the worker ingested: its stage times, and the same chunks embedded alone."""

    file: str
    pages: int
    pages_ocr: int
    chunks: int  # text chunks and images
    embedded: int  # the text chunks the pure-embedding pass embedded
    seconds: Mapping[str, float]  # per STAGES
    queue_seconds: (
        float  # the job's own cost: claiming it, status and progress writes, finishing it
    )
    wall_seconds: float
    pure_embed_seconds: float

    def to_json(self) -> dict[str, object]:
        """The report's row, keys in the order ``--json`` has always printed them."""
        return {
            "file": self.file,
            "status": "ok",
            "pages": self.pages,
            "pages_ocr": self.pages_ocr,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "seconds": dict(self.seconds),
            "queue_seconds": self.queue_seconds,
            "wall_seconds": self.wall_seconds,
            "pure_embed_seconds": self.pure_embed_seconds,
        }


@dataclass(frozen=True)
class RefusedFile:
    """A file that was not ingested (a duplicate, or its job failed), and why."""

    file: str
    reason: str | None  # None: the job ended without a report and without an error

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "status": "refused", "reason": self.reason}


def files_under(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES))
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"{path} is neither a file nor a folder")
    return out


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pure_embedding_seconds(models: Models, texts: Sequence[str]) -> float:
    """The same texts in the same batches as the Ingestor embeds them, and nothing else."""
    t0 = time.perf_counter()
    for i in range(0, len(texts), EMBED_BATCH):
        models.text.embed_passages(texts[i : i + EMBED_BATCH])
    return time.perf_counter() - t0


def run(
    paths: Sequence[Path], workdir: Path, settings: Settings, *, trace_memory: bool = False
) -> dict[str, object]:
    """Ingest every file into a fresh data dir, timing each stage; then embed the same chunks alone.

    Each file goes through the app's own worker: its job is queued, claimed and run with its
    progress heartbeats, the file parsed in the sandboxed child process with the app's limits
    (``RAG_OCR=false`` measures without OCR). Each file's pure-embedding pass runs right after
    its ingestion, so both see the same machine load (this machine's cores are shared and its
    speed drifts).
    """
    files = files_under(paths)
    workdir.mkdir(parents=True, exist_ok=True)
    # A fresh folder of its own: two runs at once must not delete each other's store.
    data_dir = Path(tempfile.mkdtemp(prefix="ingest-run-", dir=workdir))
    models = bench_models(settings, reranker=False)
    t0 = time.perf_counter()
    getattr(models.text, "warm_up", lambda: None)()  # the fakes of the tests load nothing
    load_seconds = time.perf_counter() - t0
    rss_after_load = peak_rss_mb()
    catalog = Catalog(data_dir / "catalog.sqlite3")
    store = open_store("embedded", path=data_dir / "vectors", collection="bench")
    params = chunking_params(settings)
    sandbox = parse_sandbox(settings)
    ingestor = Ingestor(
        catalog,
        store,
        models,
        thumbs_dir=data_dir / "thumbs",
        limits=parse_limits(settings),
        job_limits=job_limits(settings),
        sandbox=sandbox,
    )
    worker = Worker(
        catalog,
        ingestor,
        default_params=params,
        lease_seconds=settings.lease_seconds,
        poll_seconds=settings.worker_poll_seconds,
    )
    if trace_memory:
        tracemalloc.start()
    rows: list[IngestedFile | RefusedFile] = []
    try:
        for path in files:
            added = library.add_file(catalog, data_dir / "uploads", path, params)
            if added.job is None:
                rows.append(RefusedFile(path.name, "a duplicate"))
                continue
            started = time.perf_counter()
            outcome = worker.run_once({added.job.id})
            wall = time.perf_counter() - started
            report = outcome.report if outcome is not None else None
            if outcome is None or report is None:
                reason = outcome.error if outcome is not None else "its job was not run"
                rows.append(RefusedFile(path.name, reason))
                log(f"{path.name}: refused ({reason})")
                continue
            doc_id = added.document.id
            texts = [c.text for c in catalog.chunks(doc_id) if c.text.strip()]
            pure = pure_embedding_seconds(models, texts)
            stages = {s: round(report.seconds.get(s, 0.0), 3) for s in STAGES}
            rows.append(
                IngestedFile(
                    file=path.name,
                    pages=report.pages,
                    pages_ocr=report.pages_ocr,
                    chunks=report.chunks + report.images,
                    embedded=len(texts),
                    seconds=stages,
                    queue_seconds=round(max(0.0, wall - sum(report.seconds.values())), 3),
                    wall_seconds=round(wall, 3),
                    pure_embed_seconds=round(pure, 3),
                )
            )
            log(
                f"{path.name}: {report.pages} pages, {len(texts)} chunks in {wall:.1f} s "
                f"(embedding alone {pure:.1f} s)"
            )
    finally:
        traced_peak = tracemalloc.get_traced_memory()[1] / 1024**2 if trace_memory else None
        if trace_memory:
            tracemalloc.stop()
        store.close()
        catalog.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return summarise(
        rows,
        load_seconds=load_seconds,
        rss_after_load=rss_after_load,
        traced_peak=traced_peak,
        params={
            "strategy": str(params.strategy),
            "chunk_size": params.chunk_size,
            "overlap": params.overlap,
        },
        model=settings.text_model,
        ocr=settings.ocr,
        sandbox=sandbox is not None,
    )


def summarise(rows: Sequence[IngestedFile | RefusedFile], **extra: object) -> dict[str, object]:
    ok = [r for r in rows if isinstance(r, IngestedFile)]
    pages = sum(r.pages for r in ok)
    chunks = sum(r.embedded for r in ok)
    stage_totals = {s: sum(r.seconds[s] for r in ok) for s in STAGES}
    stage_totals["queue"] = sum(r.queue_seconds for r in ok)
    wall = sum(r.wall_seconds for r in ok)
    pure = sum(r.pure_embed_seconds for r in ok)
    staged = sum(stage_totals.values()) or 1.0
    return {
        "files": len(rows),
        "ingested": len(ok),
        "refused": [
            {"file": r.file, "reason": r.reason} for r in rows if isinstance(r, RefusedFile)
        ],
        "pages": pages,
        "chunks": chunks,
        "wall_seconds": round(wall, 2),
        "pages_per_second": round(pages / wall, 2) if wall else None,
        "chunks_per_second": round(chunks / wall, 2) if wall else None,
        "stage_seconds": {s: round(v, 2) for s, v in stage_totals.items()},
        "stage_shares": {s: round(v / staged, 4) for s, v in stage_totals.items()},
        "pure_embed_seconds": round(pure, 2),
        "pure_embed_chunks_per_second": round(chunks / pure, 2) if pure else None,
        # End-to-end throughput over pure-embedding throughput on the same chunks = pure / wall.
        "throughput_ratio": round(pure / wall, 3) if wall else None,
        # OCR is parsing work the pure-embedding pass cannot do: the ratio over the files
        # without an OCR'd page says what the pipeline costs beside the embedder.
        "pages_ocr": sum(r.pages_ocr for r in ok),
        "files_ocr": sum(1 for r in ok if r.pages_ocr),
        "throughput_ratio_without_ocr": _ratio([r for r in ok if not r.pages_ocr]),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **extra,
        "rows": [r.to_json() for r in rows],
    }


def _ratio(rows: Sequence[IngestedFile]) -> float | None:
    wall = sum(r.wall_seconds for r in rows)
    return round(sum(r.pure_embed_seconds for r in rows) / wall, 3) if wall else None


def print_table(report: Mapping[str, object]) -> None:
    print(
        f"{report['ingested']} of {report['files']} files ingested: {report['pages']} pages, "
        f"{report['chunks']} chunks in {report['wall_seconds']} s"
    )
    print(f"  {report['pages_per_second']} pages/s, {report['chunks_per_second']} chunks/s")
    shares = report["stage_shares"]
    print("  stage shares: " + ", ".join(f"{s} {v:.1%}" for s, v in shares.items()))  # type: ignore[attr-defined]
    print(
        f"  pure embedding of the same chunks: {report['pure_embed_chunks_per_second']} chunks/s; "
        f"end-to-end / pure = {report['throughput_ratio']} (target >= 0.85)"
    )
    if report["pages_ocr"]:
        print(
            f"  {report['pages_ocr']} pages of {report['files_ocr']} files read by OCR; the "
            f"other files alone: end-to-end / pure = {report['throughput_ratio_without_ocr']}"
        )
    print(
        f"  peak RSS {report['peak_rss_mb']} MB (model loaded: {report['rss_after_load']:.0f} MB)"
    )
    for refused in report["refused"]:  # type: ignore[attr-defined]
        print(f"  refused {refused['file']}: {refused['reason']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, default=[shared_data_dir() / "pdfs"])
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--trace-memory", action="store_true", help="tracemalloc (slower)")
    args = parser.parse_args(argv)
    settings = Settings(data_dir=args.workdir)
    report = run(args.paths, args.workdir, settings, trace_memory=args.trace_memory)
    report["machine"] = machine()
    report["command"] = command_line("bench.ingest", argv)
    return publish(report, out=args.out, as_json=args.json, print_table=print_table)


if __name__ == "__main__":
    raise SystemExit(main())
