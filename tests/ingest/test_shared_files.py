"""Every shared file parses: each parser on the files of ../shared/data (pdfs, office, images)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ingest.parsers import ParseLimits, parse_file
from ingest.parsers.ocr import OcrOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("RAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
NO_OCR = ParseLimits(ocr=OcrOptions(enabled=False))


def _files(folder: str, *suffixes: str) -> list[Path]:
    where = SHARED_DATA / folder
    if not where.is_dir():
        return []
    return sorted(p for p in where.iterdir() if p.suffix.lower() in suffixes)


OFFICE = _files("office", ".docx", ".pptx", ".xlsx", ".html", ".csv")
PDFS = _files("pdfs", ".pdf")
IMAGES = _files("images", ".png", ".jpg")
needs = pytest.mark.skipif(
    not (OFFICE and PDFS and IMAGES), reason=f"shared files not found under {SHARED_DATA}"
)
# What each format calls its pages in a location (None: "page N").
LABELS = {".docx": "", ".html": "", ".csv": "", ".pptx": "slide ", ".xlsx": "sheet "}


@needs
@pytest.mark.parametrize("path", OFFICE, ids=lambda p: p.name)
def test_every_shared_office_file_parses_with_its_locations(path: Path) -> None:
    doc = parse_file(path, name=path.name, doc_id="d", limits=ParseLimits())
    assert doc.pages and all(p.text.strip() for p in doc.pages if not p.images), doc.pages
    assert sum(len(p.text.split()) for p in doc.pages) >= 5
    prefix = LABELS[path.suffix]
    assert all(p.label is not None and p.label.startswith(prefix) for p in doc.pages)
    assert doc.pages_ocr == 0
    if path.suffix in (".xlsx", ".csv"):
        assert all(p.tables for p in doc.pages)  # rows are kept as tables
    if path.name.startswith("table_"):
        assert doc.pages[0].tables  # the HTML tables too


@needs
@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_every_shared_image_parses_to_one_page_with_its_image(path: Path) -> None:
    doc = parse_file(path, name=path.name, doc_id="d", limits=NO_OCR)
    (page,) = doc.pages
    (image,) = page.images
    assert image.thumbnail and max(image.width, image.height) > 0


@pytest.mark.slow
@needs
def test_every_shared_pdf_parses_and_text_pdfs_have_text() -> None:
    """OCR off (test_ocr.py reads the scans): every page of every PDF, text where there is some."""
    for path in PDFS:
        doc = parse_file(path, name=path.name, doc_id="d", limits=NO_OCR)
        assert doc.pages, path.name
        if path.name.startswith("scanned_"):
            assert doc.pages_without_text > 0, path.name
            continue
        with_text = sum(1 for p in doc.pages if p.has_text)
        assert with_text >= 0.8 * len(doc.pages), (path.name, with_text, len(doc.pages))


@pytest.mark.slow
@needs
@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")
def test_shared_typewritten_image_is_read_by_ocr() -> None:
    path = SHARED_DATA / "images" / "typewriter_text.png"  # 4000 x 2864, a Dutch recipe
    doc = parse_file(path, name=path.name, doc_id="d", limits=ParseLimits())
    (page,) = doc.pages
    assert "Linzensoep" in page.text and "liter water" in page.text
    assert page.ocr_confidence is not None and page.ocr_confidence > 0.8
