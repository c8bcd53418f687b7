"""Decide a file's type from its first bytes and its name, and refuse what we do not read."""

from __future__ import annotations

from pathlib import PurePath

from ragcore.errors import CorruptFile, UnsupportedFile

PDF = "application/pdf"
MARKDOWN = "text/markdown"
PLAIN_TEXT = "text/plain"
PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"
GIF = "image/gif"

IMAGE_TYPES = frozenset({PNG, JPEG, WEBP, GIF})
TEXT_TYPES = frozenset({MARKDOWN, PLAIN_TEXT})

# How many leading bytes detect_type wants; the PDF header may sit anywhere in the first 1024.
HEAD_BYTES = 8192

EXTENSIONS: dict[str, str] = {
    ".pdf": PDF,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".txt": PLAIN_TEXT,
    ".text": PLAIN_TEXT,
    ".rst": PLAIN_TEXT,
    ".csv": PLAIN_TEXT,
    ".log": PLAIN_TEXT,
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
    return None


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


def _looks_binary(data: bytes) -> bool:
    # UTF-16 text is full of NUL bytes, so a UTF-16 byte-order mark means text.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if b"\x00" in data:
        return True
    # Control bytes other than tab, newline, form feed, carriage return and escape are rare in
    # text in any 8-bit encoding.
    controls = sum(1 for b in data if b < 32 and b not in b"\t\n\x0b\x0c\r\x1b")
    return controls > max(1, len(data) // 100)
