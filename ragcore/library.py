"""Library operations shared by the UI and the CLIs: add, delete, re-index documents."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ragcore.catalog import DocumentRecord, DocumentStatus, JobKind, JobRecord
from ragcore.catalog.backend import CatalogBackend
from ragcore.files import FileStore, LocalFileStore, put_file
from ragcore.sources.cache import PageCache
from ragcore.stores.base import VectorStore
from ragcore.types import ChunkingParams, Strategy
from ragcore.uploads import StoredUpload, stored_name


@dataclass(frozen=True)
class Added:
    document: DocumentRecord
    job: JobRecord | None  # None when the same content was already in the library and ready
    duplicate: bool


def _params_dict(params: ChunkingParams, name: str) -> dict[str, object]:
    return {
        "strategy": str(params.strategy),
        "chunk_size": params.chunk_size,
        "overlap": params.overlap,
        # The file's name stays with its job, so a job outliving its document (deleted while
        # queued) is still listed by name rather than by a hash.
        "name": name,
    }


def job_file_name(job: JobRecord, names: Mapping[str, str]) -> str:
    """The name of the file a job works on: its document's, or the one the job kept.

    ``names`` maps document ids to names (the documents that still exist).

    >>> job_file_name(job, {})   # the document was deleted
    'report.pdf (deleted)'
    """
    if job.doc_id in names:
        return names[job.doc_id]
    kept = job.params.get("name")
    return f"{kept} (deleted)" if isinstance(kept, str) and kept else "a deleted document"


def file_store(files: FileStore | Path) -> FileStore:
    """``files`` itself, or for a folder the local store of uploads there (the embedded default)."""
    return LocalFileStore(files) if isinstance(files, Path) else files


def register_upload(
    catalog: CatalogBackend,
    upload: StoredUpload,
    params: ChunkingParams,
    *,
    files: FileStore | None = None,
) -> Added:
    """Record an upload and queue its ingestion; the same content twice is one document.

    If the catalog refuses the upload, its copy is removed again from ``files`` (the store that
    holds it; None: the local folder its key names): no bytes are kept for a document that does
    not exist.
    """
    held = files or LocalFileStore(Path())
    try:
        return _register(catalog, upload, params, held)
    except BaseException:
        _discard_unused(catalog, upload, held)
        raise


def _register(
    catalog: CatalogBackend, upload: StoredUpload, params: ChunkingParams, files: FileStore
) -> Added:
    now = time.time()
    record = DocumentRecord(
        id=upload.doc_id,
        name=upload.name,
        mime="",
        size_bytes=upload.size,
        path=upload.key,
        pages=0,
        pages_without_text=0,
        chunks=0,
        images=0,
        status=DocumentStatus.QUEUED,
        error=None,
        strategy=str(params.strategy),
        chunk_size=params.chunk_size,
        overlap=params.overlap,
        embed_model=None,
        created_at=now,
        updated_at=now,
    )
    doc, created = catalog.upsert_document(record)
    if not created and doc.status in (
        DocumentStatus.READY,
        DocumentStatus.QUEUED,
        DocumentStatus.PROCESSING,
    ):
        # The same content under another suffix is a second file the document never reads.
        if stored_name(doc.path) != stored_name(upload.key):
            files.delete(upload.key)
        active = catalog.jobs(doc_id=doc.id, active_only=True)
        return Added(doc, active[0] if active else None, duplicate=True)
    if not created:  # a failed document uploaded again: try once more
        catalog.set_document_status(doc.id, DocumentStatus.QUEUED, error=None, path=upload.key)
        if stored_name(doc.path) != stored_name(upload.key):
            files.delete(doc.path)
    job = catalog.enqueue(doc.id, JobKind.INGEST, _params_dict(params, doc.name))
    return Added(catalog.get_document(doc.id) or doc, job, duplicate=not created)


def _discard_unused(catalog: CatalogBackend, upload: StoredUpload, files: FileStore) -> None:
    try:
        doc = catalog.get_document(upload.doc_id)
    except Exception:  # the catalog cannot say: keep the file, `ingest check` finds it later
        return
    if doc is None or stored_name(doc.path) != stored_name(upload.key):
        files.delete(upload.key)


def add_file(
    catalog: CatalogBackend,
    files: FileStore | Path,
    path: Path,
    params: ChunkingParams,
    *,
    max_bytes: int | None = None,
) -> Added:
    """Copy a file into the library and queue it; one over ``max_bytes`` is refused uncopied.

    ``files``: the runtime's file store (``rt.files``), or a folder for the local one there.
    """
    store = file_store(files)
    upload = put_file(store, path, max_bytes=max_bytes)
    return register_upload(catalog, upload, params, files=store)


def add_bytes(
    catalog: CatalogBackend,
    files: FileStore | Path,
    name: str,
    blocks: Iterable[bytes],
    params: ChunkingParams,
    *,
    max_bytes: int | None = None,
) -> Added:
    """Stream an upload into the library and queue it; past ``max_bytes`` nothing is kept."""
    store = file_store(files)
    upload = store.put(name, blocks, max_bytes=max_bytes)
    return register_upload(catalog, upload, params, files=store)


def reindex(catalog: CatalogBackend, doc_id: str, params: ChunkingParams) -> JobRecord:
    doc = catalog.get_document(doc_id)
    if doc is None:
        raise KeyError(f"no document with id {doc_id}")
    catalog.set_document_status(doc_id, DocumentStatus.QUEUED, error=None)
    return catalog.enqueue(doc_id, JobKind.REINDEX, _params_dict(params, doc.name))


def retry(catalog: CatalogBackend, doc_id: str, default: ChunkingParams) -> JobRecord:
    """Queue a failed document's ingestion again, with the chunking it was added with.

    ``default`` fills in what the document does not record. Raises KeyError for an unknown
    document and ValueError for one that has not failed (it is ready or being indexed).
    """
    doc = catalog.get_document(doc_id)
    if doc is None:
        raise KeyError(f"no document with id {doc_id}")
    if doc.status != DocumentStatus.FAILED:
        raise ValueError(f"{doc.name} has not failed (it is {doc.status}); nothing to retry")
    params = ChunkingParams(
        strategy=Strategy(doc.strategy) if doc.strategy else default.strategy,
        chunk_size=doc.chunk_size if doc.chunk_size is not None else default.chunk_size,
        overlap=doc.overlap if doc.overlap is not None else default.overlap,
    )
    catalog.set_document_status(doc_id, DocumentStatus.QUEUED, error=None)
    return catalog.enqueue(doc_id, JobKind.INGEST, _params_dict(params, doc.name))


def delete_document(
    catalog: CatalogBackend,
    store: VectorStore,
    doc_id: str,
    *,
    page_cache: PageCache | None = None,
    files: FileStore | None = None,
) -> bool:
    """Remove a document everywhere; the catalog goes first so no answer can cite it meanwhile.

    The store is opened before anything changes: when another process holds it (the embedded
    store admits one), StoreUnavailable is raised and the document is left whole, never half
    deleted. ``page_cache``: where its rendered pages are kept (ragcore.sources), emptied too.
    ``files``: the store holding its uploaded file (None: the local folder its path names).
    """
    store.count()  # opens it; counting everything is a cheap mask, one document's a payload scan
    doc = catalog.get_document(doc_id)
    existed = catalog.delete_document(doc_id)
    store.delete_document(doc_id)
    if doc is not None and doc.path:
        # Another document cannot share the file: the name is the content's hash.
        (files or LocalFileStore(Path())).delete(doc.path)
    if page_cache is not None:
        page_cache.forget(doc_id)
    return existed
