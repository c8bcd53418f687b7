"""Key facts in the retrieved passages against those in the evidence the model reads, per
evidence budget: `python -m bench.evidence --budgets 220,6,4 300,8,4`. No language model runs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.answers import DEFAULT_QUESTIONS, INDEX_FOLDER, ensure_index, gguf_token_counter
from bench.common import command_line, default_workdir, log, shared_data_dir
from ragcore.evaluation.answers import APPROX_TOKENS, load_cases
from ragcore.evaluation.evidence import evidence_recall
from ragcore.generation.evidence import EvidenceBudget, EvidenceSelector
from ragcore.passages import ReadPassages, passages_to_read
from ragcore.retrieval import Retriever
from ragcore.runtime import build_runtime
from ragcore.scope import Scope
from ragcore.settings import Settings
from ragcore.types import Hit


def parse_budget(text: str) -> EvidenceBudget:
    """``tokens,sentences,sources``, e.g. ``220,6,4``."""
    try:
        tokens, sentences, sources = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a budget is tokens,sentences,sources (e.g. 220,6,4), got {text!r}"
        ) from None
    try:
        return EvidenceBudget(tokens, sentences, sources)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.evidence", description=__doc__)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--pdfs", type=Path, default=shared_data_dir() / "pdfs")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument(
        "--budgets", nargs="+", type=parse_budget, default=[EvidenceBudget()], metavar="T,S,N"
    )
    parser.add_argument("--top-k", type=int, help="passages retrieved (default: the settings')")
    parser.add_argument(
        "--gguf", type=Path, help="count tokens with this model's tokenizer (else characters / 4)"
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)

    settings = Settings(data_dir=args.workdir / INDEX_FOLDER, local_llm=False)
    rt = build_runtime(settings)
    ensure_index(rt, args.pdfs)
    config = settings.retrieval
    if args.top_k:
        config = replace(config, top_k=args.top_k)
    cases = [c for c in load_cases(args.questions) if c.answerable]
    retriever = Retriever(rt.catalog, rt.store, rt.models, spaces=rt.spaces)
    # As the answerer reads them (``passages_to_read``).
    read: dict[str, ReadPassages] = {}
    for c in cases:

        def within(docs: tuple[str, ...], question: str = c.question) -> Sequence[Hit]:
            return retriever.run(question, config, scope=Scope(doc_ids=docs)).hits

        hits = retriever.run(c.question, config).hits
        read[c.id] = passages_to_read(c.question, hits, rt.catalog, within)
    passages = {case: r.hits for case, r in read.items()}
    named = {case: r.named for case, r in read.items()}
    log(f"{len(cases)} answerable questions, top {config.top_k} passages each")
    count = gguf_token_counter(args.gguf).count if args.gguf else APPROX_TOKENS.count
    unit = args.gguf.name if args.gguf else "chars/4"
    rows = []
    for budget in args.budgets:
        selector = EvidenceSelector(embedder=rt.evidence_embedder(), budget=budget)
        row = evidence_recall(cases, passages, selector, count, named)
        rows.append(row.to_json())
        print(
            f"budget {budget.tokens} tokens, {budget.sentences} sentences, {budget.sources} "
            f"sources: facts in passages {row.in_passages:.3f}, in evidence {row.in_evidence:.3f}"
            f"; evidence tokens ({unit}) p50 {row.tokens_p50} p95 {row.tokens_p95}"
        )
        print(f"  missing: {' '.join(row.missing)}")
    if args.json:
        report = {"command": command_line("bench.evidence", argv), "rows": rows}
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
