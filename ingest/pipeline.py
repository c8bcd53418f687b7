"""One document's ingestion: parse → chunk → embed → write, reporting progress as it goes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ingest.chunking import chunk_location, chunk_pages
from ingest.parsers import DEFAULT_LIMITS, ParseLimits, markdown_sections, parse_file
from ingest.parsers.detect import DOCX, HTML, MARKDOWN, PDF
from ingest.parsers.image import THUMB_SIDE, to_png
from ingest.parsers.ocr import OCR_UNAVAILABLE
from ingest.sandbox import ParseSandbox
from ingest.writer import ChunkWriter, DocumentWrite, MadeBy, chunk_point, document_stats
from ragcore.catalog import JobStage
from ragcore.catalog.backend import CatalogBackend
from ragcore.catalog.records import DocumentRecord
from ragcore.errors import CapacityExceeded, FileTooLarge, IngestError, SpaceMoved
from ragcore.files import FileStore
from ragcore.models.base import ImageEmbedder, TextEmbedder
from ragcore.models.loader import Models
from ragcore.spaces import Pinned, SpaceSource, distance_of, moves_checked, spaces_for
from ragcore.stores.base import VectorStore
from ragcore.types import (
    IMAGE_SPACE,
    TEXT_SPACE,
    Chunk,
    ChunkingParams,
    ChunkKind,
    Page,
    PageImage,
    ParsedDocument,
    Point,
)

# Known CLIP sizes, so the collection gets its image space even while CLIP cannot load here:
# a collection cannot grow a named space later, and a person may add CLIP afterwards.
KNOWN_IMAGE_DIMS = {"sentence-transformers/clip-ViT-B-32": 512, "clip-ViT-B-32": 512}

ProgressFn = Callable[[str, float], None]
EMBED_BATCH = 128


class JobLost(Exception):
    """This worker no longer holds the job's lease (reclaimed or cancelled): stop without writing."""


@dataclass(frozen=True)
class IngestReport:
    doc_id: str
    pages: int
    pages_without_text: int
    chunks: int
    images: int
    warnings: tuple[str, ...]
    seconds: dict[str, float] = field(default_factory=dict)  # per stage
    pages_ocr: int = 0  # pages whose text OCR read (their time is in "parse")


def collection_dims(
    models: Models, image_model_id: str | None, *, text: TextEmbedder | None = None
) -> dict[str, int]:
    """The named spaces a collection needs: ``text`` (of ``text``, default the configured model)
    and ``image`` when CLIP is on or its size is known."""
    dims = {TEXT_SPACE: (text or models.text).dim}
    clip = models.image
    if clip is not None:
        dims[IMAGE_SPACE] = clip.dim
    elif image_model_id and image_model_id in KNOWN_IMAGE_DIMS:
        dims[IMAGE_SPACE] = KNOWN_IMAGE_DIMS[image_model_id]
    return dims


def image_context(page: Page, text: TextEmbedder, *, max_tokens: int = 64) -> tuple[int, int]:
    """The span of page text that describes a figure: the page's opening words, within budget."""
    spans = text.tokenizer.spans(page.text)
    if not spans:
        return 0, 0
    last = spans[min(len(spans), max_tokens) - 1]
    return spans[0][0], last[1]


@dataclass(frozen=True)
class JobLimits:
    """What one document's ingestion may cost after parsing, so no file holds a worker for long.

    ``max_chunks`` counts text and image chunks; chunking stops as soon as it is passed.
    ``timeout_seconds`` is the whole job's wall-clock budget (parse, chunk, embed), checked
    between chunking segments and between embedding batches; None means no budget.

    >>> JobLimits(max_chunks=10_000, timeout_seconds=900.0)
    """

    max_chunks: int = 10_000
    timeout_seconds: float | None = 900.0

    def __post_init__(self) -> None:
        if self.max_chunks <= 0:
            raise ValueError(f"max_chunks must be > 0, got {self.max_chunks}")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0 or None, got {self.timeout_seconds}")


class Ingestor:
    """Turns a queued document into chunks in the catalog (with FTS) and points in the store.

    >>> Ingestor(catalog, store, models, thumbs_dir=Path("data/thumbs")).ingest(doc_id, params)
    """

    def __init__(
        self,
        catalog: CatalogBackend,
        store: VectorStore,
        models: Models,
        *,
        thumbs_dir: Path,
        limits: ParseLimits = DEFAULT_LIMITS,
        job_limits: JobLimits = JobLimits(),
        image_model_id: str | None = None,
        sandbox: ParseSandbox | None = None,
        spaces: SpaceSource | None = None,
        files: FileStore | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.models = models
        self.thumbs_dir = thumbs_dir
        self.limits = limits
        self.job_limits = job_limits
        self.image_model_id = image_model_id
        # None parses in this process (tests, tools); the worker parses in a bounded child.
        self.sandbox = sandbox
        self._spaces = spaces
        # Where uploaded files are kept (another host's, in server mode); None: the local
        # folder a document's path names.
        self.files = files
        self._ready_spaces: set[str] = set()  # model spaces whose collection was ensured

    @property
    def spaces(self) -> SpaceSource:
        """Where each ingestion gets its (model, collection) pair: the one given, else the
        store's own (the runtime's follows model spaces; a plain collection never moves)."""
        return self._spaces or spaces_for(self.store, self.models)

    def discard(self, doc_id: str) -> None:
        """Remove what an ingestion wrote for a document deleted meanwhile (points, thumbnails).

        Its delete may have swept the store before our upserts landed; without this they linger.
        """
        self.store.delete_document(doc_id)
        shutil.rmtree(self.thumbs_dir / doc_id, ignore_errors=True)
        if self.files is not None:
            self.files.drop_thumbnails(doc_id)

    def ensure_collection(self, pinned: Pinned | None = None) -> None:
        pinned = pinned or self.spaces.pin()
        key = pinned.space_name or ""
        if key not in self._ready_spaces:
            dims = collection_dims(self.models, self.image_model_id, text=pinned.text)
            pinned.store.ensure_collection(dims, {TEXT_SPACE: distance_of(pinned.text)})
            self._ready_spaces.add(key)

    def ingest(
        self, doc_id: str, params: ChunkingParams, progress: ProgressFn | None = None
    ) -> IngestReport:
        """Parse, chunk, embed and write one document into the active model space.

        If the embedding model is switched while the document is being embedded, its vectors
        went to the space being retired (or failed to, once its collection was dropped): it is
        ingested once more, into the new space.
        """
        started = time.monotonic()
        try:
            return self._ingest_once(doc_id, params, progress, started)
        except SpaceMoved:
            # The second pass spends what is left of the same budget.
            return self._ingest_once(doc_id, params, progress, started)

    def _ingest_once(
        self,
        doc_id: str,
        params: ChunkingParams,
        progress: ProgressFn | None,
        started: float,
    ) -> IngestReport:
        report = progress or (lambda stage, fraction: None)
        doc = self.catalog.get_document(doc_id)
        if doc is None:
            raise IngestError(f"document {doc_id[:12]} is no longer in the library (deleted?)")
        seconds: dict[str, float] = {}
        deadline = _JobDeadline(doc.name, self.job_limits.timeout_seconds, started)

        t0 = time.perf_counter()
        report(JobStage.PARSING, 0.02)
        source = self._source_file(doc)
        if self.sandbox is None:
            parsed = parse_file(source, name=doc.name, doc_id=doc_id, limits=self.limits)
        else:
            # The tick renews the job's lease while the child reads, and stops it if lost.
            parsed = self.sandbox.parse(
                source,
                name=doc.name,
                doc_id=doc_id,
                limits=self.limits,
                tick=lambda: report(JobStage.PARSING, 0.02),
            )
        seconds["parse"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        report(JobStage.CHUNKING, 0.10)
        # One (model, collection) pair throughout: the active space's when the store follows spaces.
        spaces = self.spaces
        pinned = spaces.pin()
        with moves_checked(spaces, pinned):
            return self._index(doc_id, parsed, params, pinned, report, deadline, seconds, t0)

    def _source_file(self, doc: DocumentRecord) -> Path:
        """The document's file on this host: fetched from a shared store into this host's cache."""
        if self.files is None:
            return Path(doc.path)
        try:
            return self.files.local_path(doc.path)
        except FileNotFoundError as exc:
            raise IngestError(
                f"{doc.name} is no longer in the library's file store ({exc}); add it again"
            ) from exc

    def _index(
        self,
        doc_id: str,
        parsed: ParsedDocument,
        params: ChunkingParams,
        pinned: Pinned,
        report: ProgressFn,
        deadline: _JobDeadline,
        seconds: dict[str, float],
        t0: float,
    ) -> IngestReport:
        """Chunk, embed and write a parsed document into the pinned space."""
        text_model, store = pinned.text, pinned.store
        chunks = self._chunk(parsed, params, text_model, report, deadline)
        seconds["chunk"] = time.perf_counter() - t0
        if not chunks:
            raise IngestError(_nothing_to_index(parsed))

        t0 = time.perf_counter()
        report(JobStage.EMBEDDING, 0.15)
        self.ensure_collection(pinned)
        points = self._embed(
            parsed, chunks, params, text_model, self.models.image, report, deadline
        )
        seconds["embed"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        report(JobStage.WRITING, 0.92)
        self._check_capacity(doc_id, len(points), store)
        self._save_thumbnails(parsed, chunks)
        images = sum(1 for c in chunks if c.kind == ChunkKind.IMAGE)
        stats = document_stats(
            params,
            mime=parsed.mime,
            pages=len(parsed.pages),
            pages_without_text=parsed.pages_without_text,
            pages_ocr=parsed.pages_ocr,
            warnings=parsed.warnings,
        )
        # Refused if a re-embed switched spaces after we pinned ours (ingest() retries).
        writer = ChunkWriter(self.catalog, store, MadeBy.of(text_model), space=pinned.space_name)
        writer.write(
            [DocumentWrite(doc_id, tuple(chunks), tuple(points), stats)],
            # Also renews the lease: a large document's writes can outlast it.
            lambda done, total: report(JobStage.WRITING, 0.92 + 0.07 * done / total),
        )
        seconds["write"] = time.perf_counter() - t0
        report(JobStage.DONE, 1.0)
        return IngestReport(
            doc_id=doc_id,
            pages=len(parsed.pages),
            pages_without_text=parsed.pages_without_text,
            chunks=len(chunks) - images,
            images=images,
            warnings=parsed.warnings,
            seconds=seconds,
            pages_ocr=parsed.pages_ocr,
        )

    def _chunk(
        self,
        parsed: ParsedDocument,
        params: ChunkingParams,
        text_model: TextEmbedder,
        report: ProgressFn | None = None,
        deadline: _JobDeadline | None = None,
    ) -> list[Chunk]:
        sections = None
        # Word and HTML files are parsed to Markdown: their headings give sections the same way.
        if parsed.mime in (MARKDOWN, DOCX, HTML):
            sections = {p.number: markdown_sections(p.text) for p in parsed.pages}
        say = report or (lambda stage, fraction: None)
        max_chunks = self.job_limits.max_chunks
        images = sum(len(p.images) for p in parsed.pages)

        def progress(share: float) -> None:
            # Progress renews the job's lease too: a 50 MB text file takes minutes to chunk.
            say(JobStage.CHUNKING, 0.10 + 0.05 * share)
            if deadline is not None:
                deadline.check(f"chunking, {share:.0%} of the text done")

        chunks = chunk_pages(
            parsed.doc_id,
            parsed.pages,
            params,
            text_model.tokenizer,
            sections_by_page=sections,
            progress=progress,
            stop_after=max(0, max_chunks - images),
        )
        if len(chunks) + images > max_chunks:
            raise _too_many_chunks(parsed.name, max_chunks, params)
        next_no = len(chunks)
        for page in parsed.pages:
            if not page.images:
                continue
            start, end = image_context(page, text_model)
            for image in page.images:
                # With no page text, a caption names the image, so it still has a text vector,
                # is found by its file name, and stays listed when CLIP is off.
                text = page.text[start:end] or _caption(parsed, page, image.index)
                chunks.append(
                    Chunk(
                        doc_id=parsed.doc_id,
                        chunk_no=next_no,
                        page=page.number,
                        start=start,
                        end=end,
                        text=text,
                        kind=ChunkKind.IMAGE,
                        section=page.section,
                        image_index=image.index,
                        location=chunk_location(page, page.section),
                    )
                )
                next_no += 1
        # Text read by OCR says so wherever it is shown (the image chunks quote it too).
        read_by_ocr = {
            p.number: p.ocr_confidence for p in parsed.pages if p.ocr_confidence is not None
        }
        if read_by_ocr:
            chunks = [
                replace(c, ocr_confidence=read_by_ocr[c.page]) if c.page in read_by_ocr else c
                for c in chunks
            ]
        return chunks

    def _embed(
        self,
        parsed: ParsedDocument,
        chunks: Sequence[Chunk],
        params: ChunkingParams,
        text_model: TextEmbedder,
        clip: ImageEmbedder | None,
        report: ProgressFn,
        deadline: _JobDeadline | None = None,
    ) -> list[Point]:
        with_text = [c for c in chunks if c.text.strip()]
        text_vecs: dict[int, np.ndarray] = {}
        total = len(with_text) + sum(1 for c in chunks if c.kind == ChunkKind.IMAGE)
        done = 0
        for i in range(0, len(with_text), EMBED_BATCH):
            if deadline is not None:
                deadline.check(f"embedding, {done:,} of {total:,} chunks done")
            batch = with_text[i : i + EMBED_BATCH]
            vecs = text_model.embed_passages([c.text for c in batch])
            for chunk, vec in zip(batch, vecs, strict=True):
                text_vecs[chunk.chunk_no] = vec
            done += len(batch)
            report(JobStage.EMBEDDING, 0.15 + 0.75 * done / max(total, 1))
        image_vecs: dict[int, np.ndarray] = {}
        if clip is not None:
            by_key = {(img.page, img.index): img for p in parsed.pages for img in p.images}
            image_chunks = [c for c in chunks if c.kind == ChunkKind.IMAGE]
            for i in range(0, len(image_chunks), 16):
                if deadline is not None:
                    deadline.check(f"embedding, {done:,} of {total:,} chunks done")
                batch = image_chunks[i : i + 16]
                vecs = clip.embed_images([by_key[(c.page, c.image_index or 0)].data for c in batch])
                for chunk, vec in zip(batch, vecs, strict=True):
                    image_vecs[chunk.chunk_no] = vec
                done += len(batch)
                report(JobStage.EMBEDDING, 0.15 + 0.75 * done / max(total, 1))
        made_by = MadeBy.of(text_model)
        return [
            chunk_point(
                chunk,
                file_name=parsed.name,
                params=params,
                made_by=made_by,
                text=text_vecs[chunk.chunk_no].tolist() if chunk.chunk_no in text_vecs else None,
                image=image_vecs[chunk.chunk_no].tolist() if chunk.chunk_no in image_vecs else None,
            )
            for chunk in chunks
        ]

    def _check_capacity(self, doc_id: str, needed: int, store: VectorStore | None = None) -> None:
        store = store or self.store
        left = store.capacity_left()
        if left is None:
            return
        # Points this document already has are overwritten, so they do not count twice.
        left += store.count(doc_id)
        if needed > left:
            raise CapacityExceeded(
                f"this document needs {needed} vectors but the store has room for only {left} "
                "more (the VectorAI free tier holds 5,000 in all); delete documents or upgrade."
            )

    def _save_thumbnails(self, parsed: ParsedDocument, chunks: Sequence[Chunk]) -> None:
        # The parser made the thumbnails in its sandbox: the worker only writes bytes, and never
        # decodes an image the size of the original (an 8,000 x 8,000 PNG is 256 MB of pixels).
        by_key = {(img.page, img.index): img for p in parsed.pages for img in p.images}
        pngs = {}
        for chunk in chunks:
            if chunk.kind == ChunkKind.IMAGE:
                image = by_key[(chunk.page, chunk.image_index or 0)]
                pngs[chunk.chunk_no] = image.thumbnail or _thumbnail(image)
        if self.files is not None:  # where every host that shows the image can read it
            self.files.save_thumbnails(parsed.doc_id, pngs)
            return
        folder = self.thumbs_dir / parsed.doc_id
        for chunk_no, png in pngs.items():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{chunk_no}.png").write_bytes(png)


def thumbnail_path(thumbs_dir: Path, doc_id: str, chunk_no: int) -> Path:
    return thumbs_dir / doc_id / f"{chunk_no}.png"


def _caption(parsed: ParsedDocument, page: Page, index: int) -> str:
    if len(parsed.pages) == 1 and not parsed.mime.endswith("pdf"):
        return f"Image {parsed.name}"
    return f"Image {index + 1} on page {page.number} of {parsed.name}"


class _JobDeadline:
    """The job's time budget: ``check`` raises a ``FileTooLarge`` naming the document once it
    is spent, saying where the job stopped."""

    def __init__(self, name: str, seconds: float | None, started: float) -> None:
        self._name = name
        self._seconds = seconds
        self._ends = None if seconds is None else started + seconds

    def check(self, where: str) -> None:
        if self._ends is not None and time.monotonic() > self._ends:
            raise FileTooLarge(
                f"{self._name} took longer than the {self._seconds:g}-second limit for "
                f"ingesting one document (stopped while {where}); it was not ingested."
            )


def _thumbnail(image: PageImage) -> bytes:
    """A thumbnail for an image that came without one (built by hand, not by our parsers)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(image.data)) as img:
        thumb = img.convert("RGB")
        thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
        return to_png(thumb)


def _too_many_chunks(name: str, max_chunks: int, params: ChunkingParams) -> FileTooLarge:
    return FileTooLarge(
        f"{name} makes more than {max_chunks:,} chunks of {params.chunk_size} tokens, the "
        "limit for one document; split it into smaller files."
    )


def _nothing_to_index(parsed: ParsedDocument) -> str:
    if parsed.mime != PDF:
        return f"{parsed.name} has no text in it and no images; there is nothing to index."
    if parsed.pages and parsed.pages_without_text == len(parsed.pages):
        no_ocr = next((w for w in parsed.warnings if w.startswith(OCR_UNAVAILABLE)), None)
        why = f"; {no_ocr.split(';')[0]}" if no_ocr else ""
        return (
            f"{parsed.name} has no text layer on any of its {len(parsed.pages)} pages "
            f"and no images to index{why}."
        )
    return f"{parsed.name} contains no text or images to index."
