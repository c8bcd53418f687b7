"""Answer quality and speed on the dev question set through the app's path: `python -m bench.answers`."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import (
    REPO_ROOT,
    command_line,
    default_workdir,
    log,
    machine,
    publish,
    shared_data_dir,
    write_json,
)
from bench.replay import ReplayLLM
from ingest.service import build_worker
from ragcore import library
from ragcore.catalog import DocumentStatus
from ragcore.evaluation.answers import (
    APPROX_TOKENS,
    FIRST_TOKEN_TARGET_MS,
    AnswerCase,
    AnswerRow,
    QuestionKind,
    TokenCounter,
    load_cases,
    run_answers,
    score,
)
from ragcore.runtime import (
    LLMChoice,
    Runtime,
    build_runtime,
    chunking_params,
    connect_llm,
)
from ragcore.settings import Settings

DEFAULT_QUESTIONS = REPO_ROOT / "bench" / "data" / "answers_dev.jsonl"
DEFAULT_OUT = REPO_ROOT / "bench" / "answers_dev.json"
INDEX_FOLDER = "answers-index"


def pick(cases: Sequence[AnswerCase], limit: int, kinds: Sequence[str] = ()) -> list[AnswerCase]:
    """The questions of ``kinds`` (all when empty); with ``limit``, that many taken in turn
    from each kind (file order within a kind), so a short run still covers every kind."""
    chosen = [c for c in cases if not kinds or c.kind.value in kinds]
    if not limit or limit >= len(chosen):
        return chosen
    queues = {kind: [c for c in chosen if c.kind == kind] for kind in QuestionKind}
    picked: list[AnswerCase] = []
    while len(picked) < limit:
        for queue in queues.values():
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    order = {c.id: i for i, c in enumerate(cases)}
    return sorted(picked, key=lambda c: order[c.id])


def ensure_index(rt: Runtime, pdfs: Path) -> dict[str, Any]:
    """Add every PDF of ``pdfs`` to the library and ingest what is new, as the app would.

    Content already ingested is recognised and kept, so later runs reuse the index.
    """
    files = sorted(pdfs.glob("*.pdf"))
    if not files:
        raise FileNotFoundError(f"no PDF files in {pdfs}")
    params = chunking_params(rt.settings)
    queued = 0
    for path in files:
        added = library.add_file(rt.catalog, rt.settings.uploads_dir, path, params)
        queued += added.job is not None and added.document.status != DocumentStatus.READY
    if queued:
        log(f"ingesting {queued} of {len(files)} PDFs into {rt.settings.data_dir} (once)…")
        started = time.perf_counter()
        build_worker(rt, worker_id="bench-answers").run_until_idle()
        log(f"ingested in {time.perf_counter() - started:.0f} s")
    return index_stats(rt)


def index_stats(rt: Runtime) -> dict[str, Any]:
    docs = rt.catalog.list_documents()
    return {
        "data_dir": str(rt.settings.data_dir),
        "documents": sum(1 for d in docs if d.status == DocumentStatus.READY),
        "failed": sorted(d.name for d in docs if d.status == DocumentStatus.FAILED),
        "chunks": sum(d.chunks for d in docs if d.status == DocumentStatus.READY),
        "chunking": {
            "strategy": str(rt.settings.chunk_strategy),
            "chunk_size": rt.settings.chunk_size,
            "overlap": rt.settings.chunk_overlap,
        },
        "text_model": rt.models.text.model_id,
    }


def llm_settings(llm: str, model: str | None) -> dict[str, object]:
    """Settings overrides for ``--llm``: ``local`` (the offline model), ``none`` or a base URL."""
    if llm == "local":
        return {"local_llm": True, "llm_base_url": None}
    if llm == "none":
        return {"local_llm": False, "llm_base_url": None}
    if llm.startswith(("http://", "https://")):
        return {"llm_base_url": llm, **({"llm_model": model} if model else {})}
    raise ValueError(f"--llm must be local, none or an http(s) base URL, got {llm!r}")


def gguf_token_counter(model_path: Path) -> TokenCounter:
    """The GGUF's own tokenizer (llama.cpp, vocabulary only), or the 4-characters rule."""
    try:
        from llama_cpp import Llama

        vocab = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    except (ImportError, ValueError, OSError, RuntimeError) as exc:
        log(f"no tokenizer for {model_path.name} ({exc}); approximating")
        return APPROX_TOKENS
    return TokenCounter(
        lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True)),
        f"{model_path.name} tokenizer (llama.cpp vocab only); +10 for the chat template",
    )


def token_counter(choice: LLMChoice) -> TokenCounter:
    """The local model's own tokenizer or the 4-characters rule."""
    if choice.server is None:
        return APPROX_TOKENS
    return gguf_token_counter(choice.server.model_path)


def report_json(
    rows: Sequence[AnswerRow],
    loads: Sequence[float],
    *,
    head: Mapping[str, Any],
    complete: bool,
) -> dict[str, Any]:
    return {
        **head,
        "complete": complete,
        "answered": len(rows),
        "scores": score(rows).to_json(),
        "rows": [r.to_json() | {"load_1m": load} for r, load in zip(rows, loads, strict=True)],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def _f(value: object, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(report: Mapping[str, Any]) -> None:
    s = report["scores"]
    print(
        f"{report['answered']} questions ({s['answerable']} answerable, {s['unanswerable']} "
        f"unanswerable) from {report['questions_file']}; {report['llm']}"
    )
    print(f"modes: {s['modes']}; errors: {s['errors']}")
    lines = [
        ("right and verified (facts, model's words, quote)", _f(s["fact_accuracy_verified"])),
        ("key-fact accuracy, model's own words", _f(s["fact_accuracy_own"])),
        ("key-fact accuracy, text shown", _f(s["fact_accuracy_shown"])),
        ("key-fact accuracy, extract answers alone", _f(s["fact_accuracy_extract"])),
        ("key facts in the evidence the model read", _f(s.get("fact_accuracy_read"))),
        ("verified quote on an expected page", _f(s["quote_location_recall"])),
        (
            "cited-location precision (all / model's)",
            f"{_f(s['location_precision'])} / {_f(s['location_precision_own'])}",
        ),
        ("cited-location recall", _f(s["location_recall"])),
        ("ALCE citation recall (claims backed)", _f(s["citation_recall"])),
        ("citations supported (model's)", _f(s["citation_support"])),
        ("refusal precision / recall", f"{_f(s['refusal_precision'])} / {_f(s['refusal_recall'])}"),
        ("answerable questions refused", _f(s["false_refusals"])),
        (
            "out-of-range citations (answers)",
            f"{s['out_of_range_citations']} ({s['answers_with_out_of_range']})",
        ),
        (
            "first token p50 / p95 ms",
            f"{_f(s['first_token_p50_ms'], 0)} / {_f(s['first_token_p95_ms'], 0)}",
        ),
        (
            f"first token within {FIRST_TOKEN_TARGET_MS / 1000:g} s",
            _f(s["first_token_within_target"]),
        ),
        (
            "LLM first token after retrieval p50 / p95 ms",
            f"{_f(s['llm_first_token_p50_ms'], 0)} / {_f(s['llm_first_token_p95_ms'], 0)}",
        ),
        ("total p50 / p95 ms", f"{_f(s['total_p50_ms'], 0)} / {_f(s['total_p95_ms'], 0)}"),
        (
            "prompt tokens p50 / p95",
            f"{_f(s['prompt_tokens_p50'], 0)} / {_f(s['prompt_tokens_p95'], 0)}",
        ),
        ("completion tokens/s p50", _f(s["tokens_per_s_p50"], 1)),
    ]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"  {name:<{width}}  {value}")
    print(f"prompt tokens: {report['prompt_tokens_method']}")
    header = (
        f"  {'kind':<16}{'n':>4}{'verified':>10}{'facts own':>11}{'facts shown':>13}"
        f"{'located':>9}{'refused':>9}{'1st tok p50':>13}"
    )
    print(header)
    for kind, k in s["by_kind"].items():
        print(
            f"  {kind:<16}{k['questions']:>4}{_f(k['fact_accuracy_verified']):>10}"
            f"{_f(k['fact_accuracy_own']):>11}"
            f"{_f(k['fact_accuracy_shown']):>13}{_f(k['location_recall']):>9}"
            f"{k['refused']:>9}{_f(k['first_token_p50_ms'], 0):>13}"
        )
    start, end = report["machine"]["load_average"], report["load_average_end"]
    print(
        f"load average: {start} at the start, {end} at the end ({report['machine']['cores']} cores)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answers", description=__doc__)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="an index folder to ask (the app's data dir); default: the shared PDFs, ingested "
        f"once into <workdir>/{INDEX_FOLDER}",
    )
    parser.add_argument("--pdfs", type=Path, default=shared_data_dir() / "pdfs")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--limit", type=int, default=0, help="N questions, taken across kinds")
    parser.add_argument("--kinds", default="", help="comma-separated kinds to ask")
    parser.add_argument("--ids", default="", help="comma-separated question ids to ask")
    parser.add_argument("--llm", default="local", help="local | none | an OpenAI-compatible URL")
    parser.add_argument("--llm-model", help="model name at --llm URL")
    parser.add_argument("--model-gguf", type=Path, help="serve this GGUF file as the local model")
    parser.add_argument(
        "--replay",
        type=Path,
        help="judge again the replies an earlier run's JSON recorded, with no model (its "
        "times say nothing of speed)",
    )
    parser.add_argument(
        "--json", "--out", dest="out", type=Path, default=DEFAULT_OUT, help="the JSON report"
    )
    args = parser.parse_args(argv)

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in {q.value for q in QuestionKind}]
    if unknown:
        parser.error(f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(QuestionKind)}")
    if args.limit < 0:
        parser.error(f"--limit must be >= 0, got {args.limit}")
    if args.model_gguf and not args.model_gguf.is_file():
        parser.error(f"--model-gguf {args.model_gguf} is not a file")
    if args.replay and not args.replay.is_file():
        parser.error(f"--replay {args.replay} is not a file")
    try:
        overrides = llm_settings(args.llm, args.llm_model)
    except ValueError as exc:
        parser.error(str(exc))
    cases = load_cases(args.questions)
    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    missing = sorted(set(ids) - {c.id for c in cases})
    if missing:
        parser.error(f"no question has the id(s) {', '.join(missing)}")
    cases = pick([c for c in cases if not ids or c.id in ids], args.limit, kinds)
    data_dir = args.data_dir or args.workdir / INDEX_FOLDER
    settings = Settings(data_dir=data_dir, **overrides)  # type: ignore[arg-type]
    started = machine()
    rt = build_runtime(settings)
    choice: LLMChoice | None = None
    try:
        if args.data_dir is None:
            if not args.pdfs.is_dir():
                parser.error(f"no PDF folder at {args.pdfs} (set --pdfs or RAG_SHARED_DATA)")
            stats = ensure_index(rt, args.pdfs)
        else:
            stats = index_stats(rt)
        rt.models.status(load=True)  # load the models before the clock starts, as `ask` does
        choice = (
            LLMChoice(ReplayLLM.from_run(args.replay), f"LLM: replies replayed from {args.replay}")
            if args.replay
            else connect_llm(settings, gguf=args.model_gguf)
        )
        log(choice.status)
        tokens = token_counter(choice)
        config = settings.retrieval
        head = {
            "questions_file": str(args.questions),
            "questions": len(cases),
            "llm": choice.status,
            "index": stats,
            "config": {
                k: str(v) if not isinstance(v, int | float | bool) else v
                for k, v in asdict(config).items()
            },
            "prompt_tokens_method": tokens.method,
            "first_token_target_ms": FIRST_TOKEN_TARGET_MS,
            "machine": started,
            "command": command_line("bench.answers", argv),
        }
        done: list[AnswerRow] = []
        loads: list[float] = []

        def progress(i: int, n: int, row: AnswerRow) -> None:
            done.append(row)
            loads.append(round(os.getloadavg()[0], 2))
            verdict = "refused" if row.refused else ("right" if row.correct_own else "-")
            log(
                f"[{i}/{n}] {row.id} ({row.kind}) {row.mode} {verdict}; first token "
                f"{_f(row.first_token_ms, 0)} ms, total {_f(row.total_ms, 0)} ms"
                + (f"; error {row.error}" if row.error else "")
            )
            # A long run on a shared machine can be stopped: what is done so far is kept.
            write_json(args.out, report_json(done, loads, head=head, complete=False))

        rows = run_answers(cases, rt, choice, config=config, tokens=tokens, progress=progress)
        report = report_json(rows, loads, head=head, complete=True)
    finally:
        if choice is not None:
            choice.close()
        rt.close()
    return publish(report, out=args.out, as_json=False, print_table=print_table)


if __name__ == "__main__":
    raise SystemExit(main())
