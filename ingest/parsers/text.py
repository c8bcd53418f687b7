"""Plain text and Markdown files: decode them, normalise newlines, and find Markdown sections."""

from __future__ import annotations

import re

from ingest.parsers.common import ParseLimits, too_much_text
from ingest.parsers.detect import HEAD_BYTES, wide_unicode
from ragcore.errors import CorruptFile, UnsupportedFile
from ragcore.types import Page, ParsedDocument

_UTF8_BOM = b"\xef\xbb\xbf"
_HIGH_BYTES = bytes(range(0x80, 0x100))
# What "surrogateescape" decodes an invalid byte 0x80-0xFF to.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
# Control characters that do occur in real text files: tab, newline, vertical tab, form feed,
# carriage return, escape (ANSI colours in logs).
_TEXT_CONTROLS = frozenset("\t\n\x0b\x0c\r\x1b")


def parse_text(
    data: bytes, *, name: str, doc_id: str, mime: str, limits: ParseLimits
) -> ParsedDocument:
    """The whole file as one page (number 1), decoded and with ``\\n`` newlines only.

    Use :func:`markdown_sections` on the page text to label Markdown chunks with their headings.

    >>> parse_text(b"# Intro\\r\\nHello", name="a.md", doc_id="d1", mime="text/markdown",
    ...            limits=ParseLimits()).pages[0].text
    '# Intro\\nHello'
    """
    text, encoding_note = decode_text(data, name=name)
    if _looks_binary(text):
        raise UnsupportedFile(
            f"{name} is named like a text file, but its content looks like binary data "
            "(it is full of control characters); it was not ingested."
        )
    # A stray NUL means nothing in text and breaks some databases downstream.
    text = normalize_newlines(text).replace("\x00", "")
    if not text.strip():
        holds = "only a byte-order mark" if not text else "only spaces and line breaks"
        raise CorruptFile(
            f"{name} has no text in it (it holds {holds}); there is nothing to index."
        )
    if len(text) > limits.text_chars_limit(len(data)):
        raise too_much_text(name, len(data), limits, chars=len(text))
    warnings = (encoding_note,) if encoding_note else ()
    return ParsedDocument(
        doc_id=doc_id,
        name=name,
        mime=mime,
        # A text file has no pages: its chunks are located by their Markdown section alone.
        pages=(Page(number=1, text=text, label=""),),
        warnings=warnings,
    )


def decode_text(data: bytes, *, name: str) -> tuple[str, str | None]:
    """The text and, when it was not plain UTF-8, a warning saying how it was read instead.

    UTF-8 with a byte-order mark; UTF-32 or UTF-16, by their mark or their zero bytes (see
    :func:`wide_unicode`); UTF-8; UTF-8 with its few bad bytes replaced, when it is mostly
    UTF-8; then Windows-1252, and Latin-1, which accepts any bytes, as the last resort.
    """
    if data.startswith(_UTF8_BOM):
        try:
            return data[len(_UTF8_BOM) :].decode("utf-8"), None
        except UnicodeDecodeError:
            data = data[len(_UTF8_BOM) :]  # a wrong mark: judge the rest like any other bytes
    else:
        # Before UTF-8: UTF-16 text of plain letters is valid UTF-8 too, one NUL per letter.
        codec = wide_unicode(data[:HEAD_BYTES])
        if codec is not None:
            return _decode_wide(data, codec, name)
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    mostly = _mostly_utf8(data, name)
    if mostly is not None:
        return mostly
    # Binary data lands here too (Latin-1 accepts any bytes); parse_text refuses it afterwards
    # by its share of control characters.
    for encoding, label in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text, (
            f"{name} is not valid UTF-8; it was read as {label} (Western European), "
            "so a few characters may be shown wrongly."
        )
    raise AssertionError("latin-1 decodes any bytes")


def _decode_wide(data: bytes, codec: str, name: str) -> tuple[str, str]:
    family = codec[:6].upper()  # "UTF-16" or "UTF-32"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise UnsupportedFile(
            f"{name} starts like a {family} text file but is not valid {family} "
            f"(bad bytes at position {exc.start}); it was not ingested."
        ) from exc
    if codec == family.lower():
        return text, f"{name} is not UTF-8; it was read as {family}, as its byte-order mark says."
    order = "little-endian" if codec.endswith("le") else "big-endian"
    return text, (
        f"{name} is not UTF-8; it was read as {family} ({order}), judged by its pattern of "
        "zero bytes, since it has no byte-order mark."
    )


def _mostly_utf8(data: bytes, name: str) -> tuple[str, str] | None:
    """UTF-8 text with its invalid bytes shown as U+FFFD, and a warning counting them.

    None unless the file's valid multi-byte characters outnumber its invalid bytes. Windows-1252
    and Latin-1 text almost never forms a valid multi-byte sequence (it would take an accented
    capital followed by a symbol), so such a file is UTF-8 with damaged bytes; reading it as
    Windows-1252 would garble every accented letter ("KrakÃ³w") to spare a few, and Latin-1
    would even make it look like binary data.
    """
    # surrogateescape maps each invalid byte to one lone surrogate, so they can be counted.
    escaped = data.decode("utf-8", errors="surrogateescape")
    text, bad = _ESCAPED_BYTE.subn("\ufffd", escaped)
    ascii_chars = len(data.translate(None, _HIGH_BYTES))
    valid_multibyte = len(escaped) - ascii_chars - bad
    if valid_multibyte <= bad:
        return None
    what = "1 byte that is" if bad == 1 else f"{bad:,} bytes that are"
    return text, (
        f"{name} has {what} not valid UTF-8; it was read as UTF-8 with "
        f"{'that byte' if bad == 1 else 'those bytes'} shown as \ufffd."
    )


def normalize_newlines(text: str) -> str:
    """Windows (``\\r\\n``) and old Mac (``\\r``) line ends as ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _looks_binary(text: str) -> bool:
    # More than 1 character in 100 being a control code (NULs, C1 codes from a Latin-1
    # fallback) does not happen in text a person wrote.
    sample = text[:1_000_000]
    controls = sum(
        1 for ch in sample if (ch < " " and ch not in _TEXT_CONTROLS) or "\x7f" <= ch <= "\x9f"
    )
    return controls > max(1, len(sample) // 100)


# The opening of an ATX heading; its text and closing #s are taken apart in _atx_heading, since
# one regular expression for the whole line backtracks quadratically on long lines of spaces.
_ATX_OPEN = re.compile(r" {0,3}(#{1,6})(?=[ \t]|$)")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Lines that cannot be the text of a setext heading: blank, list items, quotes, tables, code,
# thematic breaks (---, ***, _ _ _).
_NOT_PARAGRAPH = re.compile(
    r"^(?:\s*$| {4,}|\t| {0,3}(?:[-+*]|\d{1,9}[.)])[ \t]| {0,3}>| {0,3}\|"
    r"| {0,3}(?:-[ \t]*){3,}$| {0,3}(?:\*[ \t]*){3,}$| {0,3}(?:_[ \t]*){3,}$)"
)


def markdown_sections(text: str) -> list[tuple[int, str]]:
    """Where each Markdown heading starts in ``text`` and its heading path.

    Offsets are character positions in ``text`` (the page text), so a chunk starting at
    offset ``o`` belongs to the last section whose offset is <= ``o``. ATX (``# Title``) and
    setext (``Title`` over ``===``/``---``) headings count; headings inside fenced code blocks
    and a leading YAML front-matter block do not.

    >>> markdown_sections("# Intro\\ntext\\n## Setup\\nmore\\n# Usage\\n")
    [(0, 'Intro'), (13, 'Intro > Setup'), (27, 'Usage')]
    """
    sections: list[tuple[int, str]] = []
    stack: list[tuple[int, str]] = []  # (level, title) of the headings enclosing this point

    def add(offset: int, level: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            return
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        sections.append((offset, " > ".join(t for _, t in stack)))

    lines = text.split("\n")
    offsets = [0]
    for line in lines[:-1]:
        offsets.append(offsets[-1] + len(line) + 1)

    start = _front_matter_end(lines)
    fence: str | None = None  # the opening fence while inside a fenced code block
    previous_is_paragraph = False
    for i in range(start, len(lines)):
        line = lines[i]
        fence_match = _FENCE.match(line)
        if fence is not None:
            # A closing fence: the opening's character, at least as many, nothing else.
            closes = (
                fence_match is not None
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
                and not line.strip().lstrip(fence[0])
            )
            if closes:
                fence = None
            previous_is_paragraph = False
            continue
        if fence_match:
            fence = fence_match.group(1)
            previous_is_paragraph = False
            continue
        atx = _atx_heading(line)
        if atx is not None:
            add(offsets[i], *atx)
            previous_is_paragraph = False
            continue
        underline = _SETEXT_UNDERLINE.match(line)
        if underline and previous_is_paragraph:
            add(offsets[i - 1], 1 if underline.group(1)[0] == "=" else 2, lines[i - 1])
            previous_is_paragraph = False
            continue
        previous_is_paragraph = not _NOT_PARAGRAPH.match(line)
    return sections


def _atx_heading(line: str) -> tuple[int, str] | None:
    """``(level, title)`` when the line is an ATX heading (``## Title ##``), else None.

    As CommonMark: 1-6 #s after at most 3 spaces, then a space, a tab or the line's end; a
    closing run of #s counts only after a space or tab.
    """
    opening = _ATX_OPEN.match(line)
    if opening is None:
        return None
    rest = line[opening.end() :].rstrip(" \t")
    without_closing = rest.rstrip("#")
    if without_closing != rest and (not without_closing or without_closing[-1] in " \t"):
        rest = without_closing
    return len(opening.group(1)), rest.strip(" \t")


def _front_matter_end(lines: list[str]) -> int:
    """The index of the first line after a leading ``---`` YAML block, or 0 when there is none."""
    if not lines or lines[0].rstrip() != "---":
        return 0
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return i + 1
    return 0
