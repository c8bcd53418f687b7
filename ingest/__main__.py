"""Command line for ingestion: add, collections, worker, status, delete, reindex, reembed, check."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ingest.parsers.ocr import ocr_status
from ingest.reembed import cancel_reembed, start_reembed
from ingest.service import build_worker, parse_limits
from ingest.worker import JobOutcome
from ragcore import collections, library
from ragcore.catalog import Catalog, CollectionRecord, DocumentRecord, DocumentStatus, JobStatus
from ragcore.errors import (
    CatalogCorrupt,
    RagError,
    StoreUnavailable,
    disk_full_error,
    is_disk_full,
)
from ragcore.models.provenance import SpaceSummary, space_summary
from ragcore.runtime import Runtime, build_runtime, chunking_params
from ragcore.settings import Settings
from ragcore.sources.cache import PageCache, pages_dir
from ragcore.types import ChunkingParams, Strategy
from ragcore.uploads import display_name, has_undecodable_bytes, readable


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
        "pages_ocr": doc.pages_ocr,
        "chunks": doc.chunks,
        "images": doc.images,
        "strategy": doc.strategy,
        "chunk_size": doc.chunk_size,
        "overlap": doc.overlap,
        "embed_model": doc.embed_model,
        "error": doc.error,
        "warnings": doc.warnings.splitlines(),
        "created_at": doc.created_at,
        **extra,
    }


def _say(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    print(json.dumps(obj) if args.json else text, flush=True)


def _wait_for(rt: Runtime, job_ids: list[int], quiet: bool) -> None:
    """Run the jobs here, or, when the app holds the store, wait for its worker to run them.

    Only these jobs: a job another command queued (or left behind when it was killed) is for
    the app's worker or `ingest worker`, and never keeps this command waiting.
    """
    try:
        # Opens the store now: building a worker does not, and a job run without the store
        # would fail its document instead of leaving it to the app.
        rt.store.count()
    except StoreUnavailable as exc:
        if not quiet:
            print(
                f"{exc}\nWaiting for the app's worker to ingest the queued files…", file=sys.stderr
            )
        while any((j := rt.catalog.get_job(i)) is not None and j.active for i in job_ids):
            time.sleep(0.5)
        return
    build_worker(rt).run_until_idle(job_ids)


@dataclass(frozen=True)
class _Refused:
    """An argument of `add` that did not become a document, and why."""

    name: str
    error: str


def _add_one(
    rt: Runtime,
    raw: str,
    params: ChunkingParams,
    max_bytes: int,
    into: CollectionRecord | None = None,
) -> library.Added | _Refused:
    shown = readable(raw)  # bytes that are not UTF-8 cannot be printed or stored as they are
    path = Path(raw)
    try:
        if not path.is_file():
            hint = " (after `--` every argument is a file name)" if raw.startswith("-") else ""
            return _Refused(display_name(raw), f"{shown} is not a file{hint}")
        added = library.add_file(rt.catalog, rt.files, path, params, max_bytes=max_bytes)
        if into is not None:
            collections.add_documents(rt.catalog, rt.store, into, [added.document.id])
        return added
    except (OSError, RagError) as exc:
        return _Refused(display_name(raw), readable(str(exc)))
    except Exception as exc:  # one file's failure must not keep the others from being reported
        logging.getLogger(__name__).debug("adding %s failed", shown, exc_info=True)
        return _Refused(display_name(raw), f"{display_name(raw)} could not be added: {exc!r}")


def _report_added(args: argparse.Namespace, rt: Runtime, raw: str, added: library.Added) -> bool:
    """Print one added document's outcome; True when it is not in the library as asked."""
    note = None
    if has_undecodable_bytes(raw):
        note = (
            "its file name is not valid UTF-8; "
            "each undecodable byte is shown as \N{REPLACEMENT CHARACTER}"
        )
    doc = rt.catalog.get_document(added.document.id)
    if doc is None:  # deleted (in the app, or by `ingest delete`) before we report it
        gone = added.document
        error = "deleted from the library while it was being added"
        _say(
            args,
            doc_json(gone, status="deleted", error=error, duplicate=added.duplicate, note=note),
            f"{'deleted':<8} {gone.name}  id={gone.id[:12]}\n         {error}"
            + (f"\n         note: {note}" if note else ""),
        )
        return True
    dup = " (already in the library)" if added.duplicate else ""
    text = (
        f"{doc.status:<8} {doc.name}{dup}  id={doc.id[:12]} pages={doc.pages} "
        f"chunks={doc.chunks} images={doc.images}"
    )
    if doc.error:
        text += f"\n         {doc.error}"
    if note:
        text += f"\n         note: {note}"
    _say(args, doc_json(doc, duplicate=added.duplicate, note=note), text)
    return doc.status == DocumentStatus.FAILED


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    try:
        params = _params(args, settings)
        max_bytes = int(settings.max_file_mb * 1024 * 1024)
        into = rt.catalog.ensure_collection(args.collection) if args.collection else None
        entries = [(raw, _add_one(rt, raw, params, max_bytes, into)) for raw in args.paths]
        job_ids = [
            a.job.id for _, a in entries if isinstance(a, library.Added) and a.job is not None
        ]
        if args.wait and job_ids:
            _wait_for(rt, job_ids, quiet=args.json)
        refused = not_added = 0
        for raw, added in entries:
            if isinstance(added, _Refused):
                refused += 1
                _say(
                    args,
                    {"name": added.name, "status": DocumentStatus.FAILED, "error": added.error},
                    f"failed   {added.name}: {added.error}",
                )
            else:
                not_added += _report_added(args, rt, raw, added)
    finally:
        rt.close()
    # An argument that is no readable file is an error at once; a file that fails to ingest
    # is one only when we waited to see it.
    return 1 if refused or (not_added and args.wait) else 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    worker = build_worker(rt)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    where = rt.catalog.status().location  # the SQLite file, or the PostgreSQL server
    print(f"worker {worker.worker_id} serving {where}", file=sys.stderr, flush=True)
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
    spaces = _space_summary(rt, settings)
    drift = {d.doc_id: d.reason for d in spaces.drifted}
    if args.json:
        print(
            json.dumps(
                {
                    "documents": [doc_json(d, drift=drift.get(d.id)) for d in docs],
                    "spaces": spaces.to_json(),
                    "jobs": [
                        {
                            "id": j.id,
                            "doc_id": j.doc_id,
                            "kind": j.kind,
                            "status": j.status,
                            "stage": j.stage,
                            "progress": j.progress,
                        }
                        for j in jobs
                    ],
                    "counts": rt.catalog.counts(),
                    "store": settings.store,
                    "ocr": ocr_status(parse_limits(settings).ocr),
                }
            )
        )
    else:
        print(f"{len(docs)} documents in {settings.data_dir} (store: {settings.store})")
        for d in docs:
            line = f"  {d.status:<10} {d.id[:12]}  {d.name}  pages={d.pages} chunks={d.chunks} images={d.images} [{d.strategy}]"
            print(line + (f"\n             {d.error}" if d.error else ""))
            if d.id in drift:
                print(f"             ! {drift[d.id]}")
        for j in jobs:
            print(f"  job {j.id}: {j.kind} {j.doc_id[:12]} {j.status} {j.stage} {j.progress:.0%}")
        print(ocr_status(parse_limits(settings).ocr))
        print(f"model spaces (active model: {spaces.active_model or '-'}):")
        for line in spaces.lines():
            print(f"  {line}")
        if spaces.drifted:
            print(
                f"  {len(spaces.drifted)} document(s) embedded with another model than the active "
                "one: python -m ingest reembed --model <active model> brings them in line"
            )
    rt.close()
    return 0


def _space_summary(rt: Runtime, settings: Settings) -> SpaceSummary:
    """Spaces as the catalog records them; before any is registered, the configured model counts."""
    active = rt.catalog.active_space()
    return space_summary(rt.catalog, active.model_id if active else settings.text_model)


def cmd_reembed(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    try:
        router = rt.spaces
        if args.cancel:
            try:
                router.count()  # can this process open the store (or does the app hold it)?
                cancelled = cancel_reembed(rt.catalog, router)
            except StoreUnavailable:
                cancelled = cancel_reembed(rt.catalog)
            if cancelled is None:
                _say(args, {"cancelled": None}, "no re-embed in progress")
            else:
                _say(
                    args,
                    {"cancelled": cancelled.name, "status": cancelled.status},
                    f"cancelled the re-embed with {cancelled.model_id}; "
                    f"{router.active().model_id} stays active",
                )
            return 0
        if not args.model:
            raise SystemExit("reembed needs --model ID (or --cancel)")
        try:
            space, job = start_reembed(rt.catalog, router, rt.models, args.model)
        except ValueError as exc:  # the model already answers questions
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not args.json:
            print(
                f"re-embedding every chunk with {space.model_id} into {space.name} (job {job.id}); "
                f"{router.active().model_id} answers questions meanwhile",
                file=sys.stderr,
            )
        outcome = _run_reembed(rt, job.id, quiet=args.json) if args.wait else None
        final = rt.catalog.get_job(job.id) or job
        record = rt.catalog.get_space(space.name) or space
        result: dict[str, Any] = {
            "space": record.name,
            "model": record.model_id,
            "space_status": record.status,
            "job": final.id,
            "job_status": final.status,
            "progress": final.progress,
            "error": final.error,
            "report": outcome.reembed.to_json() if outcome and outcome.reembed else None,
        }
        text = f"{record.status:<9} {record.model_id} [{record.name}] job {final.id} {final.status}"
        if outcome and outcome.reembed:
            r = outcome.reembed
            text += (
                f": {r.embedded} chunks embedded, {r.reused} already there, "
                f"{r.images_copied} image vectors copied, {r.seconds:.1f} s"
            )
            if r.long_chunks:
                text += (
                    f"\n          {r.long_chunks} chunks are longer than {record.model_id} "
                    "reads (truncated when embedded); reindex them to re-chunk"
                )
        if final.error:
            text += f"\n          {final.error}"
        _say(args, result, text)
        return 1 if final.status == JobStatus.FAILED else 0
    finally:
        rt.close()


def _run_reembed(rt: Runtime, job_id: int, quiet: bool) -> JobOutcome | None:
    """Run the job here, or wait for the app's worker when the app holds the store."""
    try:
        rt.store.count()
    except StoreUnavailable as exc:
        if not quiet:
            print(f"{exc}\nWaiting for the app's worker to re-embed…", file=sys.stderr)
        while (j := rt.catalog.get_job(job_id)) is not None and j.active:
            time.sleep(0.5)
        return None
    outcomes = build_worker(rt).run_until_idle([job_id])
    return next((o for o in outcomes if o.job_id == job_id), None)


def _resolve_doc(rt: Runtime, prefix: str) -> DocumentRecord:
    matches = [d for d in rt.catalog.list_documents() if d.id.startswith(prefix)]
    if len(matches) != 1:
        raise SystemExit(
            f"{'no' if not matches else 'more than one'} document matches id {prefix!r}"
        )
    return matches[0]


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    rt = build_runtime(settings)
    try:
        doc = _resolve_doc(rt, args.doc_id)
        try:
            library.delete_document(
                rt.catalog,
                rt.store,
                doc.id,
                page_cache=PageCache(pages_dir(settings.data_dir)),
                files=rt.files,
            )
        except StoreUnavailable as exc:
            print(
                f"error: {exc}\nNothing was deleted: {doc.name} ({doc.id[:12]}) is still in the "
                "library. Delete it in the app, or again once the other process has finished.",
                file=sys.stderr,
            )
            return 2
        print(f"deleted {doc.name} ({doc.id[:12]})")
    finally:
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
    return 1 if doc.status == DocumentStatus.FAILED else 0


def cmd_collections(args: argparse.Namespace, settings: Settings) -> int:
    """List collections, or change one: create, rename, delete, add, remove, move."""
    rt = build_runtime(settings)
    try:
        catalog, store = rt.catalog, rt.store
        action = args.action or "list"
        if action == "create":
            made = catalog.create_collection(args.name)
            print(f"created collection {made.name!r}")
        elif action == "rename":
            renamed = catalog.rename_collection(args.name, args.new_name)
            print(f"renamed {args.name!r} to {renamed.name!r}")
        elif action == "delete":
            members = collections.delete_collection(catalog, store, args.name)
            print(f"deleted collection {args.name!r}; its {len(members)} document(s) stay")
        elif action in ("add", "remove"):
            target = catalog.require_collection(args.name)
            ids = [_resolve_doc(rt, prefix).id for prefix in args.doc_ids]
            change = collections.add_documents if action == "add" else collections.remove_documents
            changed = change(catalog, store, target, ids)
            verb = "added to" if action == "add" else "removed from"
            print(f"{len(changed)} document(s) {verb} {target.name!r}")
        elif action == "move":
            source = catalog.require_collection(args.source)
            target = catalog.require_collection(args.target)
            ids = [_resolve_doc(rt, prefix).id for prefix in args.doc_ids]
            moved = collections.move_documents(catalog, store, ids, source=source, target=target)
            print(f"{len(moved)} document(s) moved from {source.name!r} to {target.name!r}")
        if action != "list":
            return 0
        listed = catalog.collections()
        if args.json:
            membership = catalog.memberships()
            print(
                json.dumps(
                    [
                        {
                            "id": c.id,
                            "name": c.name,
                            "documents": c.documents,
                            "doc_ids": sorted(d for d, ids in membership.items() if c.id in ids),
                            "created_at": c.created_at,
                        }
                        for c in listed
                    ]
                )
            )
        elif not listed:
            print("no collections yet: python -m ingest add --collection NAME FILE… makes one")
        for c in listed if not args.json else ():
            print(f"  {c.name}  ({c.documents} document{'s' if c.documents != 1 else ''})")
    finally:
        rt.close()
    return 0


def _catalog_lost(rt: Runtime, uploads: Path) -> bool:
    """The catalog lists no document while uploaded files remain: it was emptied or lost."""
    from ragcore.uploads import stored_uploads

    return not rt.catalog.list_documents() and any(True for _ in stored_uploads(uploads))


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.consistency import check_library, corrupt_report, describe, repair_library
    from ingest.recovery import recover_catalog, requeue_uploads
    from ragcore.catalog.recovery import Salvage

    recovered: list[str] = []  # what replacing a damaged catalog did
    try:
        rt = build_runtime(settings)
    except CatalogCorrupt as exc:
        if _on_postgres(settings):
            return _damaged_database(args, exc)
        if not args.repair:
            report = corrupt_report(exc)
            print(json.dumps(report.to_json()) if args.json else describe(report))
            return 1
        if not args.json:
            print(describe(corrupt_report(exc)), end="\n\n")
        rt, recovered = recover_catalog(settings)
    try:
        uploads = settings.uploads_dir
        on_sqlite = isinstance(rt.catalog, Catalog)
        # On PostgreSQL, thumbnails are rows that go with their document (a foreign key): there
        # is no folder of them to look through.
        thumbs = rt.thumbs_dir if on_sqlite else None
        if args.repair and not recovered and on_sqlite and _catalog_lost(rt, uploads):
            # An emptied or deleted catalog opens as a new, empty one: its uploads and points
            # are the library, not strays to delete. Register and re-ingest them first. (On
            # PostgreSQL the uploads are in the catalog's database: they go with it.)
            recovered = requeue_uploads(
                rt.catalog,
                rt.store,
                uploads,
                salvaged=Salvage(),
                default_params=chunking_params(settings),
            )
        try:
            report = check_library(rt.catalog, rt.store, thumbs_dir=thumbs, uploads_dir=rt.files)
            if args.repair and (recovered or not report.clean):
                done = recovered + repair_library(
                    rt.catalog,
                    rt.store,
                    report,
                    default_params=chunking_params(settings),
                    thumbs_dir=thumbs,
                    uploads_dir=rt.files,
                )
                before = report
                report = check_library(
                    rt.catalog, rt.store, thumbs_dir=thumbs, uploads_dir=rt.files
                )
                report = replace(report, repaired=tuple(done))
                if not args.json and not before.clean:
                    print(describe(before), end="\n\n")
        except CatalogCorrupt as exc:
            if on_sqlite:
                raise
            return _damaged_database(args, exc)  # a read met a damaged page of the server's
        print(json.dumps(report.to_json()) if args.json else describe(report))
    finally:
        rt.close()
    return 0 if report.clean else 1


def _on_postgres(settings: Settings) -> bool:
    from ragcore.catalog.factory import POSTGRES_SCHEMES

    return settings.catalog_url.get_secret_value().startswith(POSTGRES_SCHEMES)


def _damaged_database(args: argparse.Namespace, error: CatalogCorrupt) -> int:
    """A PostgreSQL catalog reported damaged data: say so; --repair does not touch it."""
    from ingest.consistency import corrupt_report, describe

    report = corrupt_report(error, backend="postgresql")
    print(json.dumps(report.to_json()) if args.json else describe(report))
    if args.repair:
        print(
            "ingest check --repair restores only a SQLite catalog file; restore a PostgreSQL "
            "catalog from the server's own backups (pg_dump, or point-in-time recovery from its "
            "WAL archive), then run ingest check again",
            file=sys.stderr,
        )
    return 1


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
    add.add_argument(
        "--collection", metavar="NAME", help="put them in this collection (made if new)"
    )
    chunk_opts(add)
    add.set_defaults(func=cmd_add)

    named = sub.add_parser(
        "collections", help="list collections, or create, rename, delete one, or change members"
    )
    named.add_argument("--json", action="store_true")
    named.set_defaults(func=cmd_collections, action=None)
    actions = named.add_subparsers(dest="action")
    actions.add_parser("list", help="every collection with its document count")
    actions.add_parser("create", help="a new, empty collection").add_argument("name")
    rename = actions.add_parser("rename", help="rename a collection")
    rename.add_argument("name")
    rename.add_argument("new_name")
    actions.add_parser("delete", help="forget a collection (its documents stay)").add_argument(
        "name"
    )
    for verb, text in (("add", "put documents in"), ("remove", "take documents out of")):
        member = actions.add_parser(verb, help=f"{text} a collection (ids or id prefixes)")
        member.add_argument("name")
        member.add_argument("doc_ids", nargs="+")
    move = actions.add_parser("move", help="move documents from one collection to another")
    move.add_argument("source")
    move.add_argument("target")
    move.add_argument("doc_ids", nargs="+")

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

    reembed = sub.add_parser(
        "reembed",
        help="switch the embedding model: re-embed every chunk into a new space, then switch",
    )
    reembed.add_argument("--model", help="hub id or folder of the new text model")
    reembed.add_argument("--cancel", action="store_true", help="stop the re-embed in progress")
    reembed.add_argument("--wait", action="store_true", help="run it now and report the outcome")
    reembed.add_argument("--json", action="store_true")
    reembed.set_defaults(func=cmd_reembed)

    check = sub.add_parser(
        "check", help="compare the catalog, keyword index and vector store (exit 1 if they differ)"
    )
    check.add_argument("--repair", action="store_true", help="fix what differs")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)
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
    except (OSError, sqlite3.Error) as exc:
        # A library that let a full disk through unnamed (qdrant's local mode, PIL).
        if not is_disk_full(exc):
            raise
        print(f"error: {disk_full_error(settings.data_dir)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
