"""Run every benchmark and write bench/RESULTS.md with PNG plots: `python -m bench.report` (make bench)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.beir import TUNED_FILE
from bench.common import REPO_ROOT, default_workdir, log, machine, shared_data_dir
from ragcore.evaluation.beir import ANCHORS

BENCH_DIR = REPO_ROOT / "bench"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
ANSWERS_BASELINE = BENCH_DIR / "answers_baseline.json"
BATCH_IMPORT_PREFIX = "For comparison, the batched text import"  # from the SciFact run
PLOTS = {
    "beir": "beir_ndcg.png",
    "peer": "peer.png",
    "ingest": "ingest_stages.png",
    "latency": "latency_stages.png",
    "models": "models.png",
}
# Steps `make bench` runs unless --only says otherwise; `models` embeds the corpus once per model
# (MPNet alone takes the better part of an hour on two cores), so it runs only when asked and
# its last results are reused. `answers` asks the local LLM every dev question (tens of minutes).
STEPS = ("beir", "peer", "ingest", "latency", "models", "answers")
DEFAULT_STEPS = "beir,peer,ingest,latency,answers"
COMPARED_MODELS = "sentence-transformers/all-MiniLM-L6-v2,sentence-transformers/all-mpnet-base-v2"


def commands(data: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    scifact = str(data / "beir" / "scifact")
    return {
        "beir": ["bench.beir", "--data", scifact, "--split", "test"]
        + (["--tune"] if args.tune else []),
        "peer": ["bench.peer", "--data", scifact],
        "ingest": ["bench.ingest", str(data / "pdfs")],
        "latency": [
            "bench.latency",
            "--data",
            scifact,
            "--sizes",
            args.sizes,
            "--real-upto",
            str(args.real_upto),
        ],
        "models": ["bench.beir", "--data", scifact, "--split", "test", "--models", COMPARED_MODELS],
        "answers": ["bench.answers", "--pdfs", str(data / "pdfs")],
    }


def run_step(name: str, argv: list[str], out: Path, workdir: Path) -> dict[str, Any] | None:
    """One benchmark in its own process (so peak memory and model caches are its own)."""
    cmd = [sys.executable, "-m", *argv, "--workdir", str(workdir), "--out", str(out)]
    log(f"== {name}: {' '.join(cmd[1:])}")
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO_ROOT, check=False)
    if done.returncode != 0:
        log(f"== {name} failed (exit {done.returncode}); its section will say so")
        return None
    log(f"== {name} done in {time.perf_counter() - started:.0f} s")
    return json.loads(out.read_text())


# ── plots ──────────────────────────────────────────────────────────


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_beir(report: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    rows = [r for r in report["rows"] if "ndcg@10" in r]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    modes = [r["mode"] for r in rows]
    values = [r["ndcg@10"] for r in rows]
    bars = ax.bar(modes, values, color=["#4c72b0" if "hybrid" in m else "#8c8c8c" for m in modes])
    ax.bar_label(bars, fmt="%.3f", fontsize=8)
    for anchor, style in zip(ANCHORS, (":", "-.", "--"), strict=True):
        ax.axhline(anchor["value"], linestyle=style, color="#c44e52", linewidth=1)
        ax.text(
            len(modes) - 0.5,
            anchor["value"],
            f" {anchor['anchor']} {anchor['value']}",
            fontsize=7,
            va="bottom",
            ha="right",
        )
    ax.axhline(0.70, color="#55a868", linewidth=1)
    ax.text(-0.5, 0.70, " target 0.70", fontsize=7, va="bottom", color="#55a868")
    ax.set_ylim(0.5, 0.8)
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"SciFact {report['split']} ({report['queries']} queries), all-MiniLM-L6-v2")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(report: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    sizes = [r["chunks"] for r in report["rows"]]
    for stage in ("encode", "dense", "bm25", "fuse", "rerank", "total"):
        points = [
            (s, r["stages"][stage]["p50_ms"])
            for s, r in zip(sizes, report["rows"], strict=True)
            if isinstance(r["stages"][stage], dict)
        ]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=stage)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks in the library")
    ax.set_ylabel("p50 latency, ms")
    ax.set_title("Query latency by stage (embedded store; rerank: see table)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_ingest(report: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.6))
    left = 0.0
    colors = {"parse": "#8172b2", "chunk": "#ccb974", "embed": "#4c72b0", "write": "#55a868"}
    for stage, share in report["stage_shares"].items():
        ax.barh([0], [share], left=left, color=colors.get(stage), label=f"{stage} {share:.1%}")
        left += share
    ax.set_yticks([])
    ax.set_xlim(0, 1)
    ax.set_title(
        f"Ingestion time by stage ({report['pages']} pages, {report['chunks']} chunks); "
        f"end-to-end / pure embedding = {report['throughput_ratio']}",
        fontsize=9,
    )
    ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_peer(report: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    rows = report["rows"]
    names = [
        r["system"].split(":")[0]
        + ("" if "LangChain" in r["system"] else r["system"].split(":")[1])
        for r in rows
    ]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    bars = a.bar(range(len(rows)), [r["ndcg@10"] for r in rows], color="#4c72b0")
    a.bar_label(bars, fmt="%.3f", fontsize=8)
    a.set_xticks(range(len(rows)), names, fontsize=7, rotation=15)
    a.set_ylim(0.5, 0.8)
    a.set_title("nDCG@10")
    width = 0.4
    xs = range(len(rows))
    b.bar([x - width / 2 for x in xs], [r["p50_ms"] for r in rows], width, label="p50")
    b.bar([x + width / 2 for x in xs], [r["p95_ms"] for r in rows], width, label="p95")
    b.set_xticks(list(xs), names, fontsize=7, rotation=15)
    b.set_title("per-query latency, ms")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ── markdown ───────────────────────────────────────────────────────


def plot_models(report: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    rows = report["rows"]
    names = [r["model"].split("/")[-1] for r in rows]
    series = {
        "dense nDCG@10": [r["quality"]["dense"]["ndcg@10"] for r in rows],
        "hybrid nDCG@10": [r["quality"]["hybrid-rrf"]["ndcg@10"] for r in rows],
        "dense R@100": [r["quality"]["dense"]["recall@100"] for r in rows],
    }
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        xs = [j + i * width for j in range(len(rows))]
        ax.bar_label(ax.bar(xs, values, width, label=label), fmt="%.3f", fontsize=7)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(rows))], names)
    ax.set_ylim(0, 1.2)
    ax.set_title(f"{report['dataset']} {report['split']}: embedding models")
    ax.legend(fontsize=8, loc="upper center", ncol=len(series))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _f(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float | int) else str(value)


def section_beir(report: Mapping[str, Any] | None, tuned: Mapping[str, Any] | None) -> str:
    if report is None:
        return (
            "## Retrieval quality (SciFact)\n\nNot run or failed this time; see the console log.\n"
        )
    rows = []
    for r in report["rows"]:
        if r.get("status") == "unavailable":
            rows.append([r["mode"], "unavailable", "", "", "", "", "", r["reason"]])
        else:
            rows.append(
                [
                    r["mode"],
                    _f(r["ndcg@10"]),
                    _f(r["recall@10"]),
                    _f(r["recall@100"]),
                    _f(r["mrr@10"]),
                    _f(r["latency_p50_ms"], 0),
                    _f(r["latency_p95_ms"], 0),
                    r.get("published", ""),
                ]
            )
    out = [
        "## Retrieval quality (SciFact)",
        "",
        f"`{report['command']}`",
        "",
        f"{report['dataset']} {report['split']}: {report['queries']} queries over {report['documents']} "
        f"documents ({report['chunks']} chunks: {report['chunking']['strategy']}, at most "
        f"{report['chunking']['chunk_size']} tokens, overlap {report['chunking']['overlap']}), "
        f"{report['model']}, embedded store, no CLIP. Each document is title + text; a document's rank "
        "is its best chunk's. Latency: every query runs through all modes in turn (so they share the "
        "machine's load), whole `Retriever.run`, query encoding included. Fusion parameters from "
        f"`{Path(report['fusion_source']).name if report['fusion_source'].endswith('.json') else report['fusion_source']}`.",
        "",
        _table(
            ["mode", "nDCG@10", "R@10", "R@100", "MRR@10", "p50 ms", "p95 ms", "published nDCG@10"],
            rows,
        ),
        "",
        "Published anchors: " + "; ".join(f"{a['anchor']} {a['value']}" for a in ANCHORS) + ".",
        "The +rerank rows need the cross-encoder `cross-encoder/ms-marco-MiniLM-L6-v2`, which has no "
        "offline copy on this machine; they stay 'unavailable' rather than show an invented number.",
        "",
        f"![nDCG@10 by mode]({PLOTS['beir']})",
        "",
    ]
    if tuned:
        out += [section_tuning(tuned)]
    return "\n".join(out)


def section_tuning(tuned: Mapping[str, Any]) -> str:
    chosen = tuned["chosen"]
    top = tuned["grid"][:10]
    rows = [
        [
            g["params"]["fusion"],
            g["params"]["dense_k"],
            g["params"]["rrf_k"] if g["params"]["fusion"] == "rrf" else "-",
            g["params"]["dense_weight"],
            g["params"]["bm25_weight"],
            _f(g["ndcg@10"]),
            _f(g["recall@100"]),
        ]
        for g in top
    ]
    base = tuned["baseline"]
    lines = [
        "### Tuning on the train split",
        "",
        f"`python -m bench.beir --tune` ran both legs once, 200 deep, for the {tuned['queries']} train "
        f"queries, then fused them offline over {len(tuned['grid'])} settings (the same fusion code as "
        "`Retriever.run`; a shallower candidate list is the prefix of the deeper one, since both legs "
        f"are exact). Selection: {tuned['selection']}. Written to `bench/tuned.json`.",
        "",
        "Chosen: "
        + "; ".join(
            f"**{name}** dense_k = bm25_k = {c['dense_k']}"
            + (f", rrf_k = {c['rrf_k']}" if name == "rrf" else "")
            + f", dense_weight = {c['dense_weight']}, bm25_weight = {c['bm25_weight']}"
            for name, c in chosen.items()
        ),
        "",
        f"Baseline (the settings' old defaults: 50 deep, rrf_k 60, weights 1:1): train nDCG@10 {_f(base['ndcg@10'])}.",
        "",
        "Best ten on train:",
        "",
        _table(
            ["fusion", "depth", "rrf_k", "dense w", "bm25 w", "train nDCG@10", "train R@100"], rows
        ),
        "",
    ]
    return "\n".join(lines)


def section_peer(report: Mapping[str, Any] | None) -> str:
    if report is None:
        return "## Against the LangChain recipe\n\nNot run or failed (is LangChain installed? `pip install -e '.[bench]'`).\n"
    rows = [
        [r["system"], _f(r["ndcg@10"]), _f(r["recall@100"]), _f(r["p50_ms"], 1), _f(r["p95_ms"], 1)]
        for r in report["rows"]
    ]
    add = report["add_documents"]
    add_rows = [
        [who, *(_f(add[who][k], 2) for k in ("chunk", "embed", "index", "total"))]
        for who in ("ours", "langchain")
    ]
    return "\n".join(
        [
            "## Against the LangChain recipe",
            "",
            f"`{report['command']}`",
            "",
            f"Same {report['chunks']} chunks, same MiniLM vectors (read from our index), same {report['queries']} "
            "queries. LangChain: `BM25Retriever` (rank-bm25, its default whitespace tokens) + "
            "`InMemoryVectorStore` retriever + `EnsembleRetriever` (weighted RRF, weights 0.5/0.5, c = 60), "
            "each retriever k = our candidate depth. Each query runs through the three systems in "
            "turn, so their latencies see the same machine load. Versions: "
            + ", ".join(f"{k} {v}" for k, v in report["versions"].items())
            + ".",
            "",
            _table(["system", "nDCG@10", "R@100", "p50 ms", "p95 ms"], rows),
            "",
            f"Adding {add['documents']} new documents ({add['chunks']} chunks), seconds. Both embed the same "
            "texts with the same model (differences there are machine noise). Index update: ours upserts "
            "the points and writes the chunk rows, whose FTS5 entries follow in the same transaction; "
            "LangChain adds the vectors to a dict and rebuilds rank-bm25 from every chunk "
            f"({add['langchain']['bm25_rebuild']:.2f} s here), a cost that grows with the library, "
            "not with what was added.",
            "",
            _table(["system", "chunk", "embed", "index update", "total"], add_rows),
            "",
            "Ratios: " + "; ".join(f"{k} = {v}" for k, v in report["ratios"].items()) + ".",
            "",
            f"![ours vs LangChain]({PLOTS['peer']})",
            "",
        ]
    )


def ratio_verdict(report: Mapping[str, Any]) -> str:
    ratio = report["throughput_ratio"]
    if ratio is None:
        return ""
    stages = report["stage_seconds"]
    rest = ", ".join(
        f"{stage} {seconds:.0f} s" for stage, seconds in stages.items() if stage != "embed"
    )
    if ratio >= 0.85:
        return f"Target met ({ratio}); besides embedding, the time went to {rest}."
    return (
        f"**Target missed by {0.85 - ratio:.2f}** ({ratio}): besides embedding, the time went to "
        f"{rest}, run one after the other."
    )


def batch_import_line(beir: Mapping[str, Any] | None) -> str:
    """How the batched text import (ingest.batch) did when it built the SciFact index."""
    stats = (beir or {}).get("index", {})
    seconds = stats.get("seconds")
    if not seconds or not stats.get("timed_chunks"):
        return ""
    total = sum(seconds.values())
    return (
        f"{BATCH_IMPORT_PREFIX} (`ingest.batch.ingest_texts`, no parsing) built the "
        f"SciFact index: {stats['timed_documents']} abstracts, {stats['timed_chunks']} chunks in "
        f"{total:.0f} s ({stats['timed_chunks'] / total:.1f} chunks/s on a machine busier than for "
        f"the table above); embedding took {seconds['embed'] / total:.1%} of it (chunk "
        f"{seconds['chunk']:.0f} s, write {seconds['write']:.0f} s), so embedding-bound throughput "
        f"ratio ~{seconds['embed'] / total:.2f}.\n"
    )


def section_ingest(report: Mapping[str, Any] | None, beir: Mapping[str, Any] | None = None) -> str:
    if report is None:
        return "## Ingestion speed\n\nNot run or failed this time.\n\n" + batch_import_line(beir)
    stages = report["stage_seconds"]
    shares = report["stage_shares"]
    refused = "; ".join(f"{r['file']} ({r['reason']})" for r in report["refused"]) or "none"
    return "\n".join(
        [
            "## Ingestion speed",
            "",
            f"`{report['command']}`",
            "",
            f"{report['ingested']} of {report['files']} files through the real `Ingestor` (parse → chunk → embed → write, "
            f"embedded store, {report['params']['strategy']} chunks of {report['params']['chunk_size']} tokens, "
            f"no CLIP{', OCR off' if report.get('ocr') is False else ''}), one at a time "
            + _how_run(report)
            + " Refused: "
            + refused
            + ".",
            "",
            _table(
                [
                    "pages",
                    "chunks",
                    "seconds",
                    "pages/s",
                    "chunks/s",
                    "pure embedding chunks/s",
                    "end-to-end / pure",
                    "peak RSS MB",
                ],
                [
                    [
                        report["pages"],
                        report["chunks"],
                        report["wall_seconds"],
                        report["pages_per_second"],
                        report["chunks_per_second"],
                        report["pure_embed_chunks_per_second"],
                        report["throughput_ratio"],
                        report["peak_rss_mb"],
                    ]
                ],
            ),
            "",
            _table(
                ["stage", "seconds", "share"], [[s, stages[s], f"{shares[s]:.1%}"] for s in stages]
            ),
            "",
            "Pure embedding = the same chunk texts, same batches, embedded again right after each file "
            "(so both passes see the same machine load). Target for the ratio: >= 0.85. Model load "
            f"({report['load_seconds']:.1f} s) is not counted. "
            + ratio_verdict(report)
            + _ocr_note(report)
            + _when(report),
            "",
            f"![ingestion stages]({PLOTS['ingest']})",
            "",
            batch_import_line(beir),
        ]
    )


def _ocr_note(report: Mapping[str, Any]) -> str:
    if not report.get("pages_ocr"):
        return ""
    return (
        f" {report['pages_ocr']} pages of {report['files_ocr']} files were read by OCR, work "
        "the pure-embedding pass does not do (it is in the parse stage); the other files alone: "
        f"end-to-end / pure = {report['throughput_ratio_without_ocr']}."
    )


def _when(report: Mapping[str, Any]) -> str:
    m = report.get("machine")
    if not m:
        return ""
    return f" Measured {m['date']}; load average at the end {m['load_average']}."


def _how_run(report: Mapping[str, Any]) -> str:
    if "sandbox" not in report:  # results written before bench.ingest used the worker
        return "as the worker does; job-queue overhead excluded."
    parse = "in the sandboxed child process" if report["sandbox"] else "in the worker's process"
    return (
        "through the app's own worker: each file's job queued, claimed and run with its progress "
        f"heartbeats (the 'queue' row), parsed {parse}."
    )


def section_latency(report: Mapping[str, Any] | None) -> str:
    if report is None:
        return "## Query latency by stage\n\nNot run or failed this time.\n"
    stages = ("encode", "dense", "bm25", "fuse", "rerank", "total")
    rows = []
    for r in report["rows"]:
        cells = [r["chunks"], r["vectors"]]
        for s in stages:
            v = r["stages"][s]
            cells.append(
                f"{v['p50_ms']:.1f} / {v['p95_ms']:.1f}" if isinstance(v, dict) else "unavailable"
            )
        rows.append(cells)
    return "\n".join(
        [
            "## Query latency by stage",
            "",
            f"`{report['command']}`",
            "",
            f"p50 / p95 in ms over {report['queries']} SciFact test queries, hybrid RRF, embedded store, "
            f"top_k {report['config']['top_k']}. **Synthetic libraries**: every chunk is three sentences drawn at "
            "random from SciFact abstracts (a real vocabulary for BM25; the combinations are made up), one "
            "chunk per document. Rows marked 'random unit vectors' store a random unit vector per chunk instead "
            "of its MiniLM embedding: exact search costs the same whatever the vectors hold, so the dense time "
            "is real though its ranking is not; queries always go through the real MiniLM. "
            f"Reranker: {report['reranker']}.",
            "",
            _table(["chunks", "vectors", *stages], rows),
            "",
            f"![latency by stage]({PLOTS['latency']})",
            "",
        ]
    )


def section_models(report: Mapping[str, Any] | None) -> str:
    if report is None:
        return (
            "## Embedding models\n\nNot run yet: `python -m bench.report --only models` (about an "
            "hour on two cores: every model embeds the whole corpus).\n"
        )
    rows = [
        [
            r["model"],
            r["dim"],
            r["bytes_per_vector"],
            r["distance"],
            _f(r["quality"]["dense"]["ndcg@10"]),
            _f(r["quality"]["dense"]["recall@100"]),
            _f(r["quality"]["hybrid-rrf"]["ndcg@10"]),
            _f(r["quality"]["hybrid-rrf"]["recall@100"]),
            _f(r["encode_passages_per_s"], 1),
            r["chunks"],
            _f(r["index_bytes_on_disk"] / 1e6, 1),
        ]
        for r in report["rows"]
    ]
    return "\n".join(
        [
            "## Embedding models",
            "",
            f"`{report['command']}` (what `python -m bench.beir --models ...` runs)",
            "",
            f"{report['dataset']} {report['split']}, {report['queries']} queries, corpus: "
            f"{report['corpus']}; each model chunks to its own maximum length. Dense = the model "
            "alone; hybrid = with BM25 through the app's default weighted RRF, 100 deep per leg. Passages/s: `embed_passages` "
            f"on 64 abstracts (load average then: {report['machine']['load_average']}).",
            "",
            _table(
                [
                    "model",
                    "dim",
                    "bytes/vector",
                    "distance",
                    "dense nDCG@10",
                    "dense R@100",
                    "hybrid nDCG@10",
                    "hybrid R@100",
                    "passages/s",
                    "chunks",
                    "index MB",
                ],
                rows,
            ),
            "",
            f"![embedding models]({PLOTS['models']})",
            "",
        ]
    )


def _pct(value: object) -> str:
    return f"{value:.0%}" if isinstance(value, float | int) else "—"


def _seconds(ms: object) -> str:
    return f"{ms / 1000:.1f}" if isinstance(ms, float | int) else "—"


def _ms_pair(p50: object, p95: object) -> str:
    return f"{_seconds(p50)} / {_seconds(p95)}"


def section_answers(report: Mapping[str, Any] | None) -> str:
    if report is None:
        return (
            "## Answers (dev question set)\n\nNot run or failed this time: `python -m bench.answers` "
            "(`bench/data/README.md` describes the questions).\n"
        )
    s = report["scores"]
    overall = [
        [
            "right and verified: every key fact, in the model's words, quote found on the page",
            _pct(s["fact_accuracy_verified"]),
        ],
        ["key-fact accuracy, the model's own words (shown or not)", _pct(s["fact_accuracy_own"])],
        ["key-fact accuracy, the answer text shown", _pct(s["fact_accuracy_shown"])],
        ["a verified quote on an expected page", _pct(s["quote_location_recall"])],
        [
            "cited-location precision, all citations / the model's",
            f"{_pct(s['location_precision'])} / {_pct(s['location_precision_own'])}",
        ],
        ["cited-location recall (a citation on an expected page)", _pct(s["location_recall"])],
        ["ALCE citation recall (claims backed by what they cite)", _pct(s["citation_recall"])],
        [
            "refusal precision / recall",
            f"{_pct(s['refusal_precision'])} / {_pct(s['refusal_recall'])}",
        ],
        ["answerable questions refused", s["false_refusals"]],
        [
            "out-of-range citations removed (answers with any)",
            f"{s['out_of_range_citations']} ({s['answers_with_out_of_range']})",
        ],
        [
            "first token p50 / p95, s (question → first text)",
            _ms_pair(s["first_token_p50_ms"], s["first_token_p95_ms"]),
        ],
        [
            f"first token within {report['first_token_target_ms'] / 1000:g} s",
            _pct(s["first_token_within_target"]),
        ],
        ["total p50 / p95, s", _ms_pair(s["total_p50_ms"], s["total_p95_ms"])],
        [
            "prompt tokens p50 / p95",
            f"{_f(s['prompt_tokens_p50'], 0)} / {_f(s['prompt_tokens_p95'], 0)}",
        ],
        ["completion tokens/s p50", _f(s["tokens_per_s_p50"], 1)],
    ]
    kinds = [
        [
            kind,
            k["questions"],
            _pct(k["fact_accuracy_verified"]),
            _pct(k["fact_accuracy_own"]),
            _pct(k["fact_accuracy_shown"]),
            _pct(k["location_recall"]),
            k["refused"],
            _seconds(k["first_token_p50_ms"]),
        ]
        for kind, k in s["by_kind"].items()
    ]
    partial = "" if report.get("complete", True) else " **Stopped early: partial results.**"
    return "\n".join(
        [
            "## Answers (dev question set)",
            "",
            f"`{report['command']}`",
            "",
            f"{report['answered']} questions ({s['answerable']} answerable, {s['unanswerable']} "
            f"unanswerable) from `{Path(report['questions_file']).name}`, asked one at a time through "
            f"the app's own answer path over {report['index']['documents']} ingested PDFs "
            f"({report['index']['chunks']} chunks). {report['llm']}. Modes: {s['modes']}. Prompt "
            f"tokens: {report['prompt_tokens_method']}. Load average {report['machine']['load_average']} "
            f"at the start, {report['load_average_end']} at the end ({report['machine']['cores']} "
            f"cores).{partial} Definitions: `bench/data/README.md`.",
            "",
            *([report["environment_note"], ""] if report.get("environment_note") else []),
            _table(["measure", "value"], overall),
            "",
            _table(
                [
                    "kind",
                    "questions",
                    "right, verified",
                    "facts (own words)",
                    "facts (shown)",
                    "located",
                    "refused",
                    "first token p50, s",
                ],
                kinds,
            ),
            "",
        ]
    )


# Each step's section in RESULTS.md, by the title of its heading.
SECTION_TITLES = {
    "beir": "Retrieval quality (SciFact)",
    "peer": "Against the LangChain recipe",
    "ingest": "Ingestion speed",
    "latency": "Query latency by stage",
    "models": "Embedding models",
    "answers": "Answers (dev question set)",
}
KEPT_NOTE = "_Kept from an earlier run: this step did not run, and left no results, this time._"


def split_sections(markdown: str) -> list[tuple[str, str]]:
    """The ``## `` sections of a results file in order, as (title, text from its heading on).

    What comes before the first is left out (``render`` writes the head anew); a ``## `` line
    inside a fenced code block does not start a section.
    """
    sections: list[tuple[str, list[str]]] = []
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if line.startswith("## ") and not fenced:
            sections.append((line[3:].strip(), [line]))
        elif sections:
            sections[-1][1].append(line)
    return [(title, "\n".join(lines).rstrip()) for title, lines in sections]


def _with_paragraph(text: str, previous: str, prefix: str) -> str:
    """``text`` ending with the paragraph of ``previous`` that starts with ``prefix``, if any."""
    paragraphs = [p for p in previous.split("\n\n") if p.startswith(prefix)]
    if not paragraphs or prefix in text:
        return text
    return f"{text}\n\n{paragraphs[0].rstrip()}"


def _kept(text: str) -> str:
    """An earlier run's section, marked as such once."""
    if KEPT_NOTE in text:
        return text
    heading, _, rest = text.partition("\n")
    return f"{heading}\n\n{KEPT_NOTE}\n{rest}".rstrip()


def render(
    results: Mapping[str, Any],
    tuned: Mapping[str, Any] | None,
    started: Mapping[str, Any],
    previous: str | None = None,
    *,
    keep_head: bool = False,
) -> str:
    """RESULTS.md: a section per step from its results, and what ``previous`` (the file as it
    was) has that this run does not make: sections written by hand, in their place, and the
    sections of steps that left no results this time (marked as kept from an earlier run).
    ``keep_head`` keeps the previous date and machine lines (nothing was measured this time)."""
    m = started
    head = [
        "# Benchmark results",
        "",
        "Regenerated by `make bench` (`python -m bench.report`); not part of `make test`.",
        "",
        f"- Date: {m['date']}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM; {m['platform']}; Python "
        f"{m['python']}, torch {m['torch']} ({m['torch_threads']} threads)",
        f"- Load average when the run started: {m['load_average']}",
        "",
        "**Speeds here are noisy.** The two cores were shared with other jobs (builds, test runs) "
        "during these measurements, so absolute times and throughputs are pessimistic and vary "
        "run to run; the quality numbers (nDCG, recall, MRR) do not depend on load. Sections "
        "without a command of `make bench` were measured and written by hand; regenerating keeps them.",
        "",
    ]
    made = {
        "beir": section_beir(results.get("beir"), tuned),
        "peer": section_peer(results.get("peer")),
        "ingest": section_ingest(results.get("ingest"), results.get("beir")),
        "latency": section_latency(results.get("latency")),
        "models": section_models(results.get("models")),
        "answers": section_answers(results.get("answers")),
    }
    old = split_sections(previous or "")
    old_text = dict(old)

    def section(step: str) -> str:
        title = SECTION_TITLES[step]
        fresh = made[step].rstrip()
        if step == "ingest" and not batch_import_line(results.get("beir")):
            # That paragraph comes from the SciFact run: without one, keep the earlier paragraph.
            fresh = _with_paragraph(fresh, old_text.get(title, ""), BATCH_IMPORT_PREFIX)
        # An earlier "not run" placeholder is no earlier result: it is written anew.
        if results.get(step) is None and old_text.get(title, fresh) != fresh:
            return _kept(old_text[title])
        return fresh

    steps_by_title = {title: step for step, title in SECTION_TITLES.items()}
    body = [section(steps_by_title[t]) if t in steps_by_title else text for t, text in old]
    placed = [steps_by_title.get(t) for t, _ in old]
    for step in SECTION_TITLES:
        if step in placed:
            continue
        # A new section goes after the step that precedes it in SECTION_TITLES, if placed.
        order = list(SECTION_TITLES)
        before = [s for s in order[: order.index(step)] if s in placed]
        at = placed.index(before[-1]) + 1 if before else 0
        body.insert(at, section(step))
        placed.insert(at, step)
    old_head = (previous or "").split("\n## ", 1)[0].rstrip() if old else ""
    top = old_head if keep_head and old_head else "\n".join(head).rstrip()
    return top + "\n\n" + "\n\n".join(body) + "\n"


PLOTTERS: dict[str, Callable[[Mapping[str, Any], Path], None]] = {
    "beir": plot_beir,
    "peer": plot_peer,
    "ingest": plot_ingest,
    "latency": plot_latency,
    "models": plot_models,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--data", type=Path, default=shared_data_dir())
    parser.add_argument(
        "--only", default=DEFAULT_STEPS, help="steps to run, of: " + ",".join(STEPS)
    )
    parser.add_argument("--reuse", action="store_true", help="keep results already in the workdir")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="run nothing: rewrite RESULTS.md from the results already in the workdir",
    )
    parser.add_argument("--tune", action="store_true", help="re-tune fusion on train first")
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--real-upto", type=int, default=10000)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"no shared data at {args.data} (set --data or RAG_SHARED_DATA)")
    started = machine()
    results_dir = args.workdir / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    wanted = [] if args.render_only else [s.strip() for s in args.only.split(",") if s.strip()]
    results: dict[str, Any] = {}
    for name, argv_step in commands(args.data, args).items():
        out = results_dir / f"{name}.json"
        if name in wanted and not (args.reuse and out.exists()):
            results[name] = run_step(name, argv_step, out, args.workdir)
        elif out.exists():
            results[name] = json.loads(out.read_text())
        elif name == "answers" and ANSWERS_BASELINE.exists():
            # The committed baseline (a run takes tens of minutes with the local LLM).
            results[name] = json.loads(ANSWERS_BASELINE.read_text())
        if results.get(name) is not None and name in PLOTTERS:
            PLOTTERS[name](results[name], BENCH_DIR / PLOTS[name])
    tuned = json.loads(TUNED_FILE.read_text()) if TUNED_FILE.exists() else None
    previous = RESULTS_MD.read_text() if RESULTS_MD.exists() else None
    RESULTS_MD.write_text(render(results, tuned, started, previous, keep_head=args.render_only))
    log(f"wrote {RESULTS_MD} and {', '.join(PLOTS.values())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
