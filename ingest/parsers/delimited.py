"""CSV and TSV files: rows as a Markdown table, located by their row numbers."""

from __future__ import annotations

import csv
import io

from ingest.parsers.common import ParseLimits, too_much_text
from ingest.parsers.tables import PageText, cell_text, column_name, split_header
from ingest.parsers.text import decode_text
from ragcore.errors import CorruptFile
from ragcore.types import Page, ParsedDocument

_DELIMITERS = ",;\t|"
_SAMPLE_CHARS = 64 * 1024


def parse_csv(
    data: bytes, *, name: str, doc_id: str, mime: str, limits: ParseLimits
) -> ParsedDocument:
    """One page holding the file as a table; each row keeps its number (the header is row 1,
    as a spreadsheet shows the file), so chunks are located as "rows 12–40".

    The delimiter is sniffed (comma, semicolon, tab or pipe); a file of one column has none.

    >>> doc = parse_csv(b"a;b\\n1;2\\n", name="t.csv", doc_id="d1", mime=CSV, limits=ParseLimits())
    >>> doc.pages[0].tables[0].row_numbers
    (2,)
    """
    text, note = decode_text(data, name=name)
    if len(text) > limits.text_chars_limit(len(data)):
        raise too_much_text(name, len(data), limits, chars=len(text))
    delimiter = sniff_delimiter(text[:_SAMPLE_CHARS], tab=name.lower().endswith(".tsv"))
    numbered = [
        (number, [cell_text(v) for v in record])
        for number, record in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1)
    ]
    numbered = [(n, r) for n, r in numbered if any(r)]
    if not numbered:
        raise CorruptFile(f"{name} has no values in it; there is nothing to index.")
    width = max(len(r) for _, r in numbered)
    rows = [r + [""] * (width - len(r)) for _, r in numbered]
    split = split_header(rows)
    page = PageText()
    for line in split.titles:
        page.add(line)
    body = numbered[split.body_start :]
    header = split.header or [column_name(i) for i in range(width)]
    if body:
        page.add_table(header, rows[split.body_start :], row_numbers=[n for n, _ in body])
    else:
        page.add(" · ".join(c for c in header if c))
    return ParsedDocument(
        doc_id=doc_id,
        name=name,
        mime=mime,
        pages=(Page(number=1, text=page.text, label="", tables=page.tables),),
        warnings=(note,) if note else (),
    )


def sniff_delimiter(sample: str, *, tab: bool = False) -> str:
    """The delimiter of a CSV sample: the csv module's sniffer among ``,;\\t|``, else the
    candidate that splits the first lines most evenly; a tab for TSV files that have one.

    >>> sniff_delimiter("Index;Name\\n1;Sheryl\\n")
    ';'
    """
    if tab and "\t" in sample:
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        pass
    lines = [line for line in sample.splitlines()[:20] if line.strip()]

    def steadiness(delimiter: str) -> tuple[int, int]:
        counts = [line.count(delimiter) for line in lines]
        return (min(counts, default=0), -len(set(counts)))

    best = max(_DELIMITERS, key=steadiness)
    return best if steadiness(best)[0] > 0 else ","
