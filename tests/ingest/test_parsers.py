"""Tests for ingest.parsers: type detection, PDF, text, Markdown and image parsing, and refusals."""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ContentStream

import ingest.parsers
from ingest.parsers import (
    DEFAULT_LIMITS,
    ParseLimits,
    detect_type,
    markdown_sections,
    parse_file,
)
from ingest.parsers.common import short_reason
from ingest.parsers.image import EMBED_SIDE, THUMB_SIDE
from ingest.parsers.ocr import OcrOptions
from ragcore.errors import CorruptFile, EncryptedFile, FileTooLarge, IngestError, UnsupportedFile
from ragcore.testing.documents import make_png, make_text_pdf
from ragcore.types import ParsedDocument

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("RAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
NIST_PDF = SHARED_DATA / "pdfs" / "nist_sp800-145_cloud_definition.pdf"

PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def parse(path: Path, limits: ParseLimits = DEFAULT_LIMITS) -> ParsedDocument:
    return parse_file(path, name=path.name, doc_id="doc-1", limits=limits)


def image_bytes(mode: str, size: tuple[int, int], fmt: str, **save: Any) -> bytes:
    colors: dict[str, float | tuple[int, ...]] = {"RGB": (10, 200, 30), "CMYK": (10, 200, 30, 0)}
    buffer = io.BytesIO()
    Image.new(mode, size, colors.get(mode, 128)).save(buffer, fmt, **save)
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# --- PDF ---------------------------------------------------------------------------------


def test_multi_page_pdf_gives_text_per_page_numbered_from_one(tmp_path: Path) -> None:
    pages = ["Alpha beta gamma on the first page.", "Second page\nhas two lines.", "Third."]
    doc = parse(make_text_pdf(tmp_path / "three.pdf", pages))

    assert doc.mime == "application/pdf"
    assert doc.name == "three.pdf" and doc.doc_id == "doc-1"
    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert [p.text for p in doc.pages] == pages
    assert doc.pages_without_text == 0
    assert doc.warnings == ()


def test_pdf_embedded_image_is_found_on_its_page(tmp_path: Path) -> None:
    path = make_text_pdf(
        tmp_path / "figure.pdf",
        ["intro", "the figure", "outro"],
        image_on_page=2,
        image_size=(80, 40),
    )
    doc = parse(path)

    assert [len(p.images) for p in doc.pages] == [0, 1, 0]
    image = doc.pages[1].images[0]
    assert (image.page, image.index, image.width, image.height) == (2, 0, 80, 40)
    assert image.mime == "image/png"
    assert decoded(image.data).size == (80, 40)
    assert doc.pages[1].text.strip() == "the figure"


def test_pdf_images_smaller_than_min_side_are_skipped(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "icon.pdf", ["x"], image_on_page=1, image_size=(16, 64))
    assert parse(path).pages[0].images == ()
    kept = parse(path, ParseLimits(min_image_side=16)).pages[0].images
    assert [(i.width, i.height) for i in kept] == [(16, 64)]


def test_pdf_image_over_pixel_limit_is_skipped_with_warning(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "big.pdf", ["words"], image_on_page=1, image_size=(100, 100))
    doc = parse(path, ParseLimits(max_image_pixels=5_000))
    assert doc.pages[0].images == ()
    assert doc.pages[0].text.strip() == "words"
    assert len(doc.warnings) == 1 and "100 x 100 pixels" in doc.warnings[0]


def test_pdf_images_per_page_are_capped_with_warning(tmp_path: Path) -> None:
    # Two distinct images on one page: overlay the page of one PDF onto the page of another.
    first = PdfReader(
        make_text_pdf(tmp_path / "a.pdf", ["a"], image_on_page=1, image_size=(40, 40))
    )
    second = PdfReader(
        make_text_pdf(tmp_path / "b.pdf", ["b"], image_on_page=1, image_size=(50, 50))
    )
    writer = PdfWriter(clone_from=first)
    writer.pages[0].merge_page(second.pages[0])
    path = tmp_path / "two_images.pdf"
    with path.open("wb") as handle:
        writer.write(handle)

    assert len(parse(path).pages[0].images) == 2
    capped = parse(path, ParseLimits(max_images_per_page=1))
    assert [i.index for i in capped.pages[0].images] == [0]
    assert any("more than 1 images" in w for w in capped.warnings)


def test_pdf_inline_image_is_found(tmp_path: Path) -> None:
    # An image written into the content stream itself (BI ... ID ... EI), not as an XObject.
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    content = ContentStream(None, writer)
    pixels = bytes([10, 200, 30]) * (40 * 36)
    content.set_data(b"q 40 0 0 36 0 0 cm BI /W 40 /H 36 /CS /RGB /BPC 8 ID " + pixels + b"\nEI Q")
    page.replace_contents(content)
    path = tmp_path / "inline.pdf"
    with path.open("wb") as handle:
        writer.write(handle)

    (image,) = parse(path).pages[0].images
    assert (image.page, image.width, image.height) == (1, 40, 36)
    assert decoded(image.data).convert("RGB").getpixel((3, 3)) == (10, 200, 30)


def test_pdf_image_in_resources_but_never_drawn_is_skipped(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "drawn.pdf", ["words"], image_on_page=1)
    assert len(parse(path).pages[0].images) == 1
    undrawn = tmp_path / "undrawn.pdf"
    # Blank out the draw operator, same length so every byte offset stays valid.
    undrawn.write_bytes(path.read_bytes().replace(b"/Im1 Do", b" " * len(b"/Im1 Do")))
    doc = parse(undrawn)
    assert doc.pages[0].images == () and doc.warnings == ()


def test_pdf_image_that_fails_to_decode_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    data = bytearray(
        make_text_pdf(tmp_path / "ok.pdf", ["kept text"], image_on_page=1).read_bytes()
    )
    start = data.index(b"stream\n", data.index(b"/Subtype /Image")) + len(b"stream\n")
    data[start : start + 20] = b"\x00" * 20  # break the image's compressed pixels only
    path = tmp_path / "bad_image.pdf"
    path.write_bytes(bytes(data))

    doc = parse(path)
    assert doc.pages[0].text.strip() == "kept text"
    assert doc.pages[0].images == ()
    assert len(doc.warnings) == 1
    assert "page 1 of bad_image.pdf could not be decoded" in doc.warnings[0]


def test_page_without_text_is_kept_and_counted(tmp_path: Path) -> None:
    doc = parse(make_text_pdf(tmp_path / "scan.pdf", ["text", "", "more text"], image_on_page=2))
    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert doc.pages[1].text.strip() == ""
    assert len(doc.pages[1].images) == 1
    assert doc.pages_without_text == 1


def test_image_only_pdf_from_pillow_has_pages_without_text(tmp_path: Path) -> None:
    path = tmp_path / "pillow.pdf"
    frames = [Image.new("RGB", (120, 90), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, "PDF", save_all=True, append_images=frames[1:])
    doc = parse(path)
    assert doc.pages_without_text == 2
    assert [len(p.images) for p in doc.pages] == [1, 1]
    pixel = decoded(doc.pages[1].images[0].data).convert("RGB").getpixel((5, 5))
    assert isinstance(pixel, tuple)
    red, green, blue = pixel
    assert red < 10 and green < 10 and blue > 245  # Pillow stores the pages as JPEG: near-exact


def test_truncated_pdf_is_corrupt_not_empty(tmp_path: Path) -> None:
    full = make_text_pdf(tmp_path / "full.pdf", [f"Page {i} " + "word " * 60 for i in range(30)])
    path = tmp_path / "cut.pdf"
    path.write_bytes(full.read_bytes()[:3000])
    with pytest.raises(
        CorruptFile,
        match=r"cut\.pdf is not a valid PDF \(it ends before its cross-reference table\)",
    ):
        parse(path)


def test_pdf_with_garbage_body_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\nstartxref\n9\n%%EOF\n")
    with pytest.raises(CorruptFile, match=r"^garbage\.pdf "):
        parse(path)


def test_pdf_with_user_password_is_refused(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "locked.pdf", ["secret"], user_password="s3cret")
    with pytest.raises(EncryptedFile, match=r"locked\.pdf is password-protected"):
        parse(path)


def test_pdf_with_only_owner_password_is_read(tmp_path: Path) -> None:
    path = make_text_pdf(
        tmp_path / "restricted.pdf", ["open to all", "page two"], owner_password="own"
    )
    assert PdfReader(path).is_encrypted
    doc = parse(path)
    assert [p.text for p in doc.pages] == ["open to all", "page two"]


def test_pdf_over_page_limit_is_too_large(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "long.pdf", ["p"] * 4)
    with pytest.raises(FileTooLarge, match=r"long\.pdf has 4 pages, more than the 3-page limit"):
        parse(path, ParseLimits(max_pages=3))


def test_pdf_over_text_limit_is_too_large(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "wordy.pdf", ["x" * 60, "y" * 60])
    assert len(parse(path, ParseLimits(max_text_chars=200)).pages) == 2
    with pytest.raises(FileTooLarge, match=r"wordy\.pdf holds more than 100 characters.*page 2"):
        parse(path, ParseLimits(max_text_chars=100))


def test_pdf_text_limit_grows_with_the_file_size(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "dense.pdf", ["word " * 400, "word " * 400])
    size = path.stat().st_size
    # Allowed: the two pages' 4,000 characters fit in 4 characters per byte of this file.
    assert len(parse(path, ParseLimits(min_text_chars=1)).pages) == 2
    tight = ParseLimits(min_text_chars=1, max_chars_per_byte=2500 / size)
    assert tight.text_chars_limit(size) < 4000
    with pytest.raises(
        FileTooLarge,
        match=r"^dense\.pdf holds more than [\d,]+ characters of text \(the limit was passed on "
        r"page 2\), the limit for a file of [\d.]+ KB \([\d.]+ characters per byte, at least 1\)",
    ):
        parse(path, tight)


def test_text_limit_is_per_byte_between_a_floor_and_a_ceiling() -> None:
    limits = ParseLimits(max_text_chars=10_000_000, max_chars_per_byte=4.0, min_text_chars=1000)
    assert limits.text_chars_limit(10) == 1000
    assert limits.text_chars_limit(788_000) == 3_152_000
    assert limits.text_chars_limit(50_000_000) == 10_000_000
    with pytest.raises(ValueError, match="max_chars_per_byte must be > 0"):
        ParseLimits(max_chars_per_byte=0)


def test_pdf_over_time_limit_is_refused(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "slow.pdf", ["a", "b"])
    with pytest.raises(FileTooLarge, match=r"slow\.pdf took longer than"):
        parse(path, ParseLimits(timeout_seconds=1e-9))


@pytest.mark.skipif(
    not NIST_PDF.is_file(), reason=f"shared data not found at {NIST_PDF} (set RAG_SHARED_DATA)"
)
def test_real_nist_pdf() -> None:
    doc = parse_file(NIST_PDF, name="nist.pdf", doc_id="nist")
    assert [p.number for p in doc.pages] == [1, 2, 3, 4, 5, 6, 7]
    assert "NIST Definition of Cloud" in doc.pages[0].text
    assert "on-demand self-service" in " ".join(p.text for p in doc.pages).lower()
    # The cover's logo is a CCITT (TIFF) image inside the PDF: it must come out as a PNG.
    (logo,) = doc.pages[0].images
    assert logo.mime == "image/png" and logo.data.startswith(PNG_HEAD)
    assert decoded(logo.data).size == (logo.width, logo.height)


SCANNED_PDF = SHARED_DATA / "pdfs" / "scanned_linn_brochure_cardinal.pdf"


@pytest.mark.skipif(not SCANNED_PDF.is_file(), reason=f"shared data not found at {SCANNED_PDF}")
def test_scanned_pdf_with_jbig2_images_is_not_called_encrypted() -> None:
    # pypdf raises the same DependencyError for a missing JBIG2 decoder as for AES without
    # 'cryptography'; only the latter may fail the file, and never with the wrong reason.
    # OCR off: reading the scans is tested in test_ocr.py; this is about the images.
    no_ocr = ParseLimits(ocr=OcrOptions(enabled=False))
    doc = parse_file(SCANNED_PDF, name="scan.pdf", doc_id="scan", limits=no_ocr)
    assert len(doc.pages) == 4
    images = sum(len(page.images) for page in doc.pages)
    skipped = [w for w in doc.warnings if "needs a program this installation lacks" in w]
    assert images > 0 or skipped, doc.warnings
    assert not any("encrypted" in w for w in doc.warnings)


@pytest.mark.skipif(
    not NIST_PDF.is_file(), reason=f"shared data not found at {NIST_PDF} (set RAG_SHARED_DATA)"
)
def test_real_pdf_cut_short_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "nist_cut.pdf"
    path.write_bytes(NIST_PDF.read_bytes()[:3000])
    with pytest.raises(CorruptFile, match=r"nist_cut\.pdf is not a valid PDF"):
        parse(path)


# --- detection and refusals --------------------------------------------------------------


def test_zero_byte_file_is_empty(tmp_path: Path) -> None:
    for name in ("empty.pdf", "empty.txt", "empty.png"):
        path = tmp_path / name
        path.write_bytes(b"")
        with pytest.raises(CorruptFile, match=rf"{name} is empty"):
            parse(path)


def test_png_renamed_pdf_is_refused_saying_what_it_is(tmp_path: Path) -> None:
    path = make_png(tmp_path / "report.pdf", 40, 40)
    with pytest.raises(
        UnsupportedFile,
        match=r"report\.pdf is named like a PDF document, but its content looks like a PNG image",
    ):
        parse(path)


def test_zip_renamed_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slides.pdf"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<xml/>")
    with pytest.raises(UnsupportedFile, match=r"slides\.pdf .*ZIP archive"):
        parse(path)


@pytest.mark.parametrize("name", ["setup.pdf", "readme.txt", "photo.png"])
def test_executable_is_refused_whatever_its_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200)
    with pytest.raises(UnsupportedFile, match=rf"{name} .*Windows program"):
        parse(path)


@pytest.mark.parametrize("name", ["letter.doc", "archive.zip", "Makefile", "song.mp3"])
def test_unknown_extensions_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"some bytes")
    with pytest.raises(UnsupportedFile, match=rf"^{name} cannot be ingested: .*not supported"):
        parse(path)


def test_pdf_named_txt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(make_text_pdf(tmp_path / "x.pdf", ["hi"]).read_bytes())
    with pytest.raises(
        UnsupportedFile,
        match=r"notes\.txt is named like a text file, but its content looks like a PDF",
    ):
        parse(path)


def test_detect_type_by_content_and_name() -> None:
    png = image_bytes("RGB", (4, 4), "PNG")
    assert detect_type(b"%PDF-1.4\n", "a.PDF") == "application/pdf"
    assert detect_type(b"# Title\n", "a.md") == "text/markdown"
    assert detect_type(b"# Title\n", "a.markdown") == "text/markdown"
    assert detect_type(b"hello", "a.txt") == "text/plain"
    assert detect_type(b"a,b\n1,2\n", "a.csv") == "text/csv"
    assert detect_type(png, "a.png") == "image/png"
    assert detect_type(image_bytes("RGB", (4, 4), "JPEG"), "a.jpeg") == "image/jpeg"
    assert detect_type(image_bytes("RGB", (4, 4), "WEBP"), "a.webp") == "image/webp"
    assert detect_type(image_bytes("L", (4, 4), "GIF"), "a.gif") == "image/gif"
    # Content decides between image formats: a PNG saved as .jpg is still a PNG.
    assert detect_type(png, "a.jpg") == "image/png"
    # Text that merely mentions the PDF header is text.
    assert detect_type(b"A PDF starts with %PDF-1.7", "a.txt") == "text/plain"


def test_binary_content_named_txt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(UnsupportedFile, match=r"data\.txt .*binary data"):
        parse(path)


def test_binary_after_a_text_head_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    path.write_bytes(b"a normal first line\n" * 600 + b"\x00\x01\x02\xff" * 5000)
    with pytest.raises(UnsupportedFile, match=r"mixed\.log .*binary data"):
        parse(path)


def test_file_over_size_limit_is_too_large_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_bytes(b"a" * 5000)
    with pytest.raises(
        FileTooLarge, match=r"huge\.txt is 4\.9 KB, more than the limit of 1000 bytes"
    ):
        parse(path, ParseLimits(max_file_bytes=1000))


def test_missing_file_is_an_ingest_error(tmp_path: Path) -> None:
    with pytest.raises(CorruptFile, match=r"gone\.pdf could not be read from disk"):
        parse_file(tmp_path / "nothing-here", name="gone.pdf", doc_id="d")


def test_unexpected_library_errors_become_corrupt_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise KeyError("/Kids")

    monkeypatch.setattr(ingest.parsers, "parse_pdf", explode)
    path = make_text_pdf(tmp_path / "odd.pdf", ["x"])
    with pytest.raises(
        CorruptFile, match=r"^odd\.pdf could not be read \(KeyError: '/Kids'\)"
    ) as info:
        parse(path)
    assert isinstance(info.value.__cause__, KeyError)


# --- text and Markdown -------------------------------------------------------------------


def test_utf8_text_is_one_page_with_normalised_newlines(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("\ufeffFirst line\r\nSecond — naïve\rThird\n".encode())
    doc = parse(path)
    assert doc.mime == "text/plain"
    assert [(p.number, p.text, p.section) for p in doc.pages] == [
        (1, "First line\nSecond — naïve\nThird\n", "")
    ]
    assert doc.warnings == ()


def test_latin1_text_is_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes("Café crème, déjà vu — 5 €".encode("cp1252"))
    doc = parse(path)
    assert doc.pages[0].text == "Café crème, déjà vu — 5 €"
    assert len(doc.warnings) == 1 and "old.txt is not valid UTF-8" in doc.warnings[0]

    path.write_bytes("Ñandú \x81 año".encode("latin-1"))  # 0x81 is undefined in cp1252
    doc = parse(path)
    assert doc.pages[0].text == "Ñandú \x81 año"
    assert "Latin-1" in doc.warnings[0]


def test_utf16_text_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "windows.txt"
    path.write_bytes("Grüße aus Köln\r\nzweite Zeile".encode("utf-16"))
    doc = parse(path)
    assert doc.pages[0].text == "Grüße aus Köln\nzweite Zeile"
    assert "UTF-16" in doc.warnings[0]


ACCENTED = "Kraków, Łódź and Gdańsk: zażółć gęślą jaźń; São Paulo, Zürich, Ærøskøbing.\n"


def test_utf8_with_one_bad_byte_is_read_as_utf8_saying_how_many_bytes(tmp_path: Path) -> None:
    path = tmp_path / "krakow.txt"
    data = (ACCENTED * 3).encode()
    path.write_bytes(data[:40] + b"\xff" + data[40:])
    doc = parse(path)
    assert doc.pages[0].text.replace("\ufffd", "") == ACCENTED * 3
    assert doc.pages[0].text.count("\ufffd") == 1
    assert "Ã" not in doc.pages[0].text
    assert doc.warnings == (
        "krakow.txt has 1 byte that is not valid UTF-8; it was read as UTF-8 with that byte "
        "shown as \ufffd.",
    )

    path.write_bytes(data[:40] + b"\xff\xfe" + data[40:] + b"\xe2\x82")  # cut-off euro sign
    assert "4 bytes that are not valid UTF-8" in parse(path).warnings[0]


def test_mostly_windows_1252_text_is_not_read_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    # One pair of bytes happens to be valid UTF-8 ("Ã©"), every other accent is not.
    path.write_bytes("Café crème, déjà vu, naïve — Ã© once.".encode("cp1252"))
    doc = parse(path)
    assert doc.pages[0].text == "Café crème, déjà vu, naïve — Ã© once."
    assert "Windows-1252" in doc.warnings[0]
    # Plain ASCII with one stray high byte has no sign of UTF-8: most likely a Latin-1 letter.
    path.write_bytes(b"The caf\xe9 on the corner opens at nine.")
    assert parse(path).pages[0].text == "The café on the corner opens at nine."


@pytest.mark.parametrize(
    ("codec", "warning"),
    [
        ("utf-16-le", r"read as UTF-16 \(little-endian\), judged by its pattern of zero bytes"),
        ("utf-16-be", r"read as UTF-16 \(big-endian\), judged by its pattern of zero bytes"),
        ("utf-32", r"read as UTF-32, as its byte-order mark says"),
        ("utf-32-le", r"read as UTF-32 \(little-endian\)"),
        ("utf-32-be", r"read as UTF-32 \(big-endian\)"),
    ],
)
def test_utf16_without_bom_and_utf32_are_read(tmp_path: Path, codec: str, warning: str) -> None:
    path = tmp_path / "wide.txt"
    path.write_bytes((ACCENTED * 4).encode(codec))
    assert detect_type(path.read_bytes()[:8192], "wide.txt") == "text/plain"
    doc = parse(path)
    assert doc.pages[0].text == ACCENTED * 4
    assert re.search(warning, doc.warnings[0]), doc.warnings


def test_binary_with_zeros_like_utf16_is_still_refused(tmp_path: Path) -> None:
    # 16-bit little-endian samples below 256: zero high bytes, as UTF-16 text has, but the
    # characters they decode to are control codes.
    path = tmp_path / "samples.txt"
    path.write_bytes(struct.pack("<4096H", *(i % 31 + 1 for i in range(4096))))
    with pytest.raises(UnsupportedFile, match=r"samples\.txt .*binary data"):
        parse(path)


@pytest.mark.parametrize(
    ("data", "holds"),
    [
        (b"\xef\xbb\xbf", "only a byte-order mark"),
        (b"\xff\xfe", "only a byte-order mark"),
        (b"\n\n\r\n  \t\n", "only spaces and line breaks"),
        ("\n\n".encode("utf-16"), "only spaces and line breaks"),
    ],
)
def test_text_file_without_text_says_so(tmp_path: Path, data: bytes, holds: str) -> None:
    path = tmp_path / "blank.md"
    path.write_bytes(data)
    with pytest.raises(CorruptFile) as info:
        parse(path)
    assert str(info.value) == (
        f"blank.md has no text in it (it holds {holds}); there is nothing to index."
    )
    assert "scan" not in str(info.value) and "OCR" not in str(info.value)


def test_text_over_char_limit_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "long.md"
    path.write_text("word " * 100)
    with pytest.raises(FileTooLarge, match=r"long\.md holds 500 characters"):
        parse(path, ParseLimits(max_text_chars=499))


MARKDOWN = """\
---
title: not a heading
---
# Guide

Intro text.

## Install
Run `pip install`.

```bash
# a comment, not a heading
```

### On Linux ###
Steps.

Usage
=====
Text under a setext heading.

Options
-------
- item one
---
## Trailing #hash
"""


def test_markdown_is_one_page_and_sections_have_heading_paths(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN.replace("\n", "\r\n"))
    doc = parse(path)
    (page,) = doc.pages
    assert doc.mime == "text/markdown"
    assert (page.number, page.section) == (1, "")
    assert page.text == MARKDOWN

    sections = markdown_sections(page.text)
    assert [path for _, path in sections] == [
        "Guide",
        "Guide > Install",
        "Guide > Install > On Linux",
        "Usage",
        "Usage > Options",
        "Usage > Trailing #hash",
    ]
    offsets = [offset for offset, _ in sections]
    assert offsets == sorted(offsets)
    starts = [page.text[o:].split("\n", 1)[0] for o in offsets]
    assert starts == [
        "# Guide",
        "## Install",
        "### On Linux ###",
        "Usage",
        "Options",
        "## Trailing #hash",
    ]


def test_markdown_sections_without_headings_and_hashes_without_space() -> None:
    assert markdown_sections("") == []
    assert markdown_sections("plain text\n#hashtag is not a heading\n####### seven is not") == []
    assert markdown_sections("# A\n## B\n# C\n### D") == [
        (0, "A"),
        (4, "A > B"),
        (9, "C"),
        (13, "C > D"),
    ]


# --- images ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mode", "fmt", "save", "mime_in", "mime_out", "kept_as_is"),
    [
        ("photo.png", "RGB", "PNG", {}, "image/png", "image/png", True),
        ("photo.jpg", "RGB", "JPEG", {"quality": 90}, "image/jpeg", "image/jpeg", True),
        ("print.jpeg", "CMYK", "JPEG", {}, "image/jpeg", "image/png", False),
        ("photo.webp", "RGB", "WEBP", {}, "image/webp", "image/png", False),
        ("anim.gif", "L", "GIF", {}, "image/gif", "image/png", False),
    ],
)
def test_image_files_become_one_page_with_the_image(
    tmp_path: Path,
    name: str,
    mode: str,
    fmt: str,
    save: dict[str, Any],
    mime_in: str,
    mime_out: str,
    kept_as_is: bool,
) -> None:
    data = image_bytes(mode, (64, 40), fmt, **save)
    path = tmp_path / name
    path.write_bytes(data)

    doc = parse(path)
    assert doc.mime == mime_in
    (page,) = doc.pages
    assert (page.number, page.text) == (1, "")
    (image,) = page.images
    assert (image.page, image.index, image.width, image.height, image.mime) == (
        1,
        0,
        64,
        40,
        mime_out,
    )
    assert (image.data == data) is kept_as_is
    out = decoded(image.data)
    assert out.size == (64, 40)
    assert out.mode in ("1", "L", "LA", "RGB", "RGBA")


def test_animated_gif_keeps_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 255, 0))]
    path = tmp_path / "blink.gif"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100)
    (image,) = parse(path).pages[0].images
    assert decoded(image.data).convert("RGB").getpixel((20, 20)) == (255, 0, 0)


def test_one_pixel_image_is_ingested(tmp_path: Path) -> None:
    (image,) = parse(make_png(tmp_path / "dot.png", 1, 1)).pages[0].images
    assert (image.width, image.height) == (1, 1)


def test_truncated_image_is_corrupt(tmp_path: Path) -> None:
    noisy = Image.effect_noise((200, 200), 50).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(CorruptFile, match=r"cut\.png could not be decoded as a PNG image"):
        parse(path)


@pytest.mark.parametrize("name", ["junk.png", "junk.jpg", "junk.gif", "junk.webp"])
def test_image_with_a_signature_and_junk_gets_a_clean_message(tmp_path: Path, name: str) -> None:
    heads = {".png": PNG_HEAD, ".jpg": b"\xff\xd8\xff", ".gif": b"GIF89a"}
    head = heads.get(Path(name).suffix, b"RIFF\x00\x00\x00\x00WEBP")
    path = tmp_path / name
    path.write_bytes(head + b"junk " * 40)
    with pytest.raises(CorruptFile) as info:
        parse(path)
    message = str(info.value)
    assert message.startswith(f"{name} is not a readable "), message
    assert "object at 0x" not in message and "BytesIO" not in message


def test_short_reason_drops_object_reprs() -> None:
    exc = OSError("cannot identify image file <_io.BytesIO object at 0x7f27b5576d90>.")
    assert short_reason(exc) == "cannot identify image file"
    assert short_reason(OSError("<_io.BytesIO object at 0x7f27b5576d90>")) == "OSError"


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/png")]
)
def test_large_image_comes_downscaled_with_a_thumbnail(tmp_path: Path, fmt: str, mime: str) -> None:
    path = tmp_path / f"wide.{fmt.lower()}"
    path.write_bytes(image_bytes("RGB", (3000, 1200), fmt))
    (image,) = parse(path).pages[0].images
    # The original's size is kept as metadata; the pixels the worker gets are bounded.
    assert (image.width, image.height, image.mime) == (3000, 1200, mime)
    assert decoded(image.data).size == (EMBED_SIDE, 410)
    thumb = decoded(image.thumbnail)
    assert thumb.format == "PNG" and thumb.size == (THUMB_SIDE, 154) and thumb.mode == "RGB"


def test_small_image_is_kept_as_is_with_a_thumbnail(tmp_path: Path) -> None:
    data = image_bytes("RGB", (500, 200), "PNG")
    path = tmp_path / "small.png"
    path.write_bytes(data)
    (image,) = parse(path).pages[0].images
    assert image.data == data
    assert decoded(image.thumbnail).size == (THUMB_SIDE, 154)


def test_large_1bit_scan_is_downscaled_in_grey(tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    path.write_bytes(black_1bit_png(4000, 2000))
    (image,) = parse(path).pages[0].images
    small = decoded(image.data)
    assert small.size == (EMBED_SIDE, 512) and small.mode == "L"


def test_pdf_image_comes_downscaled_with_a_thumbnail(tmp_path: Path) -> None:
    path = make_text_pdf(
        tmp_path / "poster.pdf", ["a poster"], image_on_page=1, image_size=(2048, 1024)
    )
    (image,) = parse(path).pages[0].images
    assert (image.width, image.height) == (2048, 1024)
    assert decoded(image.data).size == (EMBED_SIDE, 512)
    assert decoded(image.thumbnail).size == (THUMB_SIDE, 192)


def test_image_over_pixel_limit_is_too_large(tmp_path: Path) -> None:
    path = make_png(tmp_path / "wide.png", 100, 60)
    with pytest.raises(FileTooLarge, match=r"wide\.png is 100 x 60 pixels"):
        parse(path, ParseLimits(max_image_pixels=5_000))


def black_1bit_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG written row by row, so a huge one costs no memory to make."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    compressor = zlib.compressobj(1)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return PNG_HEAD + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [12_000, 20_000])
def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path, side: int) -> None:
    # 144 and 400 megapixels in well under a megabyte: the first passes Pillow's own bomb check
    # (a warning only), so our limit must catch it; the second trips Pillow's error.
    path = tmp_path / "bomb.png"
    path.write_bytes(black_1bit_png(side, side))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(FileTooLarge, match=r"^bomb\.png (is|has too many pixels)") as info:
        parse(path)
    assert isinstance(info.value, IngestError)


def test_image_named_like_another_image_format_is_read_by_content(tmp_path: Path) -> None:
    path = make_png(tmp_path / "really_png.jpg", 50, 50, color=(1, 2, 3))
    doc = parse(path)
    assert doc.mime == "image/png"
    assert decoded(doc.pages[0].images[0].data).getpixel((0, 0)) == (1, 2, 3)
