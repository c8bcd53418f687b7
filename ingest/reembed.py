"""Switching the embedding model without downtime: re-embed stored chunk text into a new space."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

from ingest.pipeline import JobLost, ProgressFn, collection_dims
from ingest.writer import MadeBy, chunk_point
from ragcore.catalog import (
    ChunkRow,
    DocumentRecord,
    JobKind,
    JobRecord,
    JobStage,
    JobStatus,
    SpaceBusy,
    SpaceRecord,
    SpaceStatus,
)
from ragcore.catalog.backend import CatalogBackend
from ragcore.errors import CapacityExceeded, IngestError
from ragcore.models.base import TextEmbedder
from ragcore.models.loader import Models
from ragcore.models.provenance import fingerprint_of
from ragcore.spaces import SpaceRouter, check_model_fits, distance_of, space_name
from ragcore.stores.base import VectorStore
from ragcore.types import IMAGE_SPACE, TEXT_SPACE, ChunkingParams, ChunkKind, Point, Strategy

log = logging.getLogger(__name__)

EMBED_BATCH = 64
# Rounds of "embed what is missing, then try to switch": each round covers what the library
# gained meanwhile, so this only runs out when documents keep arriving faster than we embed.
MAX_ROUNDS = 20
JOB_PREFIX = "space:"  # a re-embed job's doc_id names its space, not a document


@dataclass(frozen=True)
class ReembedReport:
    """What one run of a re-embed job did."""

    space: str
    model_id: str
    chunks: int  # in the catalog when the space was switched to
    embedded: int  # embedded by this run
    reused: int  # already in the new space from an earlier, interrupted run
    images_copied: int
    long_chunks: int  # longer than the new model's limit (truncated when embedded)
    switched: bool
    dropped: tuple[str, ...]  # collections of retired spaces removed after the switch
    seconds: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def job_space(job: JobRecord) -> str:
    name = str(job.params.get("space") or job.doc_id.removeprefix(JOB_PREFIX))
    if not name:
        raise IngestError(f"re-embed job {job.id} does not name its model space")
    return name


def start_reembed(
    catalog: CatalogBackend, router: SpaceRouter, models: Models, model_id: str
) -> tuple[SpaceRecord, JobRecord]:
    """Register the space ``model_id`` will fill and queue its job (or the running one's).

    Loads the model once to learn its size, distance and weights. Raises ValueError when the
    model already answers questions with these weights, SpaceBusy while another re-embed runs.
    """
    active = router.active()
    text = models.text_for(model_id)
    fingerprint = fingerprint_of(text)
    if text.model_id == active.model_id and fingerprint == active.fingerprint:
        raise ValueError(
            f"{model_id} (weights {fingerprint}) already answers questions; nothing to re-embed"
        )
    pending = catalog.pending_space()
    if pending is not None and pending.model_id == model_id and pending.fingerprint == fingerprint:
        name = pending.name  # resume it
    else:
        name = _free_name(catalog, space_name(router.default_collection, model_id, text.dim))
    record = catalog.begin_space(
        SpaceRecord(
            name=name,
            model_id=model_id,
            fingerprint=fingerprint,
            dim=text.dim,
            distance=distance_of(text),
            image_dim=active.image_dim,
            status=SpaceStatus.BUILDING,
        )
    )
    job = catalog.enqueue(JOB_PREFIX + name, JobKind.REEMBED, {"space": name, "model": model_id})
    catalog.update_space(name, job_id=job.id)
    return record, job


def _free_name(catalog: CatalogBackend, name: str) -> str:
    """``name``, or ``name_r2``, ``name_r3``… when a live space already uses it."""
    taken = {
        s.name for s in catalog.spaces() if s.status in (SpaceStatus.ACTIVE, SpaceStatus.RETIRED)
    }
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_r{n}"
    return candidate


def cancel_reembed(
    catalog: CatalogBackend, router: SpaceRouter | None = None
) -> SpaceRecord | None:
    """Stop the re-embed in progress; the active model stays. Returns the cancelled space.

    A running job learns it at its next heartbeat and removes its collection; given ``router``
    (this process can open the store), a job that is not running has it removed here.
    """
    pending = catalog.pending_space()
    if pending is None:
        return None
    job = catalog.get_job(pending.job_id) if pending.job_id is not None else None
    running = job is not None and job.status == JobStatus.RUNNING
    catalog.update_space(pending.name, status=SpaceStatus.CANCELLED, note="cancelled")
    catalog.cancel_jobs(JOB_PREFIX + pending.name)
    if router is not None and not running:
        router.with_collection(pending.name).drop_collection()
        catalog.update_space(pending.name, status=SpaceStatus.DROPPED)
    return catalog.get_space(pending.name)


class Reembedder:
    """Runs a re-embed job: every catalog chunk into the new space, then one switch, then cleanup.

    Questions keep being answered from the active space until the switch, which happens in
    one catalog transaction and only when the new collection holds exactly the catalog's chunks
    (per document). Text vectors come from the new model over the chunks' stored text (no
    re-parsing); image vectors are copied from the active collection, since CLIP does not change.
    A run that was killed resumes: chunks already in the new space (same id, same text) are kept.

    >>> Reembedder(catalog, router, models, image_model_id=None).run(job, progress)
    """

    def __init__(
        self,
        catalog: CatalogBackend,
        router: SpaceRouter,
        models: Models,
        *,
        image_model_id: str | None,
        batch_size: int = EMBED_BATCH,
        drop_grace_seconds: float = 2.0,
        pause_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        if pause_seconds < 0:
            raise ValueError(f"pause_seconds must be >= 0, got {pause_seconds}")
        if drop_grace_seconds < 0:
            raise ValueError(f"drop_grace_seconds must be >= 0, got {drop_grace_seconds}")
        self.catalog = catalog
        self.router = router
        self.models = models
        self.image_model_id = image_model_id
        self.batch_size = batch_size
        self.drop_grace_seconds = drop_grace_seconds
        # A pause between batches leaves the CPU to questions on a small machine.
        self.pause_seconds = pause_seconds
        self._sleep = sleep

    def run(self, job: JobRecord, progress: ProgressFn | None = None) -> ReembedReport:
        report = progress or (lambda stage, fraction: None)
        started = time.perf_counter()
        name = job_space(job)
        space = self.catalog.get_space(name)
        if space is None:
            raise IngestError(
                f"the model space {name!r} of re-embed job {job.id} is not in the catalog"
            )
        if space.status == SpaceStatus.ACTIVE:
            # Switched before a crash: only the cleanup is left.
            dropped = self._drop_retired()
            report(JobStage.DONE, 1.0)
            return ReembedReport(
                name,
                space.model_id,
                self.catalog.counts()["chunks"],
                0,
                0,
                0,
                0,
                True,
                dropped,
                round(time.perf_counter() - started, 2),
            )
        if space.status != SpaceStatus.BUILDING:
            raise IngestError(f"the model space {name!r} is {space.status}; nothing to re-embed")

        text = self.models.text_for(space.model_id)
        check_model_fits(space, text)
        fingerprint = fingerprint_of(text)
        if fingerprint != space.fingerprint:
            raise IngestError(
                f"the weights of {space.model_id} changed since this re-embed started "
                f"({space.fingerprint} then, {fingerprint} now); start it again"
            )
        old = self.router.view(self.router.active())
        new = self.router.with_collection(name)
        dims = collection_dims(self.models, self.image_model_id, text=text)
        new.ensure_collection(dims, {TEXT_SPACE: space.distance})
        report(JobStage.EMBEDDING, 0.01)

        embedded = images = long_chunks = 0
        reused: int | None = None
        total = 1
        for _ in range(MAX_ROUNDS):
            version, rows = self.catalog.chunks_snapshot()
            present = {p.id: p.payload for p in new.scroll()}
            live = {r.point_id for r in rows}
            # Points of deleted documents, and of documents re-chunked since: cleared, redone.
            stale_docs = {str(pl.get("doc_id")) for pid, pl in present.items() if pid not in live}
            for doc_id in sorted(stale_docs):
                new.delete_document(doc_id)
            todo = [
                r
                for r in rows
                if r.doc_id in stale_docs
                or r.point_id not in present
                or present[r.point_id].get("text") != r.text
            ]
            if reused is None:
                reused = len(rows) - len(todo)
                total = max(len(todo), 1)
            if todo:
                self._check_room(new.capacity_left(), todo, present)
                long_chunks += _too_long(text, todo)
                image_vectors = self._image_vectors(old, todo, dims.get(IMAGE_SPACE))
                docs = {d.id: d for d in self.catalog.list_documents()}
                for batch in _batches(todo, self.batch_size):
                    points = _points(batch, text, fingerprint, image_vectors, docs)
                    new.upsert(points)
                    embedded += len(batch)
                    images += sum(1 for p in points if IMAGE_SPACE in p.vectors)
                    report(JobStage.EMBEDDING, min(0.95, 0.01 + 0.94 * embedded / total))
                    if self.pause_seconds:
                        self._sleep(self.pause_seconds)
                continue
            # Consistency: the new space holds exactly the catalog's chunks, per document.
            wanted = Counter(r.doc_id for r in rows)
            held = Counter(str(pl.get("doc_id")) for pl in present.values())
            if held != wanted:
                log.warning("re-embed %s: per-document counts differ, another round", name)
                continue
            report(JobStage.WRITING, 0.97)
            if self.catalog.switch_space(name, expected_version=version):
                break
            # The library changed after our snapshot: cover the change, then try again.
        else:
            raise IngestError(
                f"the library kept changing during {MAX_ROUNDS} rounds of re-embedding into "
                f"{name!r}; the old model stays active — run the re-embed again when it is quieter"
            )
        log.info("re-embed %s: switched to %s", name, space.model_id)
        dropped = self._drop_retired()
        report(JobStage.DONE, 1.0)
        return ReembedReport(
            space=name,
            model_id=space.model_id,
            chunks=len(rows),
            embedded=embedded,
            reused=reused or 0,
            images_copied=images,
            long_chunks=long_chunks,
            switched=True,
            dropped=dropped,
            seconds=round(time.perf_counter() - started, 2),
        )

    def after_lost(self, job: JobRecord) -> None:
        """The job was cancelled (or taken over): remove its collection if it was cancelled."""
        space = self.catalog.get_space(job_space(job))
        if space is not None and space.status == SpaceStatus.CANCELLED:
            self.router.with_collection(space.name).drop_collection()
            self.catalog.update_space(space.name, status=SpaceStatus.DROPPED)

    def fail(self, job: JobRecord, error: str) -> None:
        space = self.catalog.get_space(job_space(job))
        if space is not None and space.status == SpaceStatus.BUILDING:
            self.catalog.update_space(space.name, status=SpaceStatus.FAILED, note=error[:500])

    def _drop_retired(self) -> tuple[str, ...]:
        retired = [s for s in self.catalog.spaces() if s.status == SpaceStatus.RETIRED]
        if not retired:
            return ()
        # Questions that pinned the old space just before the switch finish first; any that
        # still hit the dropped collection retry once on the new space (Retriever).
        self._sleep(self.drop_grace_seconds)
        for space in retired:
            self.router.with_collection(space.name).drop_collection()
            self.catalog.update_space(space.name, status=SpaceStatus.DROPPED)
        return tuple(s.name for s in retired)

    def _image_vectors(
        self, old: VectorStore, todo: list[ChunkRow], image_dim: int | None
    ) -> dict[str, list[float]]:
        """Image vectors of the chunks to do, copied from the active collection in one pass."""
        wanted = {r.point_id for r in todo if r.kind == ChunkKind.IMAGE}
        if not wanted or image_dim is None:
            return {}
        out: dict[str, list[float]] = {}
        for point in old.scroll_points():
            vector = point.vectors.get(IMAGE_SPACE)
            if point.id in wanted and vector is not None and len(vector) == image_dim:
                out[point.id] = vector
        return out

    @staticmethod
    def _check_room(left: int | None, todo: list[ChunkRow], present: Mapping[str, object]) -> None:
        if left is None:
            return
        needed = sum(1 for r in todo if r.point_id not in present)
        if needed > left:
            raise CapacityExceeded(
                f"re-embedding needs room for {needed} more vectors next to the current ones "
                f"(both models' copies exist until the switch), but the store has room for {left}; "
                "delete documents or use a licence with a higher limit"
            )


def _batches(rows: list[ChunkRow], size: int) -> Iterable[list[ChunkRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _too_long(text: TextEmbedder, rows: list[ChunkRow]) -> int:
    """Chunks longer than the new model reads: chunk sizes were counted in the old model's tokens."""
    limit = text.tokenizer.max_tokens
    return sum(1 for r in rows if len(text.tokenizer.spans(r.text)) > limit)


def _params(doc: DocumentRecord | None) -> ChunkingParams:
    """The document's chunking, for the payload's ``strategy`` (defaults where unknown)."""
    if doc is None:
        return ChunkingParams()
    try:
        return ChunkingParams(
            Strategy(doc.strategy or Strategy.RECURSIVE), doc.chunk_size or 200, doc.overlap or 0
        )
    except ValueError:
        return ChunkingParams()


def _points(
    rows: list[ChunkRow],
    text: TextEmbedder,
    fingerprint: str,
    image_vectors: dict[str, list[float]],
    docs: dict[str, DocumentRecord],
) -> list[Point]:
    with_text = [r for r in rows if r.text.strip()]
    text_vectors: dict[str, list[float]] = {}
    if with_text:
        vectors = text.embed_passages([r.text for r in with_text])
        text_vectors = {r.point_id: v.tolist() for r, v in zip(with_text, vectors, strict=True)}
    made_by = MadeBy(text.model_id, fingerprint)
    points = []
    for row in rows:
        if row.point_id not in text_vectors and row.point_id not in image_vectors:
            raise IngestError(
                f"chunk {row.chunk_no} of document {row.doc_id[:12]} has neither text nor an "
                "image vector to carry over; reindex the document"
            )
        doc = docs.get(row.doc_id)
        points.append(
            chunk_point(
                row.to_chunk(),
                file_name=doc.name if doc else row.doc_id[:12],
                params=_params(doc),
                made_by=made_by,
                text=text_vectors.get(row.point_id),
                image=image_vectors.get(row.point_id),
            )
        )
    return points


__all__ = [
    "JobLost",
    "ReembedReport",
    "Reembedder",
    "SpaceBusy",
    "cancel_reembed",
    "job_space",
    "start_reembed",
]
