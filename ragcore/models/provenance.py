"""Which weights made a vector: a fingerprint of a model's weight files, and per-space summaries."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ragcore.catalog.spaces import SpaceStatus
from ragcore.models.resolver import Resolved

if TYPE_CHECKING:
    from ragcore.catalog.backend import CatalogBackend

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".gguf")
HEAD_BYTES = 1024 * 1024  # enough to tell two weight files apart; reading it all would take seconds
FINGERPRINT_CHARS = 16

_cache: dict[tuple[object, ...], str] = {}
_cache_lock = threading.Lock()


def _weight_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in folder.rglob("*")
        if p.suffix in WEIGHT_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def weights_fingerprint(folder: Path) -> str:
    """sha256 over each weight file's relative name, size and first MiB, as 16 hex characters.

    Computed once per process for a folder whose files keep their names, sizes and times.
    A folder with no weight files is fingerprinted by its file names and sizes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"cannot fingerprint {folder}: not a folder")
    files = _weight_files(folder) or sorted(p for p in folder.rglob("*") if p.is_file())
    stats = tuple(
        (p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files
    )
    key = (str(folder.resolve()), stats)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    digest = hashlib.sha256()
    for path, (name, size, _) in zip(files, stats, strict=True):
        digest.update(f"{name}\0{size}\0".encode())
        with path.open("rb") as fh:
            digest.update(fh.read(HEAD_BYTES))
    value = digest.hexdigest()[:FINGERPRINT_CHARS]
    with _cache_lock:
        _cache[key] = value
    return value


def resolved_fingerprint(resolved: Resolved) -> str:
    """The fingerprint of a resolved model's folder (a hub download is found in the hub cache)."""
    folder = Path(resolved.location)
    if not folder.is_dir():
        from ragcore.models.resolver import hub_snapshot

        cached = hub_snapshot(resolved.model_id)
        if cached is None:
            return id_fingerprint(resolved.model_id)
        folder = cached
    return weights_fingerprint(folder)


def id_fingerprint(model_id: str) -> str:
    """For a model with no weight files to read (a test fake): a hash of its id, marked as such."""
    return "id-" + hashlib.sha256(model_id.encode()).hexdigest()[: FINGERPRINT_CHARS - 3]


def fingerprint_of(embedder: object) -> str:
    """An embedder's weights fingerprint; fakes without weights get one derived from their id."""
    value = getattr(embedder, "fingerprint", None)
    if isinstance(value, str) and value:
        return value
    return id_fingerprint(str(getattr(embedder, "model_id", type(embedder).__name__)))


# ── what the catalog says about model spaces ───────────────────────


@dataclass(frozen=True)
class SpaceUse:
    """One model space as a person sees it: which model, how many documents use it, its state."""

    space: str  # the collection its vectors live in ("" for documents of no known space)
    model_id: str
    fingerprint: str
    dim: int
    distance: str
    status: str  # active, building, retired, ... or "unregistered"
    documents: int
    chunks: int
    active: bool


@dataclass(frozen=True)
class DriftedDocument:
    """A document whose chunks were embedded with another model (or other weights) than the active one."""

    doc_id: str
    name: str
    model_id: str
    fingerprint: str
    reason: str


@dataclass(frozen=True)
class SpaceSummary:
    active_model: str | None
    active_space: str | None
    spaces: tuple[SpaceUse, ...]
    drifted: tuple[DriftedDocument, ...]
    pending: str | None  # a space being built by a re-embed job

    def to_json(self) -> dict[str, object]:
        from dataclasses import asdict

        return asdict(self)

    def lines(self) -> list[str]:
        """Plain text for the CLI and the system view."""
        out = []
        for s in self.spaces:
            mark = "*" if s.active else " "
            out.append(
                f"{mark} {s.status:<11} {s.model_id}  {s.dim}-d {s.distance}  "
                f"documents={s.documents} chunks={s.chunks}  weights={s.fingerprint or '?'}  "
                f"[{s.space or '-'}]"
            )
        for d in self.drifted:
            out.append(f"  ! {d.doc_id[:12]} {d.name}: {d.reason}")
        return out


def space_summary(catalog: CatalogBackend, active_model: str | None = None) -> SpaceSummary:
    """Per model space: how many documents and chunks use it; documents embedded with another model.

    ``active_model`` defaults to the catalog's active space's model. A document counts as drifted
    when any of its chunks was embedded with another model id, or with other weights than the
    active space's (same id, different fingerprint).

    >>> summary = space_summary(catalog)
    >>> [(s.model_id, s.documents) for s in summary.spaces], len(summary.drifted)
    ([('sentence-transformers/all-MiniLM-L6-v2', 12)], 0)
    """
    records = catalog.spaces()
    active = next((r for r in records if r.status == SpaceStatus.ACTIVE), None)
    pending = next((r for r in records if r.status == SpaceStatus.BUILDING), None)
    model = active_model or (active.model_id if active else None)
    usage = catalog.embedding_usage()  # (model, fingerprint) -> (documents, chunks)
    uses: list[SpaceUse] = []
    seen: set[tuple[str, str]] = set()
    for rec in records:
        if rec.status not in (SpaceStatus.ACTIVE, SpaceStatus.BUILDING, SpaceStatus.RETIRED):
            continue
        key = (rec.model_id, rec.fingerprint)
        docs, chunks = usage.get(key, (0, 0)) if rec.status != SpaceStatus.BUILDING else (0, 0)
        if rec.status != SpaceStatus.BUILDING:
            seen.add(key)
        uses.append(
            SpaceUse(
                rec.name,
                rec.model_id,
                rec.fingerprint,
                rec.dim,
                rec.distance,
                rec.status,
                docs,
                chunks,
                rec.status == SpaceStatus.ACTIVE,
            )
        )
    for (model_id, fingerprint), (docs, chunks) in sorted(usage.items()):
        if (model_id, fingerprint) not in seen:
            uses.append(
                SpaceUse(
                    "",
                    model_id,
                    fingerprint,
                    0,
                    "",
                    "unregistered",
                    docs,
                    chunks,
                    active is None and model_id == model,
                )
            )
    drifted = _drifted(catalog, model, active.fingerprint if active else None)
    return SpaceSummary(
        active_model=model,
        active_space=active.name if active else None,
        spaces=tuple(uses),
        drifted=tuple(drifted),
        pending=pending.name if pending else None,
    )


def _drifted(
    catalog: CatalogBackend, model: str | None, fingerprint: str | None
) -> Sequence[DriftedDocument]:
    if model is None:
        return []
    out = []
    names = {d.id: d.name for d in catalog.list_documents()}
    for doc_id, model_id, fp in catalog.document_embeddings():
        if model_id != model:
            reason = f"embedded with {model_id}, the active model is {model}"
        elif fingerprint and fp and fp != fingerprint:
            reason = f"embedded with other weights of {model_id} ({fp}, active {fingerprint})"
        else:
            continue
        out.append(DriftedDocument(doc_id, names.get(doc_id, doc_id[:12]), model_id, fp, reason))
    return out
