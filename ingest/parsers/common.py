"""Shared by the parsers: the limits they enforce and how they word sizes and reasons."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ragcore.errors import FileTooLarge


@dataclass(frozen=True)
class ParseLimits:
    """What one file may hold before it is refused, so one upload cannot exhaust the machine.

    ``timeout_seconds`` is checked between PDF pages (a single slow page is not interrupted);
    None means no time limit. Text and image files are read in one step and are bounded by
    the size limits instead.

    >>> ParseLimits(max_pages=100, timeout_seconds=60.0)
    """

    max_file_bytes: int = 200 * 1024 * 1024
    max_pages: int = 5000
    max_image_pixels: int = 64_000_000
    max_text_chars: int = 60_000_000
    max_images_per_page: int = 20
    min_image_side: int = 32
    timeout_seconds: float | None = None

    def __post_init__(self) -> None:
        for field_name in ("max_file_bytes", "max_pages", "max_image_pixels", "max_text_chars"):
            value = getattr(self, field_name)
            if value <= 0:
                raise ValueError(f"{field_name} must be > 0, got {value}")
        if self.max_images_per_page < 0:
            raise ValueError(f"max_images_per_page must be >= 0, got {self.max_images_per_page}")
        if self.min_image_side < 1:
            raise ValueError(f"min_image_side must be >= 1, got {self.min_image_side}")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0 or None, got {self.timeout_seconds}")


class Deadline:
    """Raises FileTooLarge once a file has taken longer than its time limit to read."""

    def __init__(self, seconds: float | None, name: str) -> None:
        self._seconds = seconds
        self._name = name
        self._ends = None if seconds is None else time.monotonic() + seconds

    def check(self, where: str) -> None:
        if self._ends is not None and time.monotonic() > self._ends:
            raise FileTooLarge(
                f"{self._name} took longer than the {self._seconds:g}-second limit to read "
                f"(stopped at {where}); it was not ingested."
            )


def human_size(n_bytes: int) -> str:
    """A byte count as a person says it: "512 bytes", "3.4 MB"."""
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    size = float(n_bytes)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}" if size < 10 else f"{size:.0f} {unit}"
    raise AssertionError("unreachable")


def short_reason(exc: BaseException, limit: int = 160) -> str:
    """A library exception as a short phrase for a message a person reads."""
    # Trailing full stops go: the phrase ends up inside parentheses in a longer sentence.
    text = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
