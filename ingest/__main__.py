"""Command line for ingestion: add, worker, status, delete, reindex, check."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.service import build_worker
from ragcore import library
from ragcore.catalog import DocumentRecord
from ragcore.errors import RagError, StoreUnavailable
from ragcore.runtime import Runtime, build_runtime, chunking_params
from ragcore.settings import Settings
from ragcore.types import ChunkingParams, Strategy


def _params(args: argparse.Namespace, settings: Settings) -> ChunkingParams:
    return chunking_params(
        settings,
        strategy=Strategy(args.strategy) if args.strategy else None,
        chunk_size=args.chunk_size,
        overlap=args.overlap,
    )


def doc_json(doc: DocumentRecord, **extra: object) -> dict[str, Any]:
    return {
        "id": doc.id,
        "name": doc.name,
        "status": doc.status,
        "type": doc.mime,
        "size_bytes": doc.size_bytes,
        "pages": doc.pages,
        "pages_without_text": doc.pages_without_text,
        "chunks": doc.chunks,
        "images": doc.images,
        "strategy": doc.strategy,
        "chunk_size": doc.chunk_size,
        "overlap": doc.overlap,
        "embed_model": doc.embed_model,
        "error": doc.error,
        "created_at": doc.created_at,
        **extra,
    }


def _say(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    print(json.dumps(obj) if args.json else text, flush=True)


def _wait_for(rt: Runtime, job_ids: list[int], quiet: bool) -> None:
    """Run the jobs here, or, when the app holds the store, wait for its worker to run them."""
    try:
        worker = build_worker(rt)
    except StoreUnavailable as exc:
        if not quiet:
            print(f"{exc}\nWaiting for the app's worker to ingest the queued files…", file=sys.stderr)
        while any(
            (j := rt.catalog.get_job(i)) is not None and j.status in ("queued", "running")
            for i in job_ids
        ):
            time.sleep(0.5)
        return
    worker.run_until_idle(job_ids)


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    params = _params(args, settings)
    entries: list[tuple[str, Any]] = []  # (name, Added or error text)
    for raw in args.paths:
        path = Path(raw)
        try:
            if not path.is_file():
                raise FileNotFoundError(f"{raw} is not a file")
            entries.append((path.name, library.add_file(rt.catalog, settings.uploads_dir, path, params)))
        except (OSError, RagError) as exc:
            entries.append((path.name, str(exc)))
    job_ids = [a.job.id for _, a in entries if not isinstance(a, str) and a.job is not None]
    if args.wait and job_ids:
        _wait_for(rt, job_ids, quiet=args.json)
    failed = 0
    for name, added in entries:
        if isinstance(added, str):
            failed += 1
            _say(args, {"name": name, "status": "failed", "error": added}, f"failed  {name}: {added}")
            continue
        doc = rt.catalog.get_document(added.document.id) or added.document
        failed += doc.status == "failed"
        note = " (already in the library)" if added.duplicate else ""
        text = f"{doc.status:<8} {doc.name}{note}  id={doc.id[:12]} pages={doc.pages} chunks={doc.chunks} images={doc.images}"
        if doc.error:
            text += f"\n         {doc.error}"
        _say(args, doc_json(doc, duplicate=added.duplicate), text)
    rt.close()
    return 1 if (failed and args.wait) else 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    worker = build_worker(rt)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"worker {worker.worker_id} serving {settings.catalog_path}", file=sys.stderr, flush=True)
    if args.once:
        worker.run_until_idle()
    else:
        worker.run_forever(stop)
    rt.close()
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    docs = rt.catalog.list_documents()
    jobs = rt.catalog.jobs(active_only=True)
    if args.json:
        print(
            json.dumps(
                {
                    "documents": [doc_json(d) for d in docs],
                    "jobs": [
                        {"id": j.id, "doc_id": j.doc_id, "kind": j.kind, "status": j.status,
                         "stage": j.stage, "progress": j.progress}
                        for j in jobs
                    ],
                    "counts": rt.catalog.counts(),
                    "store": settings.store,
                }
            )
        )
    else:
        print(f"{len(docs)} documents in {settings.data_dir} (store: {settings.store})")
        for d in docs:
            line = f"  {d.status:<10} {d.id[:12]}  {d.name}  pages={d.pages} chunks={d.chunks} images={d.images} [{d.strategy}]"
            print(line + (f"\n             {d.error}" if d.error else ""))
        for j in jobs:
            print(f"  job {j.id}: {j.kind} {j.doc_id[:12]} {j.status} {j.stage} {j.progress:.0%}")
    rt.close()
    return 0


def _resolve_doc(rt: Runtime, prefix: str) -> DocumentRecord:
    matches = [d for d in rt.catalog.list_documents() if d.id.startswith(prefix)]
    if len(matches) != 1:
        raise SystemExit(f"{'no' if not matches else 'more than one'} document matches id {prefix!r}")
    return matches[0]


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    doc = _resolve_doc(rt, args.doc_id)
    library.delete_document(rt.catalog, rt.store, doc.id)
    print(f"deleted {doc.name} ({doc.id[:12]})")
    rt.close()
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    doc = _resolve_doc(rt, args.doc_id)
    job = library.reindex(rt.catalog, doc.id, _params(args, settings))
    if args.wait:
        _wait_for(rt, [job.id], quiet=args.json)
    doc = rt.catalog.get_document(doc.id) or doc
    _say(args, doc_json(doc), f"{doc.status:<8} {doc.name} chunks={doc.chunks} [{doc.strategy}]")
    rt.close()
    return 1 if doc.status == "failed" else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def chunk_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--strategy", choices=[s.value for s in Strategy])
        p.add_argument("--chunk-size", type=int, help="tokens of the embedding model")
        p.add_argument("--overlap", type=int, help="tokens (fixed, recursive) or sentences")
        p.add_argument("--wait", action="store_true", help="ingest now and report the outcome")
        p.add_argument("--json", action="store_true", help="one JSON object per document")

    add = sub.add_parser("add", help="add files to the library and queue their ingestion")
    add.add_argument("paths", nargs="+")
    chunk_opts(add)
    add.set_defaults(func=cmd_add)

    worker = sub.add_parser("worker", help="run queued ingestion jobs")
    worker.add_argument("--once", action="store_true", help="stop when the queue is empty")
    worker.set_defaults(func=cmd_worker)

    status = sub.add_parser("status", help="documents and active jobs")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    delete = sub.add_parser("delete", help="remove a document from every index")
    delete.add_argument("doc_id")
    delete.set_defaults(func=cmd_delete)

    reindex = sub.add_parser("reindex", help="re-chunk and re-embed a document")
    reindex.add_argument("doc_id")
    chunk_opts(reindex)
    reindex.set_defaults(func=cmd_reindex)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        return int(args.func(args, settings))
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
