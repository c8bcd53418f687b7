"""Ruled tables on a PDF page, found from PDFium's drawn lines and read cell by cell.

A table here is a grid of ruling lines (thin strokes, or the edges of filled or stroked cell
rectangles) with at least two rows and two columns holding text. Tables drawn with horizontal
rules only (common in papers) are left to the page text; measured in bench/RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF points

_THIN = 2.0  # a path at most this thick is a rule
_MIN_RULE = 6.0  # and at least this long
_SNAP = 2.5  # coordinates this close are the same line
_MAX_PATHS = 3000  # more drawn paths than this is a drawing or a chart, not a table
_MAX_RECT_SEGMENTS = 6  # a rectangle is a move, 3-4 lines and a close


@dataclass(frozen=True)
class PdfTable:
    """A table's box on the page and its cells, row by row, top first (blank rows and columns
    dropped); ``columns`` are the column boundaries, used to tell a table continued from the
    page before."""

    box: Box
    rows: tuple[tuple[str, ...], ...]
    columns: tuple[float, ...]

    def contains(self, x: float, y: float) -> bool:
        left, bottom, right, top = self.box
        return left - 1 <= x <= right + 1 and bottom - 1 <= y <= top + 1

    def same_columns(self, other: PdfTable) -> bool:
        return len(self.columns) == len(other.columns) and all(
            abs(a - b) <= _SNAP for a, b in zip(self.columns, other.columns, strict=True)
        )


def find_tables(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage) -> list[PdfTable]:
    """The ruled tables of the page, top to bottom."""
    horizontal, vertical = _rules(page)
    if len(horizontal) < 3 or len(vertical) < 3:
        return []
    tables = []
    for h_group, v_group in _grids(horizontal, vertical):
        table = _read_grid(h_group, v_group, textpage)
        if table is not None:
            tables.append(table)
    tables.sort(key=lambda t: -t.box[3])
    return tables


def _rules(page: pdfium.PdfPage) -> tuple[list[Box], list[Box]]:
    """Horizontal and vertical rule segments as boxes (thin lines and rectangle edges)."""
    horizontal: list[Box] = []
    vertical: list[Box] = []
    paths = page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=3)
    for count, obj in enumerate(paths, start=1):
        if count > _MAX_PATHS:
            return [], []
        left, bottom, right, top = obj.get_bounds()
        width, height = right - left, top - bottom
        if height <= _THIN and width >= _MIN_RULE:
            horizontal.append((left, bottom, right, top))
        elif width <= _THIN and height >= _MIN_RULE:
            vertical.append((left, bottom, right, top))
        elif width >= _MIN_RULE and height >= _MIN_RULE:
            segments = pdfium_c.FPDFPath_CountSegments(obj.raw)
            if 0 < segments <= _MAX_RECT_SEGMENTS:
                horizontal += [(left, bottom, right, bottom), (left, top, right, top)]
                vertical += [(left, bottom, left, top), (right, bottom, right, top)]
    return horizontal, vertical


def _grids(horizontal: list[Box], vertical: list[Box]) -> list[tuple[list[Box], list[Box]]]:
    """Groups of rules that touch one another: each group is one candidate table."""
    segments = [*horizontal, *vertical]
    n_h = len(horizontal)
    parent = list(range(len(segments)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, h in enumerate(horizontal):
        y = (h[1] + h[3]) / 2
        for j, v in enumerate(vertical, start=n_h):
            x = (v[0] + v[2]) / 2
            if h[0] - _SNAP <= x <= h[2] + _SNAP and v[1] - _SNAP <= y <= v[3] + _SNAP:
                parent[find(i)] = find(j)
    groups: dict[int, tuple[list[Box], list[Box]]] = {}
    for i, seg in enumerate(segments):
        h_list, v_list = groups.setdefault(find(i), ([], []))
        (h_list if i < n_h else v_list).append(seg)
    return [g for g in groups.values() if len(g[0]) >= 3 and len(g[1]) >= 3]


def _snapped(values: Sequence[float]) -> list[float]:
    out: list[float] = []
    for value in sorted(values):
        if not out or value - out[-1] > _SNAP:
            out.append(value)
    return out


def _read_grid(
    horizontal: list[Box], vertical: list[Box], textpage: pdfium.PdfTextPage
) -> PdfTable | None:
    ys = _snapped([(h[1] + h[3]) / 2 for h in horizontal])[::-1]  # top first
    xs = _snapped([(v[0] + v[2]) / 2 for v in vertical])
    if len(ys) < 3 or len(xs) < 3:
        return None
    grid = [
        [_cell(textpage, xs[c], ys[r + 1], xs[c + 1], ys[r]) for c in range(len(xs) - 1)]
        for r in range(len(ys) - 1)
    ]
    keep_cols = [c for c in range(len(xs) - 1) if any(row[c] for row in grid)]
    rows = tuple(tuple(row[c] for c in keep_cols) for row in grid if any(row[c] for c in keep_cols))
    filled = sum(1 for row in rows for cell in row if cell)
    if len(keep_cols) < 2 or len(rows) < 2 or filled < 0.3 * len(rows) * len(keep_cols):
        return None
    box = (xs[0], ys[-1], xs[-1], ys[0])
    columns = tuple(xs[c] for c in keep_cols)
    return PdfTable(box=box, rows=rows, columns=columns)


def _cell(
    textpage: pdfium.PdfTextPage, left: float, bottom: float, right: float, top: float
) -> str:
    text = textpage.get_text_bounded(left=left, bottom=bottom, right=right, top=top)
    # PDFium marks a hyphen it took for a line-end one with U+FFFE.
    text = text.replace("\ufffe", "-").replace("\x00", "")
    return " ".join(text.split())
