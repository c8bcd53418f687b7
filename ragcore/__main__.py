"""Command line for questions: ``search`` (retrieval with evidence), ``ask`` (a cited answer)
and ``source`` (a cited passage shown on its page: ragcore/sources/cli.py)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from ragcore.answering import Answer, hit_json
from ragcore.catalog import CollectionNotFound
from ragcore.catalog.backend import CatalogBackend
from ragcore.errors import RagError, disk_full_error, is_disk_full
from ragcore.retrieval import Retriever
from ragcore.retrieval_config import RetrievalConfig, RetrievalMode
from ragcore.runtime import build_answerer, build_runtime, connect_llm
from ragcore.scope import FILE_KINDS, Scope
from ragcore.settings import Settings
from ragcore.sources import cli as source_cli
from ragcore.types import Fusion, Hit

_DAY = 24 * 3600.0


def _evidence_line(hit: Hit) -> str:
    ev = hit.evidence
    parts = [f"fused #{ev.fused_rank} {ev.fused_score:.4f}"]
    if ev.bm25_rank:
        parts.append(f"bm25 #{ev.bm25_rank} {ev.bm25_score:.2f}")
    if ev.text_rank:
        parts.append(f"text #{ev.text_rank} {ev.text_score:.3f}")
    if ev.image_rank:
        parts.append(f"image #{ev.image_rank} {ev.image_score:.3f}")
    if ev.rerank_score is not None:
        parts.append(f"rerank {ev.rerank_score:.2f}")
    return " · ".join(parts)


def _print_hits(hits: Sequence[Hit]) -> None:
    for n, hit in enumerate(hits, start=1):
        snippet = " ".join(hit.text.split())[:220]
        print(f"[{n}] {hit.file_name}, {hit.where} ({hit.kind})  {_evidence_line(hit)}")
        print(f"    {snippet}")


def _timings(t: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.0f} ms" for k, v in t.items())


def _doc_ids(raw: str | None) -> list[str] | None:
    return [d.strip() for d in raw.split(",") if d.strip()] if raw else None


def _doc_id_list(raw: str) -> str:
    """``--docs`` as typed, once it names a document: an empty filter would search them all."""
    if not _doc_ids(raw):
        raise argparse.ArgumentTypeError(
            f"names no document id, got {raw!r}: give comma-separated ids "
            "(python -m ingest status lists them), or leave --docs out to search every document"
        )
    return raw


def _day(raw: str) -> float:
    """A YYYY-MM-DD date as seconds since the epoch, at midnight local time."""
    try:
        return datetime.strptime(raw, "%Y-%m-%d").timestamp()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {raw!r}") from exc


def _file_kind(raw: str) -> str:
    for kind in FILE_KINDS:
        if kind.lower() == raw.strip().lower():
            return kind
    raise argparse.ArgumentTypeError(f"unknown file type {raw!r}; one of: {', '.join(FILE_KINDS)}")


def _scope(args: argparse.Namespace, catalog: CatalogBackend) -> Scope:
    """The filters given on the command line; a collection that does not exist is an error."""
    collection = None
    if args.collection:
        found = catalog.get_collection(args.collection)
        if found is None:
            names = ", ".join(c.name for c in catalog.collections()) or "none yet"
            raise CollectionNotFound(
                f"no collection named {args.collection!r} (collections: {names}; "
                "python -m ingest collections lists them)"
            )
        collection = found.id
    docs = _doc_ids(args.docs)
    return Scope(
        collection=collection,
        doc_ids=tuple(docs) if docs else None,
        kinds=frozenset(args.type or ()),
        added_from=args.added_after,
        added_until=args.added_before + _DAY if args.added_before is not None else None,
    )


def _chosen(config: RetrievalConfig, args: argparse.Namespace) -> RetrievalConfig:
    """Settings' retrieval with the passage count and fusion given on the command line."""
    if args.k:
        config = replace(config, top_k=args.k)
    if args.fusion:
        config = replace(config, fusion=Fusion(args.fusion))
    return config


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    rt.models.status(load=True)  # load models before the clock starts: timings are per query
    config = _chosen(settings.retrieval, args)
    if args.mode:
        config = replace(config, mode=args.mode)
    if args.no_rerank:
        config = replace(config, rerank=False)
    result = Retriever(rt.catalog, rt.store, rt.models).run(
        args.question, config, scope=_scope(args, rt.catalog)
    )
    if args.json:
        print(
            json.dumps(
                {
                    "query": result.query,
                    "hits": [hit_json(h, n) for n, h in enumerate(result.hits, start=1)],
                    "timings_ms": result.timings,
                    "notes": list(result.notes),
                    "candidates": result.candidates,
                }
            )
        )
    else:
        _print_hits(result.hits)
        for note in result.notes:
            print(f"note: {note}")
        print(f"timings: {_timings(result.timings)}")
    rt.close()
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    rt.models.status(load=True)
    choice = connect_llm(settings)
    try:
        config = _chosen(settings.retrieval, args)
        stream = build_answerer(rt, choice).start(
            args.question, config=config, scope=_scope(args, rt.catalog)
        )
        if not args.json:
            for token in stream.tokens():
                print(token, end="", flush=True)
            print()
        answer = stream.result()
        if args.json:
            print(json.dumps(answer.to_json()))
        else:
            _print_answer_footer(answer, choice.status)
    finally:
        choice.close()
        rt.close()
    return 0


def _print_answer_footer(answer: Answer, llm_status: str) -> None:
    print()
    if answer.standalone_question != answer.question:
        print(f"(searched for: {answer.standalone_question})")
    for c in answer.citations:
        mark = "ok " if c.supported else "UNSUPPORTED"
        # The source's location ("sheet Q3, rows 12–40", "slide 4"), not only its page.
        source = answer.sources[c.number - 1] if 0 < c.number <= len(answer.sources) else None
        where = source.where if source is not None else f"page {c.page}"
        print(f"[{c.number}] {mark} {c.file_name}, {where} (support {c.support:.2f})")
    for s in answer.unsupported_sentences:
        print(f"unsupported: {s}")
    for note in answer.notes:
        print(f"note: {note}")
    print(llm_status)
    print(f"timings: {_timings(answer.timings)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ragcore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("search", cmd_search, "retrieve passages with their evidence"),
        ("ask", cmd_ask, "answer a question with checked citations"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("question")
        p.add_argument("--docs", type=_doc_id_list, help="comma-separated document ids to search")
        p.add_argument("--collection", metavar="NAME", help="search only this collection")
        p.add_argument(
            "--type",
            type=_file_kind,
            action="append",
            metavar="KIND",
            help=f"search only files of this type (repeatable): {', '.join(FILE_KINDS)}",
        )
        p.add_argument(
            "--added-after", type=_day, metavar="DATE", help="documents added on or after DATE"
        )
        p.add_argument(
            "--added-before", type=_day, metavar="DATE", help="documents added on or before DATE"
        )
        p.add_argument("--k", type=source_cli.positive_int, help="number of passages (at least 1)")
        p.add_argument("--fusion", choices=[f.value for f in Fusion])
        p.add_argument("--json", action="store_true")
        if name == "search":
            p.add_argument("--mode", choices=[m.value for m in RetrievalMode])
            p.add_argument("--no-rerank", action="store_true")
        p.set_defaults(func=func)
    source_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        return int(args.func(args, settings))
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:
        # A library that let a full disk through unnamed (qdrant's local mode, PIL).
        if not is_disk_full(exc):
            raise
        print(f"error: {disk_full_error(settings.data_dir)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
