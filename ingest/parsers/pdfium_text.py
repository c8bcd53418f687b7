"""A PDF page's text with PDFium: line-end hyphens and footnote marks cleaned, ruled tables as
Markdown, and whether the page needs OCR (a scan, or an invisible text layer over an image)."""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, replace

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ingest.parsers.ocr import join_hyphenated
from ingest.parsers.pdf_tables import PdfTable, find_tables
from ingest.parsers.tables import PageText, cell_text
from ingest.parsers.text import normalize_newlines
from ragcore.types import TableSpan

# PDFium writes a hyphen it judged to end a line inside a word as U+FFFE (the line break is
# dropped): "pas\ufffesages".
_LINE_END_HYPHEN = "\ufffe"
_INSIDE_WORD_HYPHEN = re.compile(r"(?<=[a-z])\ufffe(?=[a-z])")
# A footnote mark: digits right after a word of three or more letters, before a space or
# punctuation. Only candidates: a mark must also sit above the word's baseline (checked on the
# page), so "CVSSv2", "Gen2" and "[Mit97]" stay as written.
_FOOTNOTE = re.compile(
    r"(?:(?<=[A-Za-z]{3})|(?<=[A-Za-z]{3}[.,;:”’)]))\d{1,3}(?=[\s.,;:)\]”’\"']|$)"
)
_RAISED_POINTS = 1.5


@dataclass(frozen=True)
class PdfiumPage:
    """One page's text as PDFium reads it, and what the page holds besides."""

    text: str
    tables: tuple[TableSpan, ...]
    images: int  # image objects drawn on the page
    invisible_text: bool  # every text object is invisible (render mode 3): an OCR layer


def read_page(
    page: pdfium.PdfPage, *, with_tables: bool = True, continued: PdfTable | None = None
) -> tuple[PdfiumPage, PdfTable | None]:
    """The page's text and tables; ``continued`` is the last table of the page before, whose
    header a table with the same columns at the top of this page takes over. Returns the
    page and its last table (for the next page)."""
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_range()
        count = textpage.count_chars()
        aligned = len(raw) == count  # one str character per PDFium character (no surrogates)
        edits = _edits(textpage, raw) if aligned else {}
        tables = find_tables(page, textpage) if with_tables and aligned and count else []
        owner = _table_of_chars(textpage, count, tables) if tables else None
    finally:
        textpage.close()
    images, invisible = _objects(page)
    builder = PageText()
    piece: list[str] = []
    placed: set[int] = set()
    for i, char in enumerate(raw):
        index = owner[i] if owner is not None else -1
        if index < 0:
            piece.append(edits.get(i, char))
            continue
        if index not in placed:
            builder.add(_clean(piece))
            piece = []
            placed.add(index)
            tables[index] = _add_table(builder, tables[index], continued if index == 0 else None)
    builder.add(_clean(piece))
    for index, table in enumerate(tables):  # tables PDFium drew no characters of (rare)
        if index not in placed:
            _add_table(builder, table, None)
    last = tables[-1] if tables else None
    return PdfiumPage(builder.text, builder.tables, images, invisible), last


def _clean(chars: list[str]) -> str:
    text = normalize_newlines("".join(chars)).replace("\x00", "")
    text = _INSIDE_WORD_HYPHEN.sub("", text).replace(_LINE_END_HYPHEN, "-")
    return join_hyphenated(text)


def _add_table(builder: PageText, table: PdfTable, continued: PdfTable | None) -> PdfTable:
    """Add the table as Markdown; returns it with the header it was given as its first row."""
    rows = [[cell_text(cell) for cell in row] for row in table.rows]
    if continued is not None and table.same_columns(continued):
        header = [cell_text(cell) for cell in continued.rows[0]]
        if rows[0] != header:
            # A table running on from the page before, without a header row of its own.
            builder.add_table(header, rows)
            return replace(table, rows=(continued.rows[0], *table.rows))
    builder.add_table(rows[0], rows[1:])
    return table


def _edits(textpage: pdfium.PdfTextPage, raw: str) -> dict[int, str]:
    """Characters to drop (mapped to ""): footnote marks raised above their word."""
    edits: dict[int, str] = {}
    for match in _FOOTNOTE.finditer(raw):
        if _raised(textpage, match.start() - 1, match.start()):
            for i in range(match.start(), match.end()):
                edits[i] = ""
    return edits


def _raised(textpage: pdfium.PdfTextPage, letter: int, digit: int) -> bool:
    """Whether the character at ``digit`` sits above the baseline of the one at ``letter``."""
    x, y_letter, y_digit = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    if not pdfium_c.FPDFText_GetCharOrigin(textpage.raw, letter, x, y_letter):
        return False
    if not pdfium_c.FPDFText_GetCharOrigin(textpage.raw, digit, x, y_digit):
        return False
    return y_digit.value - y_letter.value > _RAISED_POINTS


def _table_of_chars(textpage: pdfium.PdfTextPage, count: int, tables: list[PdfTable]) -> list[int]:
    """For each character, the index of the table it lies in, or -1."""
    owner = [-1] * count
    for i in range(count):
        left, bottom, right, top = textpage.get_charbox(i)
        x, y = (left + right) / 2, (bottom + top) / 2
        for index, table in enumerate(tables):
            if table.contains(x, y):
                owner[i] = index
                break
    # A generated space or line break between two characters of a table belongs to it too.
    for i in range(1, count - 1):
        if owner[i] < 0 and owner[i - 1] >= 0 and owner[i - 1] == owner[i + 1]:
            owner[i] = owner[i - 1]
    return owner


def _objects(page: pdfium.PdfPage) -> tuple[int, bool]:
    """How many images the page draws, and whether all its text is invisible."""
    images = 0
    visible = invisible = 0
    for obj in page.get_objects(
        filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_TEXT], max_depth=2
    ):
        if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            images += 1
        elif (
            pdfium_c.FPDFTextObj_GetTextRenderMode(obj.raw)
            == pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE
        ):
            invisible += 1
        else:
            visible += 1
    return images, invisible > 0 and visible == 0
