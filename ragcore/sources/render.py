"""A cited passage shown where it is: its PDF page rendered with the passage marked, its image,
or its text location with the text around it."""

from __future__ import annotations

import io
import json
import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from PIL import Image

from ragcore.catalog import ChunkRow, DocumentRecord
from ragcore.catalog.backend import CatalogBackend
from ragcore.document_text import is_page_slice, rebuild_text
from ragcore.errors import DocumentDeleted, NoPageToRender, SourceNotFound
from ragcore.files import FileStore
from ragcore.sources import pdf
from ragcore.sources.cache import PageCache, pages_dir
from ragcore.sources.highlight import Box, mark
from ragcore.sources.matching import Keyed, Span, find_key, locate
from ragcore.sources.ocr import OcrPage, OcrUnavailable, TesseractWords, WordReader
from ragcore.types import ChunkKind, point_id

# Zoom a person may pick: 1.0 is 72 pixels per inch; 1.5 makes a Letter page 918 x 1188 pixels.
DEFAULT_SCALE = 1.5
MIN_SCALE, MAX_SCALE = 0.25, 6.0
# A poster-sized page is rendered smaller rather than as a 200-megapixel image.
MAX_PIXELS = 25_000_000
# Scanned pages are read again at the resolution ingestion reads them at (RAG_OCR_DPI's default).
OCR_DPI = 150
# Characters of the surrounding text shown on each side of a passage without a page image.
CONTEXT_CHARS = 400
# Finished views kept in memory (a page PNG is ~0.2–0.6 MB): the app draws every open card
# again on each rerun, and encoding a page takes ~100 ms.
KEPT_VIEWS = 48
# An id the catalog no longer holds is traced back through the documents it remembers (their
# jobs outlive them) up to this chunk number, to say "deleted" rather than "unknown".
TRACE_CHUNKS = 10_000


class SourceKind(StrEnum):
    PAGE = "page"  # a PDF page image
    IMAGE = "image"  # an image file, or an image found in a document
    TEXT = "text"  # slides, Word, HTML, spreadsheets, Markdown, text: a location in text


@dataclass(frozen=True)
class SourceView:
    """What a source card or ``python -m ragcore source`` shows for one passage.

    ``image`` is a PNG: the PDF page (``shown_page``) with the passage marked when it is on
    that page, or the image itself; None for text kinds. ``page_label`` names the shown page as
    printed ("page 2 (PDF page 11)"). The passage and the text around it are always given.

    >>> view = renderer.render(hit.point_id, quotes=[(10, 42)])
    >>> view.kind, view.page_label, view.highlighted
    (<SourceKind.PAGE: 'page'>, 'page 2 (PDF page 11)', True)
    """

    point_id: str
    doc_id: str
    file_name: str
    file_path: Path | None  # the original file, None when it is gone from the library folder
    kind: SourceKind
    location: str  # as citations name it: "page 4", "slide 2, Results", "sheet Q3, rows 12–40"
    page: int  # the passage's page (slide, sheet) number, 1-based
    shown_page: int  # the page ``image`` shows; another than ``page`` when a person browses
    page_count: int
    page_label: str
    image: bytes | None
    scale: float
    highlighted: bool  # the passage is marked on ``image``
    quoted: bool  # a quoted span is marked more strongly
    found_by: str  # "text layer", "OCR" or "" (not marked)
    context_before: str
    passage: str
    context_after: str
    caption: str = ""  # an image's caption (its text in the index)
    # Where the passage is marked on ``image``: one box per line, in its pixels, so a viewer can
    # scroll to it (a footnote sits a page's height below the top).
    marks: tuple[Box, ...] = ()

    @property
    def page_index(self) -> int:
        """The shown page counted from 0, as PDF tools count."""
        return self.shown_page - 1


def quote_span(passage: str, quote: str) -> Span | None:
    """Where ``quote`` is in ``passage``, matched as search matches (case, spaces, hyphens).

    >>> quote_span("Oil the chain every 200 hours.", "chain  EVERY 200")
    (8, 24)
    """
    text, words = Keyed.of(passage), Keyed.of(quote)
    found = find_key(words.key, text.key)
    return text.text_span(*found) if found is not None else None


class SourceRenderer:
    """Renders sources of one library: its catalog, its cache folder and its thumbnails.

    >>> renderer = SourceRenderer(catalog, data_dir=settings.data_dir)
    >>> Path("page.png").write_bytes(renderer.render(point_id).image)
    """

    def __init__(
        self,
        catalog: CatalogBackend,
        *,
        data_dir: Path,
        ocr: WordReader | None = None,
        ocr_dpi: int = OCR_DPI,
        context_chars: int = CONTEXT_CHARS,
        files: FileStore | None = None,
    ) -> None:
        if context_chars < 0:
            raise ValueError(f"context_chars must be >= 0, got {context_chars}")
        if not 50 <= ocr_dpi <= 600:
            raise ValueError(f"ocr_dpi must be between 50 and 600, got {ocr_dpi}")
        self.catalog = catalog
        self.cache = PageCache(pages_dir(data_dir))
        self.thumbs_dir = data_dir / "thumbs"
        self.ocr: WordReader = ocr or TesseractWords()
        self.ocr_dpi = ocr_dpi
        self.context_chars = context_chars
        # Where the original files are (a shared store's are fetched into this host's cache);
        # None: the local folder a document's path names.
        self.files = files
        self._kept: OrderedDict[tuple[object, ...], SourceView] = OrderedDict()
        self._lock = threading.Lock()

    def render(
        self,
        point_id: str,
        *,
        scale: float = DEFAULT_SCALE,
        quotes: Sequence[Span] = (),
        page: int | None = None,
        doc_id: str | None = None,
        end: int | None = None,
    ) -> SourceView:
        """The source of ``point_id``; ``quotes`` are spans of its text to mark strongly,
        ``page`` another page of the same PDF to show (browsing), ``doc_id`` the document the
        caller knows it came from (then a deleted one is named as such), ``end`` where the
        passage ends on its page when an answer read it past its chunk's end
        (:func:`ragcore.passages.finish_cut_passages`)."""
        if not MIN_SCALE <= scale <= MAX_SCALE:
            raise ValueError(f"scale must be between {MIN_SCALE} and {MAX_SCALE}, got {scale}")
        chunk, doc = self._find(point_id, doc_id)
        if end is not None and end > chunk.end:
            chunk = self._grown(chunk, end)
        # The document's version is in the key: a re-indexed document is never served stale.
        key = (point_id, doc.updated_at, doc.path, scale, tuple(quotes), page, chunk.end)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        view = self._render(chunk, doc, scale, quotes, page)
        with self._lock:
            self._kept[key] = view
            while len(self._kept) > KEPT_VIEWS:
                self._kept.popitem(last=False)
        return view

    def _render(
        self,
        chunk: ChunkRow,
        doc: DocumentRecord,
        scale: float,
        quotes: Sequence[Span],
        page: int | None,
    ) -> SourceView:
        before, passage, after = self._context(chunk)
        path = self._original(doc)
        location = chunk.location or _fallback_location(chunk)
        base = SourceView(
            point_id=chunk.point_id,
            doc_id=doc.id,
            file_name=doc.name,
            file_path=path,
            kind=SourceKind.TEXT,
            location=location,
            page=chunk.page,
            shown_page=chunk.page,
            page_count=max(doc.pages, 1),
            page_label=location,
            image=None,
            scale=1.0,
            highlighted=False,
            quoted=False,
            found_by="",
            context_before=before,
            passage=passage,
            context_after=after,
        )
        browsing = page is not None
        if _is_pdf(doc) and path is not None and (chunk.kind == ChunkKind.TEXT or browsing):
            return self._pdf_view(base, doc, chunk, path, scale, quotes, page)
        if browsing and page != chunk.page:
            raise NoPageToRender(f"{doc.name} has no pages to browse: it is not a PDF")
        if chunk.kind == ChunkKind.IMAGE:
            image = self._thumbnail(doc.id, chunk.chunk_no)
            return replace(base, kind=SourceKind.IMAGE, image=image, caption=chunk.text.strip())
        if _is_pdf(doc):
            raise DocumentDeleted(
                f"the file of {doc.name} is no longer in the library folder "
                "(deleted meanwhile?); `python -m ingest check` finds what is missing"
            )
        return base

    def _thumbnail(self, doc_id: str, chunk_no: int) -> bytes | None:
        if self.files is not None:
            return self.files.thumbnail(doc_id, chunk_no)
        thumb = self.thumbs_dir / doc_id / f"{chunk_no}.png"
        return thumb.read_bytes() if thumb.is_file() else None

    def _original(self, doc: DocumentRecord) -> Path | None:
        """The document's file on this host, or None when it is gone from the library."""
        if not doc.path:
            return None
        if self.files is None:
            return Path(doc.path) if Path(doc.path).is_file() else None
        try:
            return self.files.local_path(doc.path)
        except FileNotFoundError:
            return None

    def _find(self, pid: str, doc_id: str | None) -> tuple[ChunkRow, DocumentRecord]:
        try:
            uuid.UUID(pid)
        except ValueError:
            raise SourceNotFound(
                f"{pid!r} is not a source id: ids are UUIDs, as `python -m ragcore search "
                "--json` prints them (point_id)"
            ) from None
        chunk = self.catalog.chunks_by_point_ids([pid]).get(pid)
        doc = self.catalog.get_document(chunk.doc_id if chunk else doc_id or "")
        if chunk is not None and doc is not None:
            return chunk, doc
        if chunk is None and doc_id is not None and doc is None:
            self.cache.forget(doc_id)
            raise DocumentDeleted(f"the document of source {pid} was deleted from the library")
        traced = self._trace(pid)
        if traced is None:
            raise SourceNotFound(f"no source with id {pid} in this library")
        if self.catalog.get_document(traced) is None:
            self.cache.forget(traced)
            raise DocumentDeleted(f"the document of source {pid} was deleted from the library")
        raise SourceNotFound(
            f"source {pid} is no longer in its document: it was re-indexed since, and its "
            "passages were cut anew; search again for the new ones"
        )

    def _trace(self, pid: str) -> str | None:
        """The document an id was made for (ids are uuid5 of document and chunk number)."""
        remembered = dict.fromkeys(j.doc_id for j in self.catalog.jobs(limit=1_000_000))
        for doc_id in remembered:
            if any(point_id(doc_id, n) == pid for n in range(TRACE_CHUNKS)):
                return doc_id
        return None

    def _grown(self, chunk: ChunkRow, end: int) -> ChunkRow:
        """``chunk`` running on to ``end`` of its page, as the answer read it; as it is when its
        page's text does not run there (a caption; the document re-indexed since)."""
        page = self._page_text(chunk) if is_page_slice(chunk) else None
        if page is None:
            return chunk
        text = page[chunk.start : end]
        if len(text) != end - chunk.start or not text.startswith(chunk.text):
            return chunk
        return replace(chunk, text=text, end=end)

    def _page_text(self, chunk: ChunkRow) -> str | None:
        """The text of ``chunk``'s page, rebuilt from the page's chunks (offsets as theirs)."""
        rows = [r for r in self.catalog.chunks(chunk.doc_id) if r.page == chunk.page]
        rebuilt = rebuild_text(chunk.doc_id, "", rows)
        if rebuilt is None or chunk.page not in rebuilt.page_starts:
            return None
        return rebuilt.text[rebuilt.page_starts[chunk.page] :]

    def _context(self, chunk: ChunkRow) -> tuple[str, str, str]:
        """The passage and the text around it on its page (rebuilt from the page's chunks)."""
        if chunk.kind == ChunkKind.IMAGE and chunk.start == chunk.end:
            return "", chunk.text, ""
        text = self._page_text(chunk)
        if text is None:
            return "", chunk.text, ""
        start = chunk.start
        end = start + len(chunk.text) if chunk.kind == ChunkKind.TEXT else start
        if text[start:end] != chunk.text:  # a table's later piece: its header repeated
            return "", chunk.text, ""
        n = self.context_chars
        before = text[max(0, start - n) : start]
        after = text[end : end + n]
        if start - n > 0 and " " in before:
            before = "…" + before[before.index(" ") + 1 :]
        if end + n < len(text) and " " in after:
            after = after[: after.rindex(" ")] + "…"
        return before, chunk.text, after

    def _pdf_view(
        self,
        base: SourceView,
        doc: DocumentRecord,
        chunk: ChunkRow,
        path: Path,
        scale: float,
        quotes: Sequence[Span],
        page: int | None,
    ) -> SourceView:
        words: OcrPage | None = None
        scan: Image.Image | None = None
        passage: list[Box] = []
        quoted: list[Box] = []
        found_by = ""
        with pdf.PDFIUM_LOCK:
            document = pdf.open_pdf(path)
            try:
                count = len(document)
                shown = chunk.page if page is None else page
                if not 1 <= shown <= count:
                    raise NoPageToRender(f"{doc.name} has {count} pages; there is no page {shown}")
                image, scale = self._page_image(document, doc, shown, scale)
                label = pdf.page_place(shown, pdf.printed_label(document, shown))
                if shown == chunk.page and chunk.kind == ChunkKind.TEXT:
                    passage, quoted = self._text_boxes(document, chunk, quotes, image.size)
                    found_by = "text layer" if passage else ""
                    if not passage and chunk.ocr_confidence is not None:
                        words = self._cached_words(doc, shown)
                        if words is None:
                            scan = pdf.render(document, shown, self.ocr_dpi / 72).image
            finally:
                document.close()
        if scan is not None:  # Tesseract runs outside the lock: it takes seconds
            words = self._read_words(doc, shown, scan)
        if words is not None:
            passage, quoted = _word_boxes(words, chunk.text, quotes, image.size)
            found_by = "OCR" if passage else ""
        if passage:
            image = mark(image, passage, quoted)
        return replace(
            base,
            kind=SourceKind.PAGE,
            shown_page=shown,
            page_count=count,
            page_label=label,
            image=_png(image),
            scale=scale,
            highlighted=bool(passage),
            quoted=bool(quoted),
            found_by=found_by,
            marks=tuple(passage),
        )

    def _page_image(
        self, document: pdf.pdfium.PdfDocument, doc: DocumentRecord, number: int, scale: float
    ) -> tuple[Image.Image, float]:
        width, height = document.get_page_size(number - 1)
        if width * height * scale * scale > MAX_PIXELS:
            scale = math.sqrt(MAX_PIXELS / max(width * height, 1.0))
        name = f"p{number}-x{scale:.3f}.png"
        cached = self.cache.read(doc, name)
        if cached is not None:
            try:
                return Image.open(io.BytesIO(cached)).convert("RGB"), scale
            except OSError:
                pass  # a damaged entry is rendered again
        image = pdf.render(document, number, scale).image
        self.cache.write(doc, name, _png(image))
        return image, scale

    def _text_boxes(
        self,
        document: pdf.pdfium.PdfDocument,
        chunk: ChunkRow,
        quotes: Sequence[Span],
        size: tuple[int, int],
    ) -> tuple[list[Box], list[Box]]:
        """The passage's and the quotes' boxes from the page's text layer; none when the
        passage is not in it (a scan, or text another extractor read differently)."""
        text = pdf.page_text(document, chunk.page)
        spans = locate(chunk.text, Keyed.of(text), quotes) if text.strip() else None
        if spans is None:
            return [], []
        whole, quoted = spans
        return (
            pdf.span_boxes(document, chunk.page, whole, size),
            [b for q in quoted for b in pdf.span_boxes(document, chunk.page, q, size)],
        )

    def _cached_words(self, doc: DocumentRecord, number: int) -> OcrPage | None:
        cached = self.cache.read(doc, f"p{number}.ocr.json")
        if cached is None:
            return None
        try:
            return OcrPage.from_json(json.loads(cached))
        except (ValueError, TypeError):
            return None  # a damaged entry is read again

    def _read_words(self, doc: DocumentRecord, number: int, scan: Image.Image) -> OcrPage | None:
        try:
            words = self.ocr.read(scan, dpi=self.ocr_dpi)
        except OcrUnavailable:
            return None  # the page is still shown, unmarked
        self.cache.write(doc, f"p{number}.ocr.json", json.dumps(words.to_json()).encode())
        return words


def _word_boxes(
    words: OcrPage, passage: str, quotes: Sequence[Span], size: tuple[int, int]
) -> tuple[list[Box], list[Box]]:
    spans = locate(passage, Keyed.of(words.text), quotes)
    if spans is None:
        return [], []
    whole, quoted = spans
    return words.line_boxes(whole, size), [b for q in quoted for b in words.line_boxes(q, size)]


def render_source(
    catalog: CatalogBackend,
    point_id: str,
    *,
    data_dir: Path,
    scale: float = DEFAULT_SCALE,
    quotes: Sequence[Span] = (),
    page: int | None = None,
    doc_id: str | None = None,
    files: FileStore | None = None,
    end: int | None = None,
) -> SourceView:
    """One source rendered (see :class:`SourceRenderer`); raises a :class:`SourceUnavailable`.

    >>> view = render_source(rt.catalog, hit.point_id, data_dir=rt.settings.data_dir, files=rt.files)
    """
    return SourceRenderer(catalog, data_dir=data_dir, files=files).render(
        point_id, scale=scale, quotes=quotes, page=page, doc_id=doc_id, end=end
    )


def _is_pdf(doc: DocumentRecord) -> bool:
    return doc.mime == "application/pdf" or Path(doc.name).suffix.lower() == ".pdf"


def _fallback_location(chunk: ChunkRow) -> str:
    return f"page {chunk.page}, {chunk.section}" if chunk.section else f"page {chunk.page}"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Level 1: a page compresses almost as well, four times faster than the default.
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


__all__ = [
    "DEFAULT_SCALE",
    "SourceKind",
    "SourceRenderer",
    "SourceView",
    "quote_span",
    "render_source",
]
