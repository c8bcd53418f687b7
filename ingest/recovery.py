"""`ingest check --repair` on a damaged catalog: restore a backup or start anew, re-queue uploads."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from ingest.consistency import _document_params
from ragcore import library
from ragcore.catalog import Catalog
from ragcore.catalog.backend import CatalogBackend
from ragcore.catalog.backup import CatalogBackups
from ragcore.catalog.recovery import Salvage, restore, salvage, set_aside
from ragcore.runtime import Runtime, build_runtime, build_store, catalog_backups, chunking_params
from ragcore.settings import Settings
from ragcore.stores.base import VectorStore
from ragcore.types import ChunkingParams
from ragcore.uploads import stored_uploads


@dataclass(frozen=True)
class Replaced:
    """What replace_damaged_catalog did: where the damaged file went, which backup came back."""

    damaged: Path
    backup: Path | None
    salvage: Salvage
    actions: tuple[str, ...]


def replace_damaged_catalog(
    catalog_path: Path, backups: CatalogBackups, *, now: float | None = None
) -> Replaced:
    """Set the damaged catalog aside, then restore the newest sound backup or start an empty one.

    The store is not touched here; requeue_uploads brings the new catalog in line with the
    uploads folder once it is open, and the usual check then removes the points it does not list.

    >>> replaced = replace_damaged_catalog(settings.catalog_path, catalog_backups(settings))
    >>> replaced.backup  # None: no sound backup, the catalog starts empty
    """
    damaged = set_aside(catalog_path, time.time() if now is None else now)
    salvaged = salvage(damaged)
    actions = [f"kept the damaged catalog as {damaged}"]
    backup = backups.newest_sound()
    if backup is not None:
        restore(backup, catalog_path)
        actions.append(f"restored the catalog from the backup {backup}")
    else:
        with Catalog(catalog_path) as catalog:
            # The damaged file still names the model that answers (after a model switch it
            # is not the configured one): keep it, or its collection would look empty.
            if salvaged.active_space is not None:
                catalog.ensure_active_space(salvaged.active_space)
        actions.append(
            f"found no sound backup in {backups.folder}, so started a new, empty catalog"
        )
    if salvaged.documents:
        actions.append(
            f"read the names of {len(salvaged.documents)} documents from the damaged catalog"
        )
    return Replaced(damaged, backup, salvaged, tuple(actions))


def requeue_uploads(
    catalog: CatalogBackend,
    store: VectorStore,
    uploads_dir: Path,
    *,
    salvaged: Salvage,
    default_params: ChunkingParams,
) -> list[str]:
    """Bring a restored or new catalog in line with the uploads folder; returns what was done.

    Every upload the catalog does not list (added after the backup, or all of them in a new
    catalog) is registered and queued for ingestion. Its name comes from the damaged catalog
    if that row still reads, else from its points in the store, else it is listed as
    ``recovered-<id><suffix>``. A document whose upload is gone and that has no points was
    deleted after the backup was taken: it is removed.
    """
    done: list[str] = []
    uploads = {u.doc_id: u for u in stored_uploads(uploads_dir)}
    known = {d.id: d for d in catalog.list_documents()}
    for doc_id, upload in sorted(uploads.items()):
        if doc_id in known:
            continue
        old = salvaged.documents.get(doc_id)
        name = old.name if old is not None else _stored_name(store, doc_id)
        lost = name is None
        if name is None:
            name = f"recovered-{doc_id[:12]}{upload.path.suffix}"
        params = default_params if old is None else _document_params(old, default_params)
        added = library.register_upload(catalog, replace(upload, name=name), params)
        job = f" (job {added.job.id})" if added.job is not None else ""
        text = f"queued {name} ({doc_id[:12]}) for ingestion{job}: the catalog did not list it"
        if lost:
            text += "; its file name was lost with the damaged catalog"
        done.append(text)
    for doc_id, doc in sorted(known.items()):
        if doc_id in uploads or Path(doc.path).is_file() or store.count(doc_id):
            continue
        catalog.delete_document(doc_id)
        done.append(
            f"removed {doc.name} ({doc_id[:12]}) from the catalog: its upload and its points "
            "are gone (it was deleted after the backup was taken)"
        )
    return done


def _stored_name(store: VectorStore, doc_id: str) -> str | None:
    """The file name the document's points carry, if it has any."""
    for point in store.scroll(doc_id):
        name = point.payload.get("file_name")
        return name if isinstance(name, str) and name else None
    return None


def recover_catalog(settings: Settings) -> tuple[Runtime, list[str]]:
    """Replace the damaged catalog and re-queue the uploads; returns the open runtime and what
    was done. The caller runs the usual check and repair on it next.

    The store is opened first: while the app or a worker holds it, nothing is moved.
    """
    probe = build_store(settings)
    try:
        probe.count()  # raises StoreUnavailable when another process holds the store
    finally:
        probe.close()
    replaced = replace_damaged_catalog(settings.catalog_path, catalog_backups(settings))
    rt = build_runtime(settings)
    try:
        done = list(replaced.actions)
        done += requeue_uploads(
            rt.catalog,
            rt.store,
            settings.uploads_dir,
            salvaged=replaced.salvage,
            default_params=chunking_params(settings),
        )
    except BaseException:
        rt.close()
        raise
    return rt, done
