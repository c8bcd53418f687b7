"""A PDF page with PDFium: rendered to pixels, its text with the boxes of every character,
and the label printed on it."""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from ragcore.sources.highlight import Box
from ragcore.sources.matching import Span

# PDFium may not be called from two threads at once, not even on different documents; the app
# serves several sessions from threads.
PDFIUM_LOCK = threading.RLock()


def page_place(number: int, printed: str) -> str:
    """A PDF page as a person looks it up: the label printed on it, with its index beside it
    when the two differ.

    >>> page_place(11, "2"), page_place(3, "3"), page_place(4, "")
    ('page 2 (PDF page 11)', 'page 3', 'page 4')
    """
    printed = printed.strip()
    if not printed or printed == str(number):
        return f"page {number}"
    return f"page {printed} (PDF page {number})"


def printed_label(document: pdfium.PdfDocument, number: int) -> str:
    """The label the PDF gives page ``number`` (1-based): "iv", "2", "A-3"; "" when it has none."""
    try:
        return str(document.get_page_label(number - 1) or "").strip()
    except Exception:  # a damaged /PageLabels tree: the page simply has no label
        return ""


@dataclass(frozen=True)
class RenderedPage:
    """One page rendered at ``scale`` (1.0 = 72 pixels per inch)."""

    image: Image.Image
    scale: float
    page_count: int
    label: str  # printed label, "" when none


def open_pdf(path: Path) -> pdfium.PdfDocument:
    return pdfium.PdfDocument(str(path))


def render(document: pdfium.PdfDocument, number: int, scale: float) -> RenderedPage:
    page = document[number - 1]
    try:
        image = page.render(scale=scale, may_draw_forms=True).to_pil().convert("RGB")
    finally:
        page.close()
    return RenderedPage(image, scale, len(document), printed_label(document, number))


def page_text(document: pdfium.PdfDocument, number: int) -> str:
    """The page's text, one str character per PDFium character, so that offsets in it are
    PDFium's character indices (``get_text_range`` folds characters outside the BMP)."""
    page = document[number - 1]
    try:
        textpage = page.get_textpage()
        try:
            codes = (
                pdfium_c.FPDFText_GetUnicode(textpage.raw, i) for i in range(textpage.count_chars())
            )
            return "".join(chr(c) if c < 0x110000 else " " for c in codes)
        finally:
            textpage.close()
    finally:
        page.close()


def span_boxes(
    document: pdfium.PdfDocument, number: int, span: Span, size: tuple[int, int]
) -> list[Box]:
    """One box per line of the characters ``span`` of the page's text, in the pixels of the
    page rendered at ``size``.

    PDFium's own text rectangles (``FPDFText_CountRects``) merge a range's characters line by
    line, the way a reader's selection highlight does.
    """
    start, end = span
    page = document[number - 1]
    try:
        textpage = page.get_textpage()
        try:
            width, height = size
            boxes: list[Box] = []
            for i in range(textpage.count_rects(start, end - start)):
                left, bottom, right, top = textpage.get_rect(i)
                x0, y0 = _to_pixels(page, width, height, left, top)
                x1, y1 = _to_pixels(page, width, height, right, bottom)
                boxes.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        finally:
            textpage.close()
    finally:
        page.close()
    return boxes


def _to_pixels(
    page: pdfium.PdfPage, width: int, height: int, x: float, y: float
) -> tuple[int, int]:
    # PDFium's own mapping: it accounts for the crop box origin and the page's /Rotate, exactly
    # as the render did.
    dx, dy = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, width, height, 0, x, y, dx, dy)
    return dx.value, dy.value
