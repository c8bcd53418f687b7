"""Excel (.xlsx, .xlsm) workbooks: every sheet, its tables found and kept as Markdown tables."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from ingest.parsers.common import Deadline, ParseLimits, too_much_text
from ingest.parsers.tables import PageText, cell_text, column_name, split_header
from ragcore.errors import CorruptFile, FileTooLarge
from ragcore.types import Page, ParsedDocument

# <mergeCell ref="B1:C1"/>, with or without a namespace prefix. Read-only worksheets do not
# expose merged cells, and <mergeCells> comes after the sheet's data, so it is scanned for.
_MERGE_CELL = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref=\"([A-Za-z]{1,3}[0-9]{1,7}:[A-Za-z]{1,3}[0-9]{1,7})\""
)
_SCAN_BLOCK = 1 << 20
# A merge this large fills nothing: it is formatting over an empty area, not a value.
_MAX_MERGE_CELLS = 100_000

Box = tuple[int, int, int, int]  # min_col, min_row, max_col, max_row (1-based, inclusive)


def parse_xlsx(
    data: bytes, *, name: str, doc_id: str, mime: str, limits: ParseLimits
) -> ParsedDocument:
    """Sheet N (in workbook order, hidden ones too) is page N, labelled "sheet <name>".

    Each sheet is cut into tables at empty columns and empty rows; a table's header row is
    detected (a title above it becomes a line of text), and its rows keep their sheet row
    numbers, so chunks are located as "sheet Q3, rows 12–40". A merged cell's value fills the
    cells it covers. Cached values are read, not formulas (``data_only``), in read-only mode.

    >>> doc = parse_xlsx(data, name="b.xlsx", doc_id="d1", mime=XLSX, limits=ParseLimits())
    >>> doc.pages[0].label
    'sheet Duck Observations'
    """
    from openpyxl import load_workbook  # heavy import: only when a workbook comes

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    budget = _Budget(name, len(data), limits)
    deadline = Deadline(limits.timeout_seconds, name)
    pages: list[Page] = []
    try:
        for number, sheet in enumerate(workbook.worksheets, start=1):
            deadline.check(f"sheet {sheet.title}")
            if number > limits.max_pages:
                raise FileTooLarge(
                    f"{name} has more than {limits.max_pages:,} sheets, the limit for one file; "
                    "split it into smaller files."
                )
            page = _sheet_page(sheet, budget)
            pages.append(
                Page(
                    number=number, text=page.text, label=f"sheet {sheet.title}", tables=page.tables
                )
            )
    finally:
        workbook.close()
    if not any(p.has_text for p in pages):
        raise CorruptFile(f"{name} has no values in any sheet; there is nothing to index.")
    return ParsedDocument(doc_id=doc_id, name=name, mime=mime, pages=tuple(pages))


class _Budget:
    """Counts the characters read so far against the file's text limit."""

    def __init__(self, name: str, file_bytes: int, limits: ParseLimits) -> None:
        self.name, self.file_bytes, self.limits = name, file_bytes, limits
        self.cap = limits.text_chars_limit(file_bytes)
        self.used = 0

    def spend(self, chars: int, sheet: str) -> None:
        self.used += chars
        if self.used > self.cap:
            raise too_much_text(
                self.name,
                self.file_bytes,
                self.limits,
                where=f" (the limit was passed in sheet {sheet})",
            )


def _sheet_page(sheet: Any, budget: _Budget) -> PageText:
    merges = _merged_boxes(sheet)
    sheet.reset_dimensions()  # a wrong <dimension> in the file would cut rows short
    grid: list[list[str]] = []
    for values in sheet.iter_rows(values_only=True):
        row = [cell_text(v) for v in values]
        while row and not row[-1]:
            row.pop()
        budget.spend(sum(len(c) + 3 for c in row), sheet.title)
        grid.append(row)
    merged_rows = _fill_merges(grid, merges)
    page = PageText()
    for top, rows, band in _tables(grid):
        # Only the columns this table fills: its band may be wider because of another table.
        columns = [c for c in band if any(c < len(r) and r[c] for r in rows)]
        block = [[row[c] if c < len(row) else "" for c in columns] for row in rows]
        kept = list(zip(range(top, top + len(rows)), block, strict=True))
        split = split_header([r for _, r in kept], merged=[n in merged_rows for n, _ in kept])
        for line in split.titles:
            page.add(line)
        header = split.header or [column_name(c) for c in columns]
        body = kept[split.body_start :]
        if body:
            page.add_table(header, [r for _, r in body], row_numbers=[n for n, _ in body])
        elif split.header:
            page.add(" · ".join(c for c in split.header if c))
    return page


def _merged_boxes(sheet: Any) -> list[Box]:
    from openpyxl.utils.cell import range_boundaries

    source = getattr(sheet, "_get_source", None)  # ReadOnlyWorksheet's own reader
    if source is None:
        return []
    refs: set[bytes] = set()
    tail = b""
    with source() as stream:
        while block := stream.read(_SCAN_BLOCK):
            text = tail + block
            refs.update(m.group(1) for m in _MERGE_CELL.finditer(text))
            tail = text[-256:]
    boxes = []
    for ref in refs:
        min_col, min_row, max_col, max_row = range_boundaries(ref.decode("ascii"))
        if (max_col - min_col + 1) * (max_row - min_row + 1) <= _MAX_MERGE_CELLS:
            boxes.append((min_col, min_row, max_col, max_row))
    return boxes


def _fill_merges(grid: list[list[str]], boxes: Sequence[Box]) -> set[int]:
    """Copy each merged cell's value over the cells it covers; the rows where merges start.

    Only into rows that exist and hold other values: a merge reaching into empty rows is
    formatting, and filling them would invent rows.
    """
    starts: set[int] = set()
    for min_col, min_row, max_col, max_row in boxes:
        if min_row > len(grid):
            continue
        top = grid[min_row - 1]
        value = top[min_col - 1] if min_col - 1 < len(top) else ""
        if not value:
            continue
        starts.add(min_row)
        for r in range(min_row, min(max_row, len(grid)) + 1):
            row = grid[r - 1]
            if r != min_row and not any(row):
                continue
            if len(row) < max_col:
                row.extend([""] * (max_col - len(row)))
            for c in range(min_col, max_col + 1):
                if not row[c - 1]:
                    row[c - 1] = value
    return starts


def _tables(grid: Sequence[Sequence[str]]) -> list[tuple[int, list[Sequence[str]], list[int]]]:
    """(first sheet row, rows, column indexes) of each table: blocks of values separated by
    empty columns, then by empty rows within those columns; in reading order."""
    width = max((len(r) for r in grid), default=0)
    filled = [any(c < len(r) and r[c] for r in grid) for c in range(width)]
    bands: list[list[int]] = []
    for c in range(width):
        if not filled[c]:
            continue
        if bands and bands[-1][-1] == c - 1:
            bands[-1].append(c)
        else:
            bands.append([c])
    found = []
    for columns in bands:
        start: int | None = None
        for i in range(len(grid) + 1):
            empty = i == len(grid) or not any(c < len(grid[i]) and grid[i][c] for c in columns)
            if not empty and start is None:
                start = i
            elif empty and start is not None:
                found.append((start + 1, list(grid[start:i]), columns))
                start = None
    found.sort(key=lambda t: (t[0], t[2][0]))
    return found
