"""Shared by the parsers: the limits they enforce and how they word sizes and reasons."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from ingest.parsers.ocr import OcrOptions
from ragcore.errors import FileTooLarge
from ragcore.uploads import human_size  # one wording of sizes, re-exported for the parsers


@dataclass(frozen=True)
class ParseLimits:
    """What one file may hold before it is refused, so one upload cannot exhaust the machine.

    ``timeout_seconds`` is checked between PDF pages (a single slow page is not interrupted);
    None means no time limit. Text and image files are read in one step and are bounded by
    the size limits instead.

    The text a file may hold grows with its size (:meth:`text_chars_limit`): compression lets
    a PDF of under a megabyte repeat one page into tens of millions of characters, which then
    take an hour to embed. Our real PDFs hold at most 0.4 characters per byte, and text files
    at most 1 (every encoding we read takes a byte or more per character), so 4 per byte
    refuses only files that expand far beyond anything written by hand.

    >>> ParseLimits(max_pages=100, timeout_seconds=60.0)
    >>> ParseLimits().text_chars_limit(788_000)
    3152000
    """

    max_file_bytes: int = 200 * 1024 * 1024
    max_pages: int = 5000
    max_image_pixels: int = 64_000_000
    max_text_chars: int = 60_000_000
    max_chars_per_byte: float = 4.0
    min_text_chars: int = 1_000_000
    max_images_per_page: int = 20
    min_image_side: int = 32
    timeout_seconds: float | None = None
    # Word, PowerPoint and Excel files are ZIP archives: what one may unpack to, and how many
    # parts it may hold, so a zip bomb is refused from its directory before anything is unpacked.
    max_archive_entries: int = 10_000
    max_unpacked_bytes: int = 256 * 1024 * 1024
    # Pages without a usable text layer, and image files, are read by OCR (ingest/parsers/ocr.py).
    ocr: OcrOptions = field(default_factory=OcrOptions)

    def __post_init__(self) -> None:
        for field_name in (
            "max_file_bytes",
            "max_pages",
            "max_image_pixels",
            "max_text_chars",
            "max_chars_per_byte",
            "min_text_chars",
            "max_archive_entries",
            "max_unpacked_bytes",
        ):
            value = getattr(self, field_name)
            if value <= 0:
                raise ValueError(f"{field_name} must be > 0, got {value}")
        if self.max_images_per_page < 0:
            raise ValueError(f"max_images_per_page must be >= 0, got {self.max_images_per_page}")
        if self.min_image_side < 1:
            raise ValueError(f"min_image_side must be >= 1, got {self.min_image_side}")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0 or None, got {self.timeout_seconds}")

    def text_chars_limit(self, file_bytes: int) -> int:
        """How many characters of text a file of ``file_bytes`` bytes may hold.

        ``max_chars_per_byte`` per byte, but never less than ``min_text_chars`` (a small file
        may hold a short book) nor more than ``max_text_chars``.
        """
        scaled = max(self.min_text_chars, int(self.max_chars_per_byte * file_bytes))
        return min(self.max_text_chars, scaled)


def too_much_text(
    name: str, file_bytes: int, limits: ParseLimits, *, chars: int | None = None, where: str = ""
) -> FileTooLarge:
    """The refusal of a file whose text passed ``limits.text_chars_limit``, naming the limit.

    ``chars`` is the text's length when known; a PDF stops reading at the limit and says
    ``where`` ("(the limit was passed on page 302)") instead.
    """
    cap = limits.text_chars_limit(file_bytes)
    scope = (
        "one file"
        if cap == limits.max_text_chars
        else (
            f"a file of {human_size(file_bytes)} ({limits.max_chars_per_byte:g} characters "
            f"per byte, at least {limits.min_text_chars:,})"
        )
    )
    if chars is None:
        return FileTooLarge(
            f"{name} holds more than {cap:,} characters of text{where}, the limit for {scope}; "
            "split it into smaller files."
        )
    return FileTooLarge(
        f"{name} holds {chars:,} characters of text, more than the {cap:,}-character limit "
        f"for {scope}; split it into smaller files."
    )


class Deadline:
    """Raises FileTooLarge once a file has taken longer than its time limit to read."""

    def __init__(self, seconds: float | None, name: str) -> None:
        self._seconds = seconds
        self._name = name
        self._ends = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        """Seconds left before the limit (negative once passed); None without a limit."""
        return None if self._ends is None else self._ends - time.monotonic()

    def check(self, where: str) -> None:
        if self._ends is not None and time.monotonic() > self._ends:
            raise FileTooLarge(
                f"{self._name} took longer than the {self._seconds:g}-second limit to read "
                f"(stopped at {where}); it was not ingested."
            )


# How Python shows an object without a readable form: "<_io.BytesIO object at 0x7f3a...>".
# Pillow puts the file object in its messages; a person can make nothing of it.
_OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")


def short_reason(exc: BaseException, limit: int = 160) -> str:
    """A library exception as a short phrase for a message a person reads."""
    # Trailing full stops go: the phrase ends up inside parentheses in a longer sentence.
    text = _OBJECT_REPR.sub("", " ".join(str(exc).split())).strip().rstrip(".")
    text = text or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
