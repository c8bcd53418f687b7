"""Tables as Markdown, and page text assembled from blocks with its tables marked for chunking."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ragcore.types import TableSpan

# Blocks of a page are separated by a blank line, so chunkers split between them first.
BLOCK_BREAK = "\n\n"

# A Markdown table: a header row, its rule (| --- | :-: |), then body rows, each a line
# starting and ending with a pipe.
_MARKDOWN_TABLE = re.compile(
    r"^\|[^\n]*\|[ \t]*\n"
    r"\|(?:[ \t]*:?-+:?[ \t]*\|)+[ \t]*(?:\n|\Z)"
    r"(?:\|[^\n]*\|[ \t]*(?:\n|\Z))*",
    re.MULTILINE,
)


def cell_text(value: object) -> str:
    """A cell's value as it reads in a Markdown table: one line, pipes escaped.

    Whole floats lose their ``.0`` (spreadsheets store every number as a float), dates and
    times are ISO 8601, and a midnight date-time is just its date.

    >>> [cell_text(v) for v in (None, 3.0, 0.25, "a|b\\nc", dt.datetime(2024, 5, 1))]
    ['', '3', '0.25', 'a\\\\|b c', '2024-05-01']
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    elif isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    elif isinstance(value, dt.date | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    return " ".join(text.split()).replace("|", "\\|")


def markdown_row(cells: Sequence[str]) -> str:
    """One table row; cells are expected to be :func:`cell_text` already."""
    return "| " + " | ".join(cells) + " |"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; rows shorter than the header are padded, longer ones widen it.

    >>> print(markdown_table(["Year", "Ducks"], [["2019", "120"]]))
    | Year | Ducks |
    | --- | --- |
    | 2019 | 120 |
    """
    body = [list(r) for r in rows]
    width = max([len(header), *(len(r) for r in body)], default=0)
    width = max(width, 1)
    head = [*header, *[""] * (width - len(header))]
    lines = [markdown_row(head), markdown_row(["---"] * width)]
    lines.extend(markdown_row([*r, *[""] * (width - len(r))]) for r in body)
    return "\n".join(lines)


class PageText:
    """A page's text built block by block, each table's span recorded for chunking.

    >>> page = PageText()
    >>> page.add("Ducks seen each year:")
    >>> page.add_table(["Year", "Ducks"], [["2019", "120"]], row_numbers=(5,))
    >>> page.text.splitlines()[2], page.tables[0].row_numbers
    ('| Year | Ducks |', (5,))
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._tables: list[TableSpan] = []

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def tables(self) -> tuple[TableSpan, ...]:
        return tuple(self._tables)

    def __len__(self) -> int:
        return self._length

    def add(self, block: str) -> None:
        """A paragraph, heading or list: stripped of surrounding blank lines; empty ones skipped."""
        block = block.strip("\n")
        if block.strip():
            self._append(block)

    def add_table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        row_numbers: Sequence[int] = (),
    ) -> None:
        """A table of :func:`cell_text` cells; ``row_numbers`` as in :class:`TableSpan`."""
        if row_numbers and len(row_numbers) != len(rows):
            raise ValueError(
                f"row_numbers must number every row, got {len(row_numbers)} for {len(rows)} rows"
            )
        table = markdown_table(header, rows)
        start = self._append(table)
        header_end = start + table.index("\n", table.index("\n") + 1) + 1 if rows else None
        end = start + len(table)
        self._tables.append(
            TableSpan(
                start=start,
                header_end=end if header_end is None else header_end,
                end=end,
                row_numbers=tuple(row_numbers),
            )
        )

    def _append(self, block: str) -> int:
        if self._parts:
            self._parts.append(BLOCK_BREAK)
            self._length += len(BLOCK_BREAK)
        start = self._length
        self._parts.append(block)
        self._length += len(block)
        return start


def find_markdown_tables(text: str) -> tuple[TableSpan, ...]:
    """The Markdown tables in ``text`` (as written by markdownify), without row numbers.

    >>> find_markdown_tables("Intro\\n\\n| a | b |\\n| --- | --- |\\n| 1 | 2 |\\n")
    (TableSpan(start=7, header_end=31, end=40, row_numbers=()),)
    """
    spans = []
    for match in _MARKDOWN_TABLE.finditer(text):
        start, end = match.start(), match.end()
        rule_end = text.find("\n", text.find("\n", start) + 1)
        header_end = end if rule_end == -1 or rule_end >= end else rule_end + 1
        end = end - 1 if text[end - 1 : end] == "\n" else end
        spans.append(TableSpan(start=start, header_end=min(header_end, end), end=end))
    return tuple(spans)


# A value that is data rather than a label: a number (with sign, thousands separators, a
# percent or currency sign) or an ISO date.
_DATA_VALUE = re.compile(
    r"^[-+(]?[$€£¥]?\d[\d,. ]*(?:[eE][-+]?\d+)?%?\)?$|^\d{4}-\d{2}-\d{2}(?:[ T][\d:.]+)?$"
)
_MAX_TITLE_ROWS = 5
_MAX_HEADER_ROWS = 3


@dataclass(frozen=True)
class HeaderSplit:
    """How a block of rows starts: title lines, then a header row (or none), then the body.

    ``body_start`` indexes the first body row in the rows given to :func:`split_header`.
    """

    titles: tuple[str, ...]
    header: list[str] | None
    body_start: int


def split_header(rows: Sequence[Sequence[str]], *, merged: Sequence[bool] = ()) -> HeaderSplit:
    """Find the title lines and the header row of a table read from a sheet or a CSV file.

    A row holding one value (once, or repeated by a merge) above the rest is a title. The
    next row is the header when more of its values are labels than numbers or dates; with
    ``merged[i]`` true (merges start in row i), the header row's merges group the row below
    it, which joins the header ("Sales" over "Q1", "Q2" gives "Sales Q1", "Sales Q2").
    Without a header the caller names the columns itself.

    >>> split_header([["Ducks per year", ""], ["Year", "Ducks"], ["2019", "120"]])
    HeaderSplit(titles=('Ducks per year',), header=['Year', 'Ducks'], body_start=2)
    """
    width = max((len(r) for r in rows), default=0)
    if len(rows) == 1:
        values = _distinct(rows[0])
        return HeaderSplit(
            titles=(" · ".join(values),) if values else (), header=None, body_start=1
        )
    titles: list[str] = []
    i = 0
    while width > 1 and i < min(len(rows) - 2, _MAX_TITLE_ROWS) and len(_distinct(rows[i])) == 1:
        titles.append(_distinct(rows[i])[0])
        i += 1
    if not _is_label_row(rows[i]):
        return HeaderSplit(titles=tuple(titles), header=None, body_start=i)
    parts = [[c] for c in _padded(rows[i], width)]
    j = i + 1
    while (
        j < len(rows) - 1
        and j - i < _MAX_HEADER_ROWS
        and j - 1 < len(merged)
        and merged[j - 1]
        and _is_label_row(rows[j])
    ):
        for column, cell in zip(parts, _padded(rows[j], width), strict=True):
            column.append(cell)
        j += 1
    header = [" ".join(_distinct(column)) for column in parts]
    return HeaderSplit(titles=tuple(titles), header=header, body_start=j)


def _padded(row: Sequence[str], width: int) -> list[str]:
    return [*row, *[""] * (width - len(row))]


def _distinct(cells: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for cell in cells:
        if cell and cell not in seen:
            seen.append(cell)
    return seen


def _is_label_row(row: Sequence[str]) -> bool:
    values = [c for c in row if c]
    data = sum(1 for c in values if _DATA_VALUE.match(c))
    return bool(values) and len(values) - data > data


def column_name(index: int) -> str:
    """A column as a spreadsheet names it, for tables without a header: 0 -> "column A".

    >>> column_name(0), column_name(27)
    ('column A', 'column AB')
    """
    letters = ""
    n = index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"column {letters}"
