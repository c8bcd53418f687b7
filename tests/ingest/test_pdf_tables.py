"""Ruled tables in PDFs come out as Markdown tables on their page, and a row can be found."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from ingest.parsers import parse_file
from ingest.parsers.pdf_tables import find_tables
from ingest.pipeline import Ingestor
from ragcore import library
from ragcore.retrieval import Retriever
from ragcore.runtime import LLMChoice, Runtime, build_answerer, build_models
from ragcore.settings import Settings
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, ChunkKind, ParsedDocument, Strategy

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("RAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
WARN = SHARED_DATA / "pdfs" / "ca_warn_report_2015-2016.pdf"
FIPS = SHARED_DATA / "pdfs" / "nist_fips199.pdf"
DPR = SHARED_DATA / "pdfs" / "dpr_arxiv2004.04906v3.pdf"
ZERO_TRUST = SHARED_DATA / "pdfs" / "nist_sp800-207_zero_trust.pdf"

pytestmark = pytest.mark.skipif(
    not WARN.is_file(), reason=f"shared PDFs not found under {WARN.parent} (set RAG_SHARED_DATA)"
)
HEADER = "| Notice Date | Effective | Received | Company | City | No. Of | Layoff/Closure |"
SUMMARY = (
    "| Summary by Month | Notices | Employees Affected | Permanent Layoff | Temporary Layoff | "
    "Not Identified Layoff | Permanent Closure | Temporary Closure | Not Identified Closure |"
)
ROW = "| 08/13/2015 | 10/23/2015 | 08/13/2015 | Motorola Mobility LLC | Sunnyvale | 213 |"


@pytest.fixture(scope="module")
def warn() -> ParsedDocument:
    return parse_file(WARN, name=WARN.name, doc_id="warn")


def test_warn_report_pages_are_markdown_tables_with_their_header(warn: ParsedDocument) -> None:
    assert len(warn.pages) == 16
    for page in warn.pages[:15]:
        (first, *_) = page.tables
        # Pages 2-15 continue page 1's table: its header row heads them too.
        assert page.text[first.start : first.header_end].startswith(HEADER), page.number
    page3 = warn.pages[2].text
    assert ROW in page3
    # Every row is one line: the columns of a row are no longer pages apart.
    line = next(x for x in page3.splitlines() if "Motorola Mobility" in x)
    assert line.startswith(ROW)
    # The last page's summary is a table of its own, with its own header.
    summary = warn.pages[15]
    assert summary.text[summary.tables[0].start :].startswith(SUMMARY)


def test_ruled_table_cells_keep_their_text() -> None:
    document = pdfium.PdfDocument(FIPS)
    try:
        page = document[9]
        textpage = page.get_textpage()
        (table,) = find_tables(page, textpage)
    finally:
        document.close()
    assert table.rows[1][-3:] == ("LOW", "MODERATE", "HIGH")
    assert any("limited adverse effect" in cell for cell in table.rows[2])


def test_text_pages_have_no_tables_and_clean_words() -> None:
    dpr = parse_file(DPR, name=DPR.name, doc_id="dpr")
    assert not any(page.tables for page in dpr.pages)
    text = " ".join(page.text for page in dpr.pages)
    # PDFium's line-end hyphens are joined ("us-\ning" was "us\ufffeing")...
    assert "using dense" in text and "\ufffe" not in text
    zta = " ".join(page.text for page in parse_file(ZERO_TRUST, name="z.pdf", doc_id="z").pages)
    # ...and footnote marks raised above a word's baseline are dropped; version digits stay.
    assert "Kindervag while" in zta and "Kindervag1" not in zta
    assert "Forrester. Zero" in zta.replace("\n", " ")


@pytest.fixture(scope="module")
def warn_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, str]]:
    rt = make_runtime(tmp_path_factory.mktemp("warn") / "data", image_model="", reranker_model="")
    params = ChunkingParams(Strategy.RECURSIVE, 200, 30)
    added = library.add_file(rt.catalog, rt.settings.uploads_dir, WARN, params)
    Ingestor(rt.catalog, rt.store, rt.models, thumbs_dir=rt.thumbs_dir).ingest(
        added.document.id, params
    )
    yield rt, added.document.id
    rt.close()


def test_table_chunks_keep_rows_whole_under_their_header(warn_library: tuple[Runtime, str]) -> None:
    rt, doc_id = warn_library
    text_chunks = [r for r in rt.catalog.chunks(doc_id) if r.kind == ChunkKind.TEXT]
    tables = [r for r in text_chunks if r.page <= 15 and r.text.startswith("|")]
    assert len(tables) >= 15
    for row in tables:
        lines = row.text.splitlines()
        assert lines[0] in (HEADER, SUMMARY), (row.page, lines[0])
        assert all(line.startswith("|") and line.endswith("|") for line in lines)
    # Page 1's notes below its table are text of their own.
    assert any(r.page == 1 and r.text.startswith("WARN Report") for r in text_chunks)


QUESTION = "How many employees did Motorola Mobility lay off in Sunnyvale?"


def test_keyword_search_finds_the_row_on_its_page(warn_library: tuple[Runtime, str]) -> None:
    rt, _ = warn_library
    # The question's rare words; the full question also matches the summary table's header
    # ("Employees", "lay-offs"), which the fast fake embedder cannot outweigh (see the next test).
    result = Retriever(rt.catalog, rt.store, rt.models).run(
        "Motorola Mobility Sunnyvale employees",
        replace(rt.settings.retrieval, mode="bm25", rerank=False, top_k=3),
    )
    top = result.hits[0]
    assert top.page == 3 and ROW in top.text


@pytest.mark.slow
@pytest.mark.integration
def test_question_about_a_row_is_answered_citing_its_page(tmp_path: Path) -> None:
    # The offline MiniLM (a base dependency): hybrid retrieval as the app runs it.
    models = build_models(Settings(data_dir=tmp_path / "models"))
    rt = make_runtime(tmp_path / "data", text=models.text, image_model="", reranker_model="")
    try:
        params = ChunkingParams(Strategy.RECURSIVE, 200, 30)
        added = library.add_file(rt.catalog, rt.settings.uploads_dir, WARN, params)
        Ingestor(rt.catalog, rt.store, rt.models, thumbs_dir=rt.thumbs_dir).ingest(
            added.document.id, params
        )
        answerer = build_answerer(rt, LLMChoice(None, "LLM: none (test)"))
        answer = answerer.ask(QUESTION, config=replace(rt.settings.retrieval, rerank=False))
        assert answer.sources and answer.sources[0].page == 3, answer
        assert ROW in answer.sources[0].text
        assert answer.citations and answer.citations[0].page == 3
        assert "213" in answer.text
    finally:
        rt.close()
