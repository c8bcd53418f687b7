"""Decide a file's type from its first bytes and its name, and refuse what we do not read."""

from __future__ import annotations

import struct
import zlib
from pathlib import PurePath

from ragcore.errors import CorruptFile, UnsupportedFile

PDF = "application/pdf"
MARKDOWN = "text/markdown"
PLAIN_TEXT = "text/plain"
PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"
GIF = "image/gif"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSM = "application/vnd.ms-excel.sheet.macroEnabled.12"
HTML = "text/html"
CSV = "text/csv"

IMAGE_TYPES = frozenset({PNG, JPEG, WEBP, GIF})
TEXT_TYPES = frozenset({MARKDOWN, PLAIN_TEXT})
# Office Open XML: ZIP archives told apart by the parts they hold.
OFFICE_TYPES = frozenset({DOCX, PPTX, XLSX, XLSM})

# How many leading bytes detect_type wants; the PDF header may sit anywhere in the first 1024.
HEAD_BYTES = 8192

EXTENSIONS: dict[str, str] = {
    ".pdf": PDF,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".txt": PLAIN_TEXT,
    ".text": PLAIN_TEXT,
    ".rst": PLAIN_TEXT,
    ".csv": CSV,
    ".tsv": CSV,
    ".log": PLAIN_TEXT,
    ".html": HTML,
    ".htm": HTML,
    ".docx": DOCX,
    ".pptx": PPTX,
    ".xlsx": XLSX,
    ".xlsm": XLSM,
    ".png": PNG,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".webp": WEBP,
    ".gif": GIF,
}

_KIND_NAMES = {
    PDF: "a PDF document",
    MARKDOWN: "a Markdown file",
    PLAIN_TEXT: "a text file",
    PNG: "a PNG image",
    JPEG: "a JPEG image",
    WEBP: "a WebP image",
    GIF: "a GIF image",
    DOCX: "a Word document (.docx)",
    PPTX: "a PowerPoint presentation (.pptx)",
    XLSX: "an Excel workbook (.xlsx)",
    XLSM: "an Excel workbook with macros (.xlsm)",
    HTML: "a web page (HTML)",
    CSV: "a CSV table",
}

# Signatures of formats people commonly drop by mistake, so the refusal can say what the file
# looks like. Only long or distinctive prefixes: a short one (BMP's "BM") would misjudge text.
_FOREIGN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (Word, Excel, PowerPoint and EPUB files are ZIP archives too)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"PK\x07\x08", "a ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document (.doc, .xls or .ppt)"),
    (b"MZ", "a Windows program (.exe or .dll)"),
    (b"\x7fELF", "a Linux program (ELF executable)"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"\xce\xfa\xed\xfe", "a macOS program"),
    (b"\xca\xfe\xba\xbe", "a macOS program or Java class file"),
    (b"#!", "a script"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"OggS", "an Ogg audio or video file"),
    (b"fLaC", "a FLAC audio file"),
    (b"ID3", "an MP3 audio file"),
    (b"{\\rtf", "an RTF document"),
)


def sniff(data_head: bytes) -> str | None:
    """The mime type of a format we read that the bytes start with, or None."""
    if data_head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data_head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data_head[:4] == b"RIFF" and data_head[8:12] == b"WEBP":
        return WEBP
    if data_head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    # Readers accept a PDF header anywhere in the first 1024 bytes (some tools prepend junk).
    if b"%PDF-" in data_head[:1024]:
        return PDF
    if data_head.startswith(_ZIP_ENTRY):
        return ooxml_type(data_head)
    return None


_ZIP_ENTRY = b"PK\x03\x04"
_ZIP_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # the 30 bytes before each entry's name
# The main part's content type in [Content_Types].xml names the kind of Office file.
_MAIN_CONTENT_TYPES = (
    (b"wordprocessingml.document.main+xml", DOCX),
    (b"wordprocessingml.template.main+xml", DOCX),
    (b"presentationml.presentation.main+xml", PPTX),
    (b"presentationml.slideshow.main+xml", PPTX),
    (b"spreadsheetml.sheet.main+xml", XLSX),
    (b"spreadsheetml.template.main+xml", XLSX),
    (b"ms-excel.sheet.macroEnabled.main+xml", XLSM),
)
_MAIN_PARTS = (("word/", DOCX), ("ppt/", PPTX), ("xl/", XLSX))


def ooxml_type(data_head: bytes) -> str | None:
    """The Office type of a ZIP archive judged by the entries in its first bytes, or None.

    Office writes ``[Content_Types].xml`` first; its main content type decides, else the
    folders of the entries seen (``word/``, ``ppt/``, ``xl/``). Without
    ``[Content_Types].xml`` among them, a ZIP is not taken for an Office file here; the
    parser checks the whole archive's directory in any case.
    """
    names: list[str] = []
    content_types = b""
    pos = 0
    while len(names) < 64 and pos + _ZIP_LOCAL_HEADER.size <= len(data_head):
        sig, _, flags, method, _, _, _, csize, _, name_len, extra_len = (
            _ZIP_LOCAL_HEADER.unpack_from(data_head, pos)
        )
        if sig != _ZIP_ENTRY:
            break
        data_at = pos + _ZIP_LOCAL_HEADER.size + name_len + extra_len
        name = data_head[pos + _ZIP_LOCAL_HEADER.size : pos + _ZIP_LOCAL_HEADER.size + name_len]
        names.append(name.decode("utf-8", "replace"))
        if names[-1] == "[Content_Types].xml":
            content_types = _inflate_head(data_head[data_at : data_at + csize], method)
        # With a data descriptor (flag 8) the size comes after the data: look for the next
        # entry's signature instead (in compressed data it would be a 1 in 2**32 accident).
        pos = data_head.find(_ZIP_ENTRY, data_at) if flags & 0x08 else data_at + csize
        if pos < 0:
            break
    if "[Content_Types].xml" not in names:
        return None
    main = main_content_type(content_types)
    if main is not None:
        return main
    for prefix, mime in _MAIN_PARTS:
        if any(n.startswith(prefix) for n in names):
            return mime
    return None


def main_content_type(content_types_xml: bytes) -> str | None:
    """The Office type that ``[Content_Types].xml`` declares for its main part, or None."""
    for marker, mime in _MAIN_CONTENT_TYPES:
        if marker in content_types_xml:
            return mime
    return None


def kind_name(mime: str) -> str:
    """A type in words: "a Word document (.docx)", "a PDF document"."""
    return _KIND_NAMES[mime]


def _inflate_head(data: bytes, method: int) -> bytes:
    """As much of an entry's start as the head holds, inflated (at most 64 KB), or b""."""
    if method == 0:
        return data
    if method != 8:
        return b""
    try:
        return zlib.decompressobj(-15).decompress(data, 65536)
    except zlib.error:
        return b""


def describe(data_head: bytes) -> str:
    """What the bytes look like, in words ("a ZIP archive", "a PNG image", "binary data")."""
    known = sniff(data_head)
    if known is not None:
        return _KIND_NAMES[known]
    for signature, what in _FOREIGN_SIGNATURES:
        if data_head.startswith(signature):
            return what
    if data_head[4:8] == b"ftyp":
        return "a video or HEIC photo (MP4/MOV/HEIC)"
    if data_head[:4] == b"RIFF":
        return "a RIFF media file (such as WAV or AVI)"
    if _looks_binary(data_head):
        return "binary data"
    return "text"


def detect_type(data_head: bytes, name: str) -> str:
    """The mime type of a file we can read, judged by its first bytes and its name.

    Raises UnsupportedFile when the name's extension is not one we read or the content does
    not match it (a PNG renamed ``.pdf``, a ZIP, a program), and CorruptFile for an empty file.
    Content decides between image formats: a PNG named ``.jpg`` is read as the PNG it is.

    >>> detect_type(b"%PDF-1.7\\n...", "report.pdf")
    'application/pdf'
    """
    suffix = PurePath(name).suffix.lower()
    claimed = EXTENSIONS.get(suffix)
    if claimed is None:
        readable = ", ".join(sorted(EXTENSIONS))
        kind = f"files ending in {suffix}" if suffix else "files without an extension"
        detail = f" It looks like {describe(data_head)}." if data_head else ""
        raise UnsupportedFile(
            f"{name} cannot be ingested: {kind} are not supported (supported: {readable}).{detail}"
        )
    if not data_head:
        raise CorruptFile(f"{name} is empty (0 bytes); there is nothing in it to read.")

    actual = sniff(data_head)
    if claimed in OFFICE_TYPES:
        # Content decides within Office formats (a workbook named .docx is read as one); a
        # ZIP whose first entries tell nothing is checked by the parser, from its directory.
        if actual in OFFICE_TYPES:
            return actual
        if actual is None and data_head.startswith(_ZIP_ENTRY):
            return claimed
        raise _mismatch(name, claimed, data_head)
    if claimed == PDF:
        if actual == PDF:
            return PDF
        raise _mismatch(name, claimed, data_head)
    if claimed in IMAGE_TYPES:
        if actual in IMAGE_TYPES:
            return actual
        raise _mismatch(name, claimed, data_head)
    # A text name: binary content is refused here from the head, and again by the text parser
    # over the whole file. Only a PDF *starting* with its header counts, since text about PDFs
    # may well mention "%PDF-" near the top.
    if data_head.startswith(b"%PDF-") or _looks_binary(data_head):
        raise _mismatch(name, claimed, data_head)
    return claimed


def _mismatch(name: str, claimed: str, data_head: bytes) -> UnsupportedFile:
    return UnsupportedFile(
        f"{name} is named like {_KIND_NAMES[claimed]}, but its content looks like "
        f"{describe(data_head)}; it was not ingested."
    )


# UTF-32 marks first: the little-endian one starts with the UTF-16 little-endian mark.
_BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def wide_unicode(data_head: bytes) -> str | None:
    """The Python codec of UTF-32 or UTF-16 text, judged by its first bytes; None for others.

    A byte-order mark gives ``"utf-32"`` or ``"utf-16"`` (codecs that read the mark). Without
    one, text in these encodings is recognised by where its zero bytes fall, which works for
    text mostly in Latin script (the high byte of each character is zero):
    ``"utf-32-le"``, ``"utf-32-be"``, ``"utf-16-le"`` or ``"utf-16-be"``.

    >>> wide_unicode("Zürich".encode("utf-16-le"))
    'utf-16-le'
    """
    for mark, codec in _BYTE_ORDER_MARKS:
        if data_head.startswith(mark):
            return codec
    return _utf32_by_zeros(data_head) or _utf16_by_zeros(data_head)


def _utf32_by_zeros(data: bytes) -> str | None:
    # Every Unicode character is below 0x110000: one of the four bytes is always zero and the
    # next at most 0x10. Units that are all zero (NUL characters) would say nothing.
    end = len(data) // 4 * 4
    if end < 8:
        return None
    for codec, zero, small in (("utf-32-le", 3, 2), ("utf-32-be", 0, 1)):
        if data[zero:end:4].count(0) == end // 4 and max(data[small:end:4]) <= 0x10:
            nul_units = sum(1 for i in range(0, end, 4) if data[i : i + 4] == bytes(4))
            if nul_units * 100 <= end // 4:
                return codec
    return None


def _utf16_by_zeros(data: bytes) -> str | None:
    # Latin-script text has a zero high byte in most characters (letters, spaces, digits)
    # and almost never a zero low byte; binary data that happens to look like this is full of
    # control characters once decoded, and the text parser refuses it then.
    end = len(data) // 2 * 2
    if end < 4:
        return None
    units = end // 2
    even_zeros, odd_zeros = data[0:end:2].count(0), data[1:end:2].count(0)
    if odd_zeros * 4 > units and even_zeros * 8 <= odd_zeros:
        return "utf-16-le"
    if even_zeros * 4 > units and odd_zeros * 8 <= even_zeros:
        return "utf-16-be"
    return None


def _looks_binary(data: bytes) -> bool:
    # UTF-16 and UTF-32 text is full of NUL bytes: text all the same.
    if wide_unicode(data) is not None:
        return False
    if b"\x00" in data:
        return True
    # Control bytes other than tab, newline, form feed, carriage return and escape are rare in
    # text in any 8-bit encoding.
    controls = sum(1 for b in data if b < 32 and b not in b"\t\n\x0b\x0c\r\x1b")
    return controls > max(1, len(data) // 100)
