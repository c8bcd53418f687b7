"""PowerPoint (.pptx) files: one page per slide with its title, text, tables, charts and notes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from ingest.parsers.common import Deadline, ParseLimits, too_much_text
from ingest.parsers.tables import PageText, cell_text
from ragcore.errors import CorruptFile, FileTooLarge
from ragcore.types import Page, ParsedDocument

# Groups inside groups: deeper than this is a damaged or hostile file, not a slide.
_MAX_GROUP_DEPTH = 16


def parse_pptx(
    data: bytes, *, name: str, doc_id: str, mime: str, limits: ParseLimits
) -> ParsedDocument:
    """Slide N is page N, labelled "slide N" and the slide's title.

    Shapes are read top to bottom, then left to right: text frames as lines (indented
    bullets below the first level), tables as Markdown tables, each chart as a small table
    of its data series by category, and the speaker notes last, after "Notes:".

    >>> doc = parse_pptx(data, name="deck.pptx", doc_id="d1", mime=PPTX, limits=ParseLimits())
    >>> doc.pages[1].label
    'slide 2, Second slide title'
    """
    from pptx import Presentation  # heavy import: only when a presentation comes

    presentation = Presentation(io.BytesIO(data))
    pages: list[Page] = []
    cap = limits.text_chars_limit(len(data))
    total = 0
    deadline = Deadline(limits.timeout_seconds, name)
    for number, slide in enumerate(presentation.slides, start=1):
        deadline.check(f"slide {number}")
        if number > limits.max_pages:
            raise FileTooLarge(
                f"{name} has more than {limits.max_pages:,} slides, the limit for one file; "
                "split it into smaller files."
            )
        title = _title(slide)
        page = PageText()
        for shape in _reading_order(slide.shapes, 0):
            _add_shape(page, shape)
        notes = _notes(slide)
        if notes:
            page.add("Notes: " + notes)
        total += len(page)
        if total > cap:
            raise too_much_text(
                name, len(data), limits, where=f" (the limit was passed on slide {number})"
            )
        pages.append(
            # The title goes in the label, not the section: chunking carries a section over
            # to the pages after it, and an untitled slide is not part of the one before.
            Page(
                number=number,
                text=page.text,
                label=f"slide {number}, {title}" if title else f"slide {number}",
                tables=page.tables,
            )
        )
    if not any(p.has_text for p in pages):
        raise CorruptFile(f"{name} has no text on any slide; there is nothing to index.")
    return ParsedDocument(doc_id=doc_id, name=name, mime=mime, pages=tuple(pages))


def _title(slide: Any) -> str:
    try:
        shape = slide.shapes.title
    except (KeyError, ValueError):
        return ""
    if shape is None or not shape.has_text_frame:
        return ""
    return " ".join(shape.text_frame.text.split())


def _reading_order(shapes: Any, depth: int) -> Iterator[Any]:
    def position(shape: Any) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    for shape in sorted(shapes, key=position):
        if getattr(shape, "shapes", None) is not None and depth < _MAX_GROUP_DEPTH:
            yield from _reading_order(shape.shapes, depth + 1)
        else:
            yield shape


def _add_shape(page: PageText, shape: Any) -> None:
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[cell_text(cell.text) for cell in row.cells] for row in shape.table.rows]
        rows = [r for r in rows if any(r)]
        if rows:
            page.add_table(rows[0], rows[1:])
        return
    if getattr(shape, "has_chart", False) and shape.has_chart:
        _add_chart(page, shape.chart)
        return
    if not getattr(shape, "has_text_frame", False) or not shape.has_text_frame:
        return
    lines = []
    for paragraph in shape.text_frame.paragraphs:
        text = " ".join(paragraph.text.split())
        if text:
            lines.append(f"{'  ' * (paragraph.level - 1)}- {text}" if paragraph.level else text)
    page.add("\n".join(lines))


def _add_chart(page: PageText, chart: Any) -> None:
    """A chart's data as a table: a row per category, a column per series."""
    heading = ""
    if chart.has_title and chart.chart_title.has_text_frame:
        heading = " ".join(chart.chart_title.text_frame.text.split())
    for plot in chart.plots:
        series = list(plot.series)
        if not series:
            continue
        categories = [cell_text(c) for c in plot.categories]
        columns = [list(s.values) for s in series]
        length = max([len(categories), *(len(c) for c in columns)])
        categories += [""] * (length - len(categories))
        header = [
            "category",
            *(cell_text(s.name) or f"series {i}" for i, s in enumerate(series, 1)),
        ]
        rows = [
            [categories[i], *(cell_text(c[i]) if i < len(c) else "" for c in columns)]
            for i in range(length)
        ]
        page.add(f"Chart: {heading}" if heading else "Chart:")
        page.add_table(header, rows)


def _notes(slide: Any) -> str:
    if not slide.has_notes_slide:
        return ""
    frame = slide.notes_slide.notes_text_frame
    if frame is None:
        return ""
    return " ".join(frame.text.split())
