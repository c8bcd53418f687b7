"""Small, real test documents built on the fly: text PDFs (optionally with an image or a password) and PNGs."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

from PIL import Image
from pypdf import PdfReader, PdfWriter

_PAGE_WIDTH = 612  # US Letter, in points
_PAGE_HEIGHT = 792
_FONT_SIZE = 12
_LEADING = 14


def make_text_pdf(
    path: Path,
    pages: list[str],
    *,
    image_on_page: int | None = None,
    user_password: str | None = None,
    owner_password: str | None = None,
    image_size: tuple[int, int] = (64, 48),
) -> Path:
    """Write a PDF with one page per string, a real Helvetica text layer, and return ``path``.

    Each line of a page string is drawn with one text operator, so pypdf's ``extract_text``
    gives the words back in order, separated by the spaces they had, one line per line. Lines
    are not wrapped. Text must be encodable in Windows-1252 (the font's encoding). An empty
    string makes a page without a text layer.

    ``image_on_page`` (1-based) draws a colour image of ``image_size`` pixels on that page.
    A password makes an RC4-128 encrypted file (pypdf decrypts RC4 without extra packages);
    ``owner_password`` alone leaves the user password empty, so anyone can open the file.

    >>> make_text_pdf(tmp_path / "a.pdf", ["Page one text", "", "Page three"], image_on_page=2)
    """
    if not pages:
        raise ValueError("pages must hold at least one page's text, got an empty list")
    if image_on_page is not None and not 1 <= image_on_page <= len(pages):
        raise ValueError(f"image_on_page must be between 1 and {len(pages)}, got {image_on_page}")
    data = _pdf_bytes(pages, image_on_page, image_size)
    if user_password is not None or owner_password is not None:
        data = _encrypt(data, user_password or "", owner_password)
    path.write_bytes(data)
    return path


def make_png(path: Path, w: int, h: int, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    """Write a solid-colour RGB PNG of ``w`` x ``h`` pixels and return ``path``."""
    Image.new("RGB", (w, h), color).save(path, "PNG")
    return path


def _pdf_bytes(pages: list[str], image_on_page: int | None, image_size: tuple[int, int]) -> bytes:
    # Object numbers: 1 catalog, 2 page tree, 3 font, 4 image (always reserved), then a
    # (page, content) pair per page. Writing by hand keeps the text layer exactly as given.
    first_page_obj = 5
    page_refs = " ".join(f"{first_page_obj + 2 * i} 0 R" for i in range(len(pages)))
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{page_refs}] /Count {len(pages)} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        4: _image_xobject(*image_size),
    }
    for i, text in enumerate(pages):
        page_obj = first_page_obj + 2 * i
        with_image = image_on_page == i + 1
        xobject = " /XObject << /Im1 4 0 R >>" if with_image else ""
        objects[page_obj] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_PAGE_WIDTH} {_PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R >>{xobject} >> /Contents {page_obj + 1} 0 R >>"
        ).encode()
        objects[page_obj + 1] = _stream(b"", _content(text, image_size if with_image else None))
    return _assemble(objects)


def _content(text: str, image_size: tuple[int, int] | None) -> bytes:
    ops: list[bytes] = []
    lines = text.split("\n") if text else []
    if lines:
        ops.append(f"BT /F1 {_FONT_SIZE} Tf {_LEADING} TL 72 {_PAGE_HEIGHT - 72} Td".encode())
        for n, line in enumerate(lines):
            ops.append((b"" if n == 0 else b"T* ") + _pdf_string(line) + b" Tj")
        ops.append(b"ET")
    if image_size is not None:
        w, h = image_size
        ops.append(f"q {w} 0 0 {h} 72 72 cm /Im1 Do Q".encode())
    return b"\n".join(ops)


def _pdf_string(line: str) -> bytes:
    try:
        raw = line.encode("cp1252")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"test PDFs use Helvetica with Windows-1252 encoding; {line!r} has a character outside it"
        ) from exc
    out = bytearray(b"(")
    for byte in raw:
        if byte in b"()\\":
            out += b"\\" + bytes([byte])
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += f"\\{byte:03o}".encode()
    return bytes(out + b")")


def _image_xobject(w: int, h: int) -> bytes:
    # A gradient, not a flat colour, so the image has real content for image embedders.
    pixels = bytes(
        channel
        for y in range(h)
        for x in range(w)
        for channel in (x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), 128)
    )
    header = (
        f"/Type /XObject /Subtype /Image /Width {w} /Height {h} "
        "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode"
    ).encode()
    return _stream(header, zlib.compress(pixels))


def _stream(dict_entries: bytes, data: bytes) -> bytes:
    return (
        b"<< "
        + dict_entries
        + (b" " if dict_entries else b"")
        + f"/Length {len(data)} >>\nstream\n".encode()
        + data
        + b"\nendstream"
    )


def _assemble(objects: dict[int, bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref_at = len(out)
    size = max(objects) + 1
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    for number in range(1, size):
        out += f"{offsets[number]:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def _encrypt(data: bytes, user_password: str, owner_password: str | None) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
