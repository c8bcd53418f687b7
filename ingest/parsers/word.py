"""Word (.docx) files as Markdown: headings give the section path, lists and tables are kept."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from ingest.parsers.common import ParseLimits, too_much_text
from ingest.parsers.tables import PageText, cell_text
from ragcore.errors import CorruptFile
from ragcore.types import Page, ParsedDocument

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Styles are based on others; a chain longer than this is a loop in a damaged file.
_MAX_STYLE_DEPTH = 16


def parse_docx(
    data: bytes, *, name: str, doc_id: str, mime: str, limits: ParseLimits
) -> ParsedDocument:
    """The document as one page of Markdown (Word has no fixed pages): headings as ``#``
    lines, so the pipeline's Markdown sections give each chunk its heading path; list items
    as ``-`` or ``1.``; tables as Markdown tables, merged cells repeated in every cell they
    cover.

    >>> doc = parse_docx(data, name="a.docx", doc_id="d1", mime=DOCX, limits=ParseLimits())
    >>> doc.pages[0].text.splitlines()[0]
    '# Test with tables'
    """
    from docx import Document  # heavy import: only when a Word file comes

    document = Document(io.BytesIO(data))
    numbering = _Numbering(document)
    page = PageText()
    offset = 1 if _has_title(document) else 0
    cap = limits.text_chars_limit(len(data))
    for block in _blocks(document.element.body, document._body):
        if hasattr(block, "rows"):
            _add_table(page, block)
        else:
            _add_paragraph(page, block, offset, numbering)
        if len(page) > cap:
            raise too_much_text(name, len(data), limits, where=" (the limit was passed)")
    if not page.text.strip():
        raise CorruptFile(f"{name} has no text in it; there is nothing to index.")
    return ParsedDocument(
        doc_id=doc_id,
        name=name,
        mime=mime,
        pages=(Page(number=1, text=page.text, label="", tables=page.tables),),
    )


def _blocks(element: Any, parent: Any, depth: int = 0) -> Iterator[Any]:
    """Paragraphs and tables in reading order, including those inside content controls
    (``w:sdt``) and custom XML, which python-docx's own iteration passes over."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in element.iterchildren():
        tag = child.tag
        if tag == f"{_W}p":
            yield Paragraph(child, parent)
        elif tag == f"{_W}tbl":
            yield Table(child, parent)
        elif tag in (f"{_W}sdt", f"{_W}customXml") and depth < _MAX_STYLE_DEPTH:
            for content in child.iterchildren(f"{_W}sdtContent") if tag == f"{_W}sdt" else [child]:
                yield from _blocks(content, parent, depth + 1)


def _has_title(document: Any) -> bool:
    return any(_style_name(p) == "title" for p in document.paragraphs)


def _style_name(paragraph: Any) -> str:
    try:
        style = paragraph.style
    except (KeyError, ValueError):
        return ""
    return str(style.name or "").lower() if style is not None else ""


def _heading_level(paragraph: Any, offset: int) -> int | None:
    """1-6 for a heading (Title is 1 and pushes Heading N to N+1), None for body text."""
    try:
        style = paragraph.style
    except (KeyError, ValueError):
        style = None
    for _ in range(_MAX_STYLE_DEPTH):
        if style is None:
            break
        style_name = str(style.name or "").lower()
        if style_name == "title":
            return 1
        match = _HEADING_STYLE.match(style_name)
        if match:
            return min(6, int(match.group(1)) + offset)
        style = style.base_style
    # A paragraph given an outline level by hand is a heading too.
    levels = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    if levels and str(levels[0]).isdigit() and int(levels[0]) < 9:
        return min(6, int(levels[0]) + 1 + offset)
    return None


def _add_paragraph(page: PageText, paragraph: Any, offset: int, numbering: _Numbering) -> None:
    text = " ".join(paragraph.text.split())
    if not text:
        return
    level = _heading_level(paragraph, offset)
    if level is not None:
        page.add(f"{'#' * level} {text}")
        return
    item = numbering.item(paragraph)
    if item is not None:
        depth, marker = item
        page.add(f"{'  ' * depth}{marker} {text}")
        return
    page.add(text)


def _add_table(page: PageText, table: Any) -> None:
    rows = [_row_cells(row) for row in table.rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        return
    page.add_table(rows[0], rows[1:])


def _row_cells(row: Any) -> list[str]:
    # A row may start or end late (gridBefore/gridAfter): its cells shift to their columns.
    before = [""] * int(getattr(row, "grid_cols_before", 0) or 0)
    return before + [_cell_text(cell) for cell in row.cells]


def _cell_text(cell: Any, depth: int = 0) -> str:
    # python-docx gives a merged cell once per grid column it spans, so its text repeats.
    return cell_text(" ".join(_cell_texts(cell, depth)))


def _cell_texts(cell: Any, depth: int) -> Iterator[str]:
    for block in _blocks(cell._tc, cell):
        if hasattr(block, "rows"):
            if depth < 4:  # tables nested in cells: their text, row by row
                for row in block.rows:
                    yield " ".join(" ".join(_cell_texts(c, depth + 1)) for c in row.cells)
        elif block.text.strip():
            yield block.text


class _Numbering:
    """Tells list paragraphs from others, and bullets from numbers, from numbering.xml."""

    def __init__(self, document: Any) -> None:
        self._formats: dict[tuple[str, int], str] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return
        abstract = {str(a.get(f"{_W}abstractNumId")): a for a in root.findall(f"{_W}abstractNum")}
        for num in root.findall(f"{_W}num"):
            ref = num.find(f"{_W}abstractNumId")
            definition = abstract.get(str(ref.get(f"{_W}val"))) if ref is not None else None
            if definition is None:
                continue
            for lvl in definition.findall(f"{_W}lvl"):
                fmt = lvl.find(f"{_W}numFmt")
                level = str(lvl.get(f"{_W}ilvl", "0"))
                if level.isdigit():
                    key = (str(num.get(f"{_W}numId")), int(level))
                    self._formats[key] = str(fmt.get(f"{_W}val")) if fmt is not None else ""

    def item(self, paragraph: Any) -> tuple[int, str] | None:
        """(depth, marker) of a list item, None for other paragraphs."""
        p_pr = paragraph._p.pPr
        num_pr = p_pr.numPr if p_pr is not None else None
        if num_pr is None:
            # List styles ("List Bullet", "List Number") number their paragraphs themselves.
            style_name = _style_name(paragraph)
            if style_name.startswith("list number"):
                return 0, "1."
            if style_name.startswith("list bullet") or style_name == "list paragraph":
                return 0, "-"
            return None
        num_id = num_pr.numId.val if num_pr.numId is not None else None
        if num_id is None or int(num_id) == 0:  # numId 0 switches numbering off
            return None
        depth = int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0
        fmt = self._formats.get((str(num_id), depth), "bullet")
        return min(depth, 8), "-" if fmt in ("bullet", "none", "") else "1."
