"""`ingest check`: compare the catalog, its keyword index and the vector store; repair what differs."""

from __future__ import annotations

import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from ragcore import library
from ragcore.catalog import (
    DocumentRecord,
    DocumentStatus,
    JobKind,
    JobRecord,
    JobStatus,
)
from ragcore.catalog.backend import CatalogBackend
from ragcore.catalog.integrity import ChunkRef, KeywordIndexState, catalog_integrity
from ragcore.collections import payload_collections, relabel
from ragcore.errors import CatalogCorrupt
from ragcore.files import FileStore, StoredEntry
from ragcore.stores.base import VectorStore
from ragcore.types import ChunkingParams, Strategy
from ragcore.uploads import human_size, stored_name


class ProblemKind(StrEnum):
    """A kind of difference `ingest check` finds, in the order a report lists them (the values
    are what ``--json`` prints)."""

    CATALOG_CORRUPT = "catalog_corrupt"
    CATALOG_DATABASE_CORRUPT = "catalog_database_corrupt"
    KEYWORD_INDEX = "keyword_index"
    CHUNKS_WITHOUT_DOCUMENT = "chunks_without_document"
    POINTS_WITHOUT_DOCUMENT = "points_without_document"
    POINTS_WITHOUT_CHUNK = "points_without_chunk"
    CHUNKS_WITHOUT_POINT = "chunks_without_point"
    POINT_PAYLOAD = "point_payload"
    POINT_COLLECTIONS = "point_collections"
    STRAY_POINTS = "stray_points"
    STUCK_DOCUMENT = "stuck_document"
    READY_WITHOUT_CHUNKS = "ready_without_chunks"
    CHUNK_COUNTS = "chunk_counts"
    THUMBNAILS_WITHOUT_DOCUMENT = "thumbnails_without_document"
    UPLOADS_WITHOUT_DOCUMENT = "uploads_without_document"


# What --repair does about each kind of problem.
REPAIRS = {
    ProblemKind.CATALOG_CORRUPT: "keep the damaged file aside, restore the newest sound backup (or start "
    "a new catalog) and queue the uploaded files it does not list",
    ProblemKind.CATALOG_DATABASE_CORRUPT: "change nothing: restore the PostgreSQL database from "
    "the server's own backups (pg_dump, or point-in-time recovery from its WAL archive)",
    ProblemKind.KEYWORD_INDEX: "rebuild the keyword index and its statistics from the chunk rows",
    ProblemKind.CHUNKS_WITHOUT_DOCUMENT: "delete those chunk rows",
    ProblemKind.POINTS_WITHOUT_DOCUMENT: "delete those points from the vector store",
    ProblemKind.POINTS_WITHOUT_CHUNK: "re-index the document",
    ProblemKind.CHUNKS_WITHOUT_POINT: "re-index the document",
    ProblemKind.POINT_PAYLOAD: "re-index the document",
    ProblemKind.POINT_COLLECTIONS: "rewrite the points' collection ids from the catalog",
    ProblemKind.STRAY_POINTS: "delete the points of the failed ingestion",
    ProblemKind.STUCK_DOCUMENT: "queue the document for ingestion again",
    ProblemKind.READY_WITHOUT_CHUNKS: "re-index the document",
    ProblemKind.CHUNK_COUNTS: "re-index the document",
    ProblemKind.THUMBNAILS_WITHOUT_DOCUMENT: "delete those thumbnail folders",
    ProblemKind.UPLOADS_WITHOUT_DOCUMENT: "delete those uploaded files",
}
# Differences inside one document: ingesting it again rewrites its points, then its chunks.
_REINDEX = frozenset(
    {
        ProblemKind.POINTS_WITHOUT_CHUNK,
        ProblemKind.CHUNKS_WITHOUT_POINT,
        ProblemKind.POINT_PAYLOAD,
        ProblemKind.STUCK_DOCUMENT,
        ProblemKind.READY_WITHOUT_CHUNKS,
        ProblemKind.CHUNK_COUNTS,
    }
)
_INDEXING_KINDS = (JobKind.INGEST, JobKind.REINDEX)
_UNREADABLE = frozenset({ProblemKind.CATALOG_CORRUPT, ProblemKind.CATALOG_DATABASE_CORRUPT})
_SAMPLE = 5
# An add stores its copy a moment before the catalog lists it, and a person's upload streams
# for seconds: younger files are not called stray.
UPLOAD_GRACE_SECONDS = 600.0


@dataclass(frozen=True)
class Problem:
    """One difference, in words, with the document it concerns (None: the whole library)."""

    kind: ProblemKind
    doc_id: str | None
    count: int
    detail: str

    @property
    def repair(self) -> str:
        return REPAIRS[self.kind]


@dataclass(frozen=True)
class CheckReport:
    """What `ingest check` found. ``clean`` when catalog, keyword index and store agree.

    ``notes`` say what is in progress and so left out of the comparison (documents with a
    queued or running job), and jobs whose worker has gone and that the next worker retries.
    """

    documents: int
    chunks: int
    keyword_rows: int
    points: int
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()
    busy: tuple[str, ...] = ()
    repaired: tuple[str, ...] = field(default_factory=tuple)

    @property
    def clean(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "clean": self.clean,
            "counts": {
                "documents": self.documents,
                "chunks": self.chunks,
                "keyword_rows": self.keyword_rows,
                "points": self.points,
            },
            "problems": [asdict(p) | {"repair": p.repair} for p in self.problems],
            "notes": list(self.notes),
            "busy": list(self.busy),
            "repaired": list(self.repaired),
        }


def check_library(
    catalog: CatalogBackend,
    store: VectorStore,
    *,
    thumbs_dir: Path | None = None,
    uploads_dir: Path | FileStore | None = None,
    now: float | None = None,
) -> CheckReport:
    """Compare every document's chunk rows, keyword entries and vector-store points.

    A document with a queued or running job is left out of the point comparison: its worker
    rewrites its points before its chunks, so they differ for a moment on purpose.

    >>> report = check_library(rt.catalog, rt.store, thumbs_dir=rt.thumbs_dir)
    >>> report.clean, [p.detail for p in report.problems]
    (True, [])
    """
    now = time.time() if now is None else now
    problems: list[Problem] = []
    notes: list[str] = []

    integrity = catalog_integrity(catalog)
    integrity.check_storage()  # raises CatalogCorrupt: nothing below can be trusted on a damaged file
    keywords = integrity.keyword_index_state()
    if not keywords.ok:
        problems.append(_keyword_problem(keywords))

    docs = {d.id: d for d in catalog.list_documents()}
    active = _active_jobs(catalog)
    busy = {
        doc_id for doc_id, jobs in active.items() if any(j.kind in _INDEXING_KINDS for j in jobs)
    }
    notes.extend(_stalled_notes(active, docs, now))

    refs = integrity.chunk_refs()
    counts = integrity.chunk_counts()
    memberships = catalog.memberships()
    by_doc: dict[str, set[str]] = defaultdict(set)
    for point_id, ref in refs.items():
        by_doc[ref.doc_id].add(point_id)
    for doc_id, point_ids in sorted(by_doc.items()):
        if doc_id not in docs:
            problems.append(
                Problem(
                    ProblemKind.CHUNKS_WITHOUT_DOCUMENT,
                    doc_id,
                    len(point_ids),
                    f"{len(point_ids)} chunk rows belong to document {doc_id[:12]}, "
                    "which is not in the library.",
                )
            )

    points_by_doc: dict[str, list[tuple[str, dict[str, object]]]] = defaultdict(list)
    total_points = 0
    for point in store.scroll():
        total_points += 1
        doc_id = str(point.payload.get("doc_id") or "")
        points_by_doc[doc_id].append((point.id, point.payload))

    for doc_id, points in sorted(points_by_doc.items()):
        if doc_id not in docs:
            problems.append(
                Problem(
                    ProblemKind.POINTS_WITHOUT_DOCUMENT,
                    doc_id or None,
                    len(points),
                    f"{len(points)} vector-store points belong to document "
                    f"{doc_id[:12] or '(none named)'}, which is not in the library.",
                )
            )

    for doc_id, doc in sorted(docs.items()):
        if doc_id in busy:
            continue
        problems.extend(
            _document_problems(
                doc,
                by_doc.get(doc_id, set()),
                points_by_doc.get(doc_id, []),
                refs,
                counts.get(doc_id, (0, 0)),
                has_job=doc_id in active,
            )
        )
        problems.extend(
            _collection_problems(doc, points_by_doc.get(doc_id, []), memberships.get(doc_id, ()))
        )

    if thumbs_dir is not None and thumbs_dir.is_dir():
        strays = sorted(p.name for p in thumbs_dir.iterdir() if p.is_dir() and p.name not in docs)
        if strays:
            problems.append(
                Problem(
                    ProblemKind.THUMBNAILS_WITHOUT_DOCUMENT,
                    None,
                    len(strays),
                    f"{len(strays)} thumbnail folders belong to no document "
                    f"({', '.join(s[:12] for s in strays[:_SAMPLE])}).",
                )
            )

    if uploads_dir is not None:
        problems.extend(stray_upload_problems(catalog, uploads_dir, now=now))

    if busy:
        names = ", ".join(docs[d].name for d in sorted(busy)[:_SAMPLE] if d in docs)
        notes.append(
            f"{len(busy)} documents are queued or being ingested ({names}); their points are "
            "compared once the worker has finished them."
        )
    return CheckReport(
        documents=len(docs),
        chunks=keywords.chunk_rows,
        keyword_rows=keywords.indexed_rows,
        points=total_points,
        problems=tuple(problems),
        notes=tuple(notes),
        busy=tuple(sorted(busy)),
    )


def _keyword_problem(state: KeywordIndexState) -> Problem:
    parts = []
    if state.missing_count:
        parts.append(f"{state.missing_count} chunk rows are missing from it")
    if state.extra_count:
        parts.append(f"{state.extra_count} of its entries belong to no chunk row")
    if state.stale_count:
        parts.append(f"{state.stale_count} of its entries do not match their chunk's text")
    if state.statistics:
        # BM25 reads these for every score: a drift changes rankings without any visible error.
        parts.append(
            f"the statistics every BM25 score reads disagree with its entries "
            f"({'; '.join(state.statistics)})"
        )
    if state.error and not parts:
        parts.append(f"its own integrity check failed ({state.error})")
    return Problem(
        ProblemKind.KEYWORD_INDEX,
        None,
        state.missing_count + state.extra_count + state.stale_count or 1,
        "The keyword (BM25) index is out of step with the chunks: " + "; ".join(parts) + ".",
    )


def _document_problems(
    doc: DocumentRecord,
    chunk_points: set[str],
    points: Sequence[tuple[str, dict[str, object]]],
    refs: dict[str, ChunkRef],
    counts: tuple[int, int],
    *,
    has_job: bool,
) -> list[Problem]:
    out: list[Problem] = []
    label = f"{doc.name} ({doc.id[:12]})"
    stored = {pid for pid, _ in points}
    extra = stored - chunk_points
    missing = chunk_points - stored
    if extra and not chunk_points and doc.status != DocumentStatus.READY:
        out.append(
            Problem(
                ProblemKind.STRAY_POINTS,
                doc.id,
                len(extra),
                f"{label} is {doc.status} with no chunks, yet has {len(extra)} points in the "
                "vector store, left by an ingestion that stopped while writing.",
            )
        )
    elif extra:
        out.append(
            Problem(
                ProblemKind.POINTS_WITHOUT_CHUNK,
                doc.id,
                len(extra),
                f"{label} has {len(extra)} vector-store points that match none of its chunks.",
            )
        )
    if missing:
        out.append(
            Problem(
                ProblemKind.CHUNKS_WITHOUT_POINT,
                doc.id,
                len(missing),
                f"{len(missing)} chunks of {label} have no point in the vector store, so "
                "meaning-based search cannot find them.",
            )
        )
    wrong = [
        pid
        for pid, payload in points
        if pid in chunk_points and not _payload_matches(payload, refs[pid])
    ]
    if wrong:
        out.append(
            Problem(
                ProblemKind.POINT_PAYLOAD,
                doc.id,
                len(wrong),
                f"{len(wrong)} points of {label} carry another document or chunk number "
                "than the catalog gives them.",
            )
        )
    if doc.status in (DocumentStatus.QUEUED, DocumentStatus.PROCESSING) and not has_job:
        out.append(
            Problem(
                ProblemKind.STUCK_DOCUMENT,
                doc.id,
                1,
                f"{label} is marked {doc.status}, but no job is queued or running for it.",
            )
        )
    if doc.status == DocumentStatus.READY:
        texts, images = counts
        if texts + images == 0:
            out.append(
                Problem(
                    ProblemKind.READY_WITHOUT_CHUNKS,
                    doc.id,
                    1,
                    f"{label} is marked ready but has no chunks, so nothing can find it.",
                )
            )
        elif (doc.chunks, doc.images) != (texts, images):
            out.append(
                Problem(
                    ProblemKind.CHUNK_COUNTS,
                    doc.id,
                    1,
                    f"{label} lists {doc.chunks} text and {doc.images} image chunks, but the "
                    f"catalog holds {texts} and {images}.",
                )
            )
    return out


def _collection_problems(
    doc: DocumentRecord, points: Sequence[tuple[str, dict[str, object]]], wanted: tuple[int, ...]
) -> list[Problem]:
    """Points whose collection ids are not the catalog's: a scoped question would miss them
    (or find them where they no longer belong). Left by a crash between the two writes."""
    stale = sum(1 for _, payload in points if payload_collections(payload) != wanted)
    if not stale:
        return []
    return [
        Problem(
            ProblemKind.POINT_COLLECTIONS,
            doc.id,
            stale,
            f"{stale} points of {doc.name} ({doc.id[:12]}) carry other collections than the "
            "catalog lists for it, so a question scoped to a collection may miss them.",
        )
    ]


def _payload_matches(payload: dict[str, object], ref: ChunkRef) -> bool:
    return payload.get("doc_id") == ref.doc_id and payload.get("chunk_no") == ref.chunk_no


def _active_jobs(catalog: CatalogBackend) -> dict[str, list[JobRecord]]:
    out: dict[str, list[JobRecord]] = defaultdict(list)
    for job in catalog.jobs(active_only=True, limit=100_000):
        out[job.doc_id].append(job)
    return out


def _stalled_notes(
    active: dict[str, list[JobRecord]], docs: dict[str, DocumentRecord], now: float
) -> list[str]:
    notes = []
    for jobs in active.values():
        for job in jobs:
            if job.status != JobStatus.RUNNING or job.lease_until is None or job.lease_until >= now:
                continue
            doc = docs.get(job.doc_id)
            what = doc.name if doc else job.doc_id[:12]
            notes.append(
                f"job {job.id} ({job.kind} of {what}) stopped at stage '{job.stage}' "
                f"{now - job.lease_until:.0f} s ago: its worker is gone, and the next worker "
                f"retries it (attempt {job.attempts + 1})."
            )
    return notes


def repair_library(
    catalog: CatalogBackend,
    store: VectorStore,
    report: CheckReport,
    *,
    default_params: ChunkingParams,
    thumbs_dir: Path | None = None,
    uploads_dir: Path | FileStore | None = None,
) -> list[str]:
    """Fix each problem of ``report``; returns what was done, one sentence per action.

    Differences inside a document are repaired by re-indexing it (its worker rewrites the
    store, then the catalog), so the result is the one a clean ingestion gives.
    """
    done: list[str] = []
    kinds = {p.kind for p in report.problems}
    integrity = catalog_integrity(catalog)
    if ProblemKind.KEYWORD_INDEX in kinds:
        integrity.rebuild_keyword_index()
        done.append("rebuilt the keyword index from the chunk rows")
    if ProblemKind.CHUNKS_WITHOUT_DOCUMENT in kinds:
        n = integrity.delete_chunks_without_document()
        done.append(f"deleted {n} chunk rows of documents that are not in the library")
    requeue: set[str] = set()
    for problem in report.problems:
        if problem.doc_id is None:
            continue
        if problem.kind == ProblemKind.POINTS_WITHOUT_DOCUMENT and catalog.get_document(
            problem.doc_id
        ):
            continue  # added since the check read the catalog: its points are wanted now
        if problem.kind in (ProblemKind.POINTS_WITHOUT_DOCUMENT, ProblemKind.STRAY_POINTS):
            store.delete_document(problem.doc_id)
            done.append(f"deleted {problem.count} points of document {problem.doc_id[:12]}")
        elif problem.kind == ProblemKind.POINT_COLLECTIONS:
            n = relabel(store, problem.doc_id, catalog.collection_ids_of(problem.doc_id))
            done.append(f"rewrote the collection ids of {n} points of {problem.doc_id[:12]}")
        elif problem.kind in _REINDEX:
            requeue.add(problem.doc_id)
    for doc_id in sorted(requeue):
        doc = catalog.get_document(doc_id)
        if doc is None:
            continue
        job = library.reindex(catalog, doc_id, _document_params(doc, default_params))
        done.append(f"queued {doc.name} ({doc_id[:12]}) for re-indexing (job {job.id})")
    if ProblemKind.THUMBNAILS_WITHOUT_DOCUMENT in kinds and thumbs_dir is not None:
        known = {d.id for d in catalog.list_documents()}
        removed = 0
        for folder in thumbs_dir.iterdir():
            if folder.is_dir() and folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        done.append(f"deleted {removed} thumbnail folders of documents that are not in the library")
    if ProblemKind.UPLOADS_WITHOUT_DOCUMENT in kinds and uploads_dir is not None:
        removed = remove_stray_uploads(catalog, uploads_dir)
        done.append(f"deleted {_files(removed)} that no document in the library reads")
    return done


def _document_params(doc: DocumentRecord, default: ChunkingParams) -> ChunkingParams:
    """The chunking the document was last asked for, so a repair does not change it."""
    try:
        return ChunkingParams(
            strategy=Strategy(doc.strategy) if doc.strategy else default.strategy,
            chunk_size=doc.chunk_size or default.chunk_size,
            overlap=default.overlap if doc.overlap is None else doc.overlap,
        )
    except ValueError:
        return default


def corrupt_report(error: CatalogCorrupt, *, backend: str = "sqlite") -> CheckReport:
    """What `ingest check` says of a catalog too damaged to compare anything in it.

    ``backend`` "postgresql": the database is the server's to restore, from its own backups;
    --repair replaces only a SQLite file.
    """
    kind = (
        ProblemKind.CATALOG_DATABASE_CORRUPT
        if backend == "postgresql"
        else ProblemKind.CATALOG_CORRUPT
    )
    return CheckReport(0, 0, 0, 0, problems=(Problem(kind, None, 1, str(error)),))


def describe(report: CheckReport) -> str:
    """The report as lines a person reads in a terminal."""
    lines = [
        f"catalog: {report.documents} documents, {report.chunks} chunks, "
        f"{report.keyword_rows} keyword-index rows; vector store: {report.points} points"
    ]
    if any(p.kind in _UNREADABLE for p in report.problems):
        lines = []  # it could not be counted
    for problem in report.problems:
        lines.append(f"  problem: {problem.detail}  (--repair will {problem.repair})")
    for note in report.notes:
        lines.append(f"  note: {note}")
    for action in report.repaired:
        lines.append(f"  repaired: {action}")
    if report.clean:
        lines.append("consistent: the catalog, the keyword index and the vector store agree.")
    else:
        n = len(report.problems)
        lines.append(
            f"{n} {'difference' if n == 1 else 'differences'} found; "
            "run `python -m ingest check --repair` to fix them."
        )
    return "\n".join(lines)


def stray_uploads(
    catalog: CatalogBackend, uploads_dir: Path | FileStore, *, now: float | None = None
) -> list[StoredEntry]:
    """Files of the uploads folder (or file store) no document reads: copies whose adding
    failed or whose document went without them, and temporary files of copies that never
    finished. Those younger than UPLOAD_GRACE_SECONDS may be an add in flight: left out."""
    cutoff = (time.time() if now is None else now) - UPLOAD_GRACE_SECONDS
    # By name, not by path: the catalog's paths may be relative to another working directory.
    kept = {stored_name(d.path) for d in catalog.list_documents()}
    files = library.file_store(uploads_dir)
    return [e for e in files.listing() if e.name not in kept and e.modified < cutoff]


def stray_upload_problems(
    catalog: CatalogBackend, uploads_dir: Path | FileStore, *, now: float | None = None
) -> list[Problem]:
    strays = stray_uploads(catalog, uploads_dir, now=now)
    if not strays:
        return []
    size = sum(e.size for e in strays)
    return [
        Problem(
            ProblemKind.UPLOADS_WITHOUT_DOCUMENT,
            None,
            len(strays),
            f"{_files(len(strays))} ({human_size(size)}) belong to no document "
            f"({', '.join(e.name[:12] for e in strays[:_SAMPLE])}).",
        )
    ]


def _files(n: int) -> str:
    return f"{n} uploaded file{'' if n == 1 else 's'}"


def remove_stray_uploads(catalog: CatalogBackend, uploads_dir: Path | FileStore) -> int:
    """Delete what stray_uploads finds now (the catalog is read again: an add may have landed)."""
    files = library.file_store(uploads_dir)
    removed = 0
    for entry in stray_uploads(catalog, files):
        files.delete(entry.key)  # a local copy cut short too: its key is its path
        removed += 1
    return removed
