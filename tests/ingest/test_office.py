"""Word, PowerPoint, Excel, HTML and CSV: parsed by content, tables kept, every chunk located."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from ingest.chunking import chunk_pages
from ingest.parsers import ParseLimits, markdown_sections, parse_file
from ingest.parsers.detect import CSV, DOCX, HTML, PPTX, XLSX, detect_type
from ingest.parsers.tables import split_header
from ingest.service import build_worker
from ragcore import library
from ragcore.errors import CorruptFile, FileTooLarge, UnsupportedFile
from ragcore.generation.prompt import source_attrs
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.testing.runtime import make_runtime
from ragcore.testing.tokenizers import WhitespaceTokenizer
from ragcore.types import ChunkingParams, Strategy

OFFICE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "office"
shared = pytest.mark.skipif(not OFFICE.is_dir(), reason="../shared/data/office is not here")


def parse(path: Path, name: str | None = None, limits: ParseLimits | None = None):  # type: ignore[no-untyped-def]
    return parse_file(path, name=name or path.name, doc_id="d1", limits=limits or ParseLimits())


def chunks_of(doc, size: int = 60):  # type: ignore[no-untyped-def]
    sections = {p.number: markdown_sections(p.text) for p in doc.pages}
    params = ChunkingParams(Strategy.RECURSIVE, size, 5)
    return chunk_pages(
        doc.doc_id, doc.pages, params, WhitespaceTokenizer(), sections_by_page=sections
    )


# --- the shared files -------------------------------------------------------------------------


@shared
def test_word_tables_become_markdown_tables_with_merged_cells_repeated() -> None:
    doc = parse(OFFICE / "word_tables.docx")
    assert doc.mime == DOCX
    (page,) = doc.pages
    assert page.text.startswith("# Test with tables\n\nA uniform table\n\n| Header 0.0 |")
    assert "| Cell 1.0 | Merged Cell 1.1 1.2 | Merged Cell 1.1 1.2 |" in page.text
    assert "| Cell 2.0 | Merged Cell 1.1 2.1 | Cell 2.2 |" in page.text  # a vertical span
    assert len(page.tables) == 7
    for table in page.tables:
        assert page.text[table.start : table.header_end].count("\n") == 2  # header and rule
    chunks = chunks_of(doc)
    assert {c.location for c in chunks} == {"Test with tables"}


@shared
def test_word_headings_give_the_section_path() -> None:
    doc = parse(OFFICE / "unit_test_headers.docx")
    paths = [path for _, path in markdown_sections(doc.pages[0].text)]
    # The Title style is the top of the path; Heading N sits below it.
    assert paths[:4] == [
        "Test Document",
        "Test Document > Section 1",
        "Test Document > Section 1 > Section 1.1",
        "Test Document > Section 1 > Section 1.2",
    ]
    located = {c.location for c in chunks_of(doc, size=12)}
    assert "Test Document > Section 1 > Section 1.2 > Section 1.2.3" in located


@shared
def test_word_content_controls_lists_and_long_tables() -> None:
    doc = parse(OFFICE / "docx_rich_tables_01.docx")
    (page,) = doc.pages
    # The two tables sit inside content controls (w:sdt), which python-docx's iteration skips.
    assert len(page.tables) == 2
    assert "\n- Phase 1 (Macro-Level Structural Realignment)" in page.text
    header = page.text[page.tables[0].start : page.tables[0].header_end]
    assert header.startswith("| Feature | Action Needed | Comment/Links |")
    # The long table is cut between rows, and every later piece repeats its header.
    in_table = [
        c for c in chunks_of(doc, size=200) if page.tables[0].start <= c.start < page.tables[0].end
    ]
    assert len(in_table) > 3
    assert all(c.text.startswith(header) for c in in_table)
    assert all(len(c.text.split()) <= 200 for c in in_table)


@shared
def test_powerpoint_slides_are_pages_with_tables_and_notes() -> None:
    doc = parse(OFFICE / "powerpoint_sample.pptx")
    assert doc.mime == PPTX
    assert [p.label for p in doc.pages] == [
        "slide 1, Test Table Slide",
        "slide 2, Second slide title",
        "slide 3",
    ]
    assert len(doc.pages[0].tables) == 1 and "| R1 | True | False |" in doc.pages[0].text
    assert "Notes: Some notes on the second slide." in doc.pages[1].text
    assert "And baz things" in doc.pages[1].text
    chunks = chunks_of(doc)
    assert {c.location for c in chunks if c.page == 2} == {"slide 2, Second slide title"}


@shared
def test_excel_every_sheet_with_headers_titles_and_row_numbers() -> None:
    doc = parse(OFFICE / "xlsx_01.xlsx")
    assert doc.mime == XLSX
    assert [p.label for p in doc.pages] == [f"sheet Sheet{i}" for i in range(1, 5)]
    sheet2 = doc.pages[1]
    # Three tables side by side and below each other, each with its own header.
    assert len(sheet2.tables) == 3
    assert [t.row_numbers[0] for t in sheet2.tables] == [2, 6, 15]
    # Sheet3's header is two rows, grouped by merged cells.
    assert sheet2.text.count("| col-1 | col-2 | col-3 |\n") == 2
    assert "| first | header second | header third |" in doc.pages[2].text

    ducks = parse(OFFICE / "xlsx_05_table_with_title.xlsx")
    (page,) = ducks.pages
    assert page.text.startswith(
        "Number of freshwater ducks per year\n\n| Year | Freshwater Ducks |"
    )
    assert page.tables[0].row_numbers == (5, 6, 7, 8, 9, 10)
    (chunk,) = chunks_of(ducks)
    assert chunk.location == "sheet Duck Observations, rows 5–10"


@shared
@pytest.mark.parametrize("name", ["example_01.html", "table_01.html", "table_with_heading_01.html"])
def test_html_keeps_headings_lists_tables_and_text_after_them(name: str) -> None:
    doc = parse(OFFICE / name)
    assert doc.mime == HTML
    text = doc.pages[0].text
    if name == "example_01.html":
        assert text.startswith("# Introduction\n\nThis is the first paragraph")
        assert "## Background" in text and "- First item in unordered list" in text
        assert "42. First item in ordered list with start" in text
        assert chunks_of(doc, size=12)[-1].location == "Introduction > Background"
    else:
        assert "| A | B |\n| --- | --- |\n| 1... | 2... |" in text
        assert len(doc.pages[0].tables) == 1
        assert text.rstrip().endswith(("After table", "After the table"))


@shared
@pytest.mark.parametrize("name", ["csv-comma.csv", "csv-semicolon.csv"])
def test_csv_rows_are_a_table_located_by_row(name: str) -> None:
    doc = parse(OFFICE / name)
    assert doc.mime == CSV
    (page,) = doc.pages
    assert page.text.startswith("| Index | Customer Id | First Name | Last Name | Company |")
    # A quoted field keeps its delimiter.
    assert (
        "Lozano, Dr" if name == "csv-comma.csv" else "Dominguez;Mcmillan and Donovan"
    ) in page.text
    assert page.tables[0].row_numbers[0] == 2
    chunks = chunks_of(doc, size=120)
    assert len(chunks) > 1
    assert all(c.text.startswith("| Index | Customer Id |") for c in chunks)
    assert chunks[-1].location.startswith("rows ") or chunks[-1].location.startswith("row ")


# --- generated files --------------------------------------------------------------------------


def _workbook(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    q3 = book.active
    q3.title = "Q3"
    q3["A1"] = "Budget Q3"
    q3.merge_cells("A1:C1")
    q3.append([])
    q3.append(["Team", "Item", "Cost"])
    for i in range(40):
        q3.append(["Platform" if i < 20 else "Search", f"quokka item {i} part{i}x", 100.5 + i])
    q3.merge_cells("A4:A23")  # one merged cell names the team of twenty rows
    q4 = book.create_sheet("Q4")
    q4.append(["Region", "Sales", None])
    q4.append([None, "Jan", "Feb"])
    q4.merge_cells("A1:A2")
    q4.merge_cells("B1:C1")
    q4.append(["North", 1, 2])
    q4.append(["South", 3, 4])
    book.create_sheet("Empty")
    book.save(path)
    return path


def test_xlsx_with_several_sheets_and_merged_cells(tmp_path: Path) -> None:
    doc = parse(_workbook(tmp_path / "budget.xlsx"))
    assert [p.label for p in doc.pages] == ["sheet Q3", "sheet Q4", "sheet Empty"]
    q3, q4, empty = doc.pages
    assert q3.text.startswith("Budget Q3\n\n| Team | Item | Cost |")
    assert "| Platform | quokka item 19 part19x | 119.5 |" in q3.text  # merged value, every row
    assert "| Search | quokka item 20 part20x | 120.5 |" in q3.text
    assert q3.tables[0].row_numbers == tuple(range(4, 44))
    assert "| Region | Sales Jan | Sales Feb |" in q4.text  # a two-row merged header
    assert "| North | 1 | 2 |" in q4.text
    assert not empty.has_text

    chunks = chunks_of(doc, size=60)
    assert chunks[0].text.startswith("Budget Q3")  # the title, alone or with the first rows
    q3_chunks = [c for c in chunks if c.page == 1 and "rows" in c.location]
    assert len(q3_chunks) > 2
    assert all("| Team | Item | Cost |" in c.text for c in q3_chunks)
    assert q3_chunks[0].location.startswith("sheet Q3, rows 4–")
    assert q3_chunks[-1].location.endswith("–43")
    # Every row is in exactly one chunk.
    rows = [line for c in q3_chunks for line in c.text.splitlines() if "quokka item" in line]
    assert len(rows) == len(set(rows)) == 40


def test_header_detection_rules() -> None:
    numbers = split_header([["1", "2"], ["3", "4"]])
    assert numbers.header is None and numbers.body_start == 0
    titled = split_header([["Report", "Report"], ["x", ""], ["Name", "Age"], ["Ann", "31"]])
    assert titled.titles == ("Report", "x") and titled.header == ["Name", "Age"]


def _pptx_with_chart(path: Path) -> Path:
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Quarterly ducks"
    data = CategoryChartData()
    data.categories = ["Q1", "Q2"]
    data.add_series("Mallards", (12, 15))
    data.add_series("Teals", (3, 4.5))
    slide.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(2), Inches(6), Inches(4), data
    )
    slide.notes_slide.notes_text_frame.text = "Counted by the warden."
    deck.save(str(path))
    return path


def test_pptx_chart_series_become_a_small_table(tmp_path: Path) -> None:
    (page,) = parse(_pptx_with_chart(tmp_path / "ducks.pptx")).pages
    assert page.label == "slide 1, Quarterly ducks"
    assert (
        "| category | Mallards | Teals |\n| --- | --- | --- |\n| Q1 | 12 | 3 |\n| Q2 | 15 | 4.5 |"
        in page.text
    )
    assert page.text.endswith("Notes: Counted by the warden.")


def _docx(path: Path) -> Path:
    from docx import Document

    document = Document()
    document.add_heading("Pump manual", 1)
    document.add_heading("Oil", 2)
    document.add_paragraph("Change the oil every 200 hours.")
    document.add_paragraph("Drain the sump", style="List Number")
    document.add_paragraph("Refill", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Part", "Interval"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "Filter | mesh", "500 h"
    document.save(str(path))
    return path


def test_docx_lists_and_pipes_in_cells(tmp_path: Path) -> None:
    (page,) = parse(_docx(tmp_path / "pump.docx")).pages
    assert page.text == (
        "# Pump manual\n\n## Oil\n\nChange the oil every 200 hours.\n\n1. Drain the sump\n\n"
        "- Refill\n\n| Part | Interval |\n| --- | --- |\n| Filter \\| mesh | 500 h |"
    )


# --- detection and limits ---------------------------------------------------------------------


def test_detection_by_content(tmp_path: Path) -> None:
    docx = _docx(tmp_path / "pump.docx").read_bytes()
    for name in ("pump.txt", "pump.pdf", "pump.csv", "pump.html"):
        (tmp_path / name).write_bytes(docx)
        with pytest.raises(
            UnsupportedFile, match=rf"{name} is named like .*looks like a Word document"
        ):
            parse(tmp_path / name)
    # Within Office formats the content decides, as between image formats.
    book = _workbook(tmp_path / "budget.xlsx").read_bytes()
    (tmp_path / "budget.docx").write_bytes(book)
    assert parse(tmp_path / "budget.docx").mime == XLSX
    assert detect_type(docx[:8192], "pump.pptx") == DOCX
    # A ZIP that is no Office file, named like one.
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("notes.txt", "hello")
    (tmp_path / "notes.docx").write_bytes(plain.getvalue())
    with pytest.raises(
        UnsupportedFile, match=r"notes\.docx is named like a Word document.*without the parts"
    ):
        parse(tmp_path / "notes.docx")
    (tmp_path / "cut.docx").write_bytes(docx[: len(docx) // 2])
    with pytest.raises(CorruptFile, match=r"cut\.docx"):
        parse(tmp_path / "cut.docx")


def _zip_bomb(path: Path, unpacked_mb: int) -> Path:
    """A .docx whose document.xml unpacks to ``unpacked_mb`` MB of spaces (about 1000:1)."""
    base = io.BytesIO(_docx(path.with_suffix(".base.docx")).read_bytes())
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                out.writestr(info, source.read(info))
        xml = source.read("word/document.xml")
        cut = xml.index(b"<w:body>") + len(b"<w:body>")
        with out.open("word/document.xml", "w", force_zip64=True) as entry:
            entry.write(xml[:cut])
            block = b" " * (1 << 20)
            for _ in range(unpacked_mb):
                entry.write(block)
            entry.write(xml[cut:])
    return path


def test_zip_bomb_docx_is_refused_from_its_directory(tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path / "bomb.docx", unpacked_mb=300)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    started = time.monotonic()
    with pytest.raises(FileTooLarge, match=r"bomb\.docx unpacks to 30\d MB .*zip bomb"):
        parse(bomb)
    assert time.monotonic() - started < 2.0
    # The limits are settings; under them the same kind of file parses.
    small = _zip_bomb(tmp_path / "small.docx", unpacked_mb=1)
    assert parse(small).pages[0].text.startswith("# Pump manual")
    with pytest.raises(FileTooLarge, match=r"made of \d+ parts, more than the limit of 5"):
        parse(small, limits=ParseLimits(max_archive_entries=5))


# --- through the pipeline ---------------------------------------------------------------------


def test_locations_reach_the_catalog_hits_and_prompt(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data")
    try:
        for path in (
            _workbook(tmp_path / "budget.xlsx"),
            _pptx_with_chart(tmp_path / "ducks.pptx"),
        ):
            library.add_file(
                rt.catalog, rt.settings.uploads_dir, path, ChunkingParams(Strategy.RECURSIVE, 60, 5)
            )
        outcomes = build_worker(rt).run_until_idle()
        assert all(o.ok for o in outcomes), outcomes
        rows = rt.catalog.chunks()
        assert all(r.location for r in rows)
        config = RetrievalConfig(mode="hybrid", rerank=False, top_k=3)
        hits = Retriever(rt.catalog, rt.store, rt.models).run("part33x", config).hits
        top = hits[0]
        assert top.file_name == "budget.xlsx"
        assert top.where.startswith("sheet Q3, rows ") and "part33x" in top.text
        assert f'location="{top.where}"' in source_attrs(1, top)
        slide = Retriever(rt.catalog, rt.store, rt.models).run("Mallards Teals", config).hits[0]
        assert slide.where == "slide 1, Quarterly ducks"
    finally:
        rt.close()


def test_office_files_parse_in_the_sandbox(tmp_path: Path) -> None:
    from ingest.sandbox import ParseSandbox, SandboxLimits

    path = _docx(tmp_path / "pump.docx")
    sandbox = ParseSandbox(SandboxLimits(timeout_seconds=60))
    doc = sandbox.parse(path, name="pump.docx", doc_id="d1", limits=ParseLimits())
    assert doc == parse(path)
    bomb = _zip_bomb(tmp_path / "bomb.docx", unpacked_mb=300)
    with pytest.raises(FileTooLarge, match="zip bomb"):
        sandbox.parse(bomb, name="bomb.docx", doc_id="d2", limits=ParseLimits())
