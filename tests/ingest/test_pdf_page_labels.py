"""PDF pages printed with other numbers than their place in the file are cited as printed."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.constants import PageLabelStyle

from ingest.chunking import chunk_location
from ingest.parsers.common import ParseLimits
from ingest.parsers.pdf import parse_pdf
from ragcore.testing.documents import make_text_pdf


def labelled_pdf(path: Path) -> bytes:
    """Four pages: front matter numbered i, ii, then the body numbered from 1."""
    make_text_pdf(path, ["Title page", "Preface text", "Chapter one text", "Chapter two text"])
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.set_page_label(0, 1, style=PageLabelStyle.LOWERCASE_ROMAN)
    writer.set_page_label(2, 3, style=PageLabelStyle.DECIMAL, start=1)
    with path.open("wb") as out:
        writer.write(out)
    return path.read_bytes()


def test_pages_are_placed_by_their_printed_label_with_their_index_beside_it(
    tmp_path: Path,
) -> None:
    data = labelled_pdf(tmp_path / "book.pdf")
    pages = parse_pdf(data, name="book.pdf", doc_id="d1", limits=ParseLimits()).pages
    assert [p.place for p in pages] == [
        "page i (PDF page 1)",
        "page ii (PDF page 2)",
        "page 1 (PDF page 3)",
        "page 2 (PDF page 4)",
    ]
    assert chunk_location(pages[3]) == "page 2 (PDF page 4)"


def test_pages_without_labels_or_labelled_by_their_index_keep_page_n(tmp_path: Path) -> None:
    plain = make_text_pdf(tmp_path / "plain.pdf", ["one", "two"]).read_bytes()
    pages = parse_pdf(plain, name="plain.pdf", doc_id="d2", limits=ParseLimits()).pages
    assert [p.place for p in pages] == ["page 1", "page 2"]
    path = tmp_path / "same.pdf"
    make_text_pdf(path, ["one", "two"])
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.set_page_label(0, 1, style=PageLabelStyle.DECIMAL, start=1)
    with path.open("wb") as out:
        writer.write(out)
    pages = parse_pdf(path.read_bytes(), name="same.pdf", doc_id="d3", limits=ParseLimits()).pages
    assert [p.place for p in pages] == ["page 1", "page 2"]
