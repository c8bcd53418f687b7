"""Word boxes of a scanned page, read by Tesseract, so a passage read by OCR can be marked."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from ragcore.errors import RagError
from ragcore.sources.highlight import Box
from ragcore.sources.matching import Span

# A box's corners as fractions of the image's width and height, so one reading serves every zoom.
Fractions = tuple[float, float, float, float]


class OcrUnavailable(RagError):
    """Tesseract is missing or failed on the page."""


@dataclass(frozen=True)
class OcrWord:
    text: str
    line: tuple[int, int, int]  # block, paragraph, line: words of one line share it
    box: Fractions


@dataclass(frozen=True)
class OcrPage:
    """A page's words in reading order; ``keyed.text`` is the words joined by spaces."""

    words: tuple[OcrWord, ...]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def line_boxes(self, span: Span, size: tuple[int, int]) -> list[Box]:
        """One box per line around the words that ``span`` of :attr:`text` touches, in the
        pixels of an image of ``size``."""
        width, height = size
        lines: dict[tuple[int, int, int], Fractions] = {}
        at = 0
        for word in self.words:
            end = at + len(word.text)
            if at < span[1] and span[0] < end:
                x0, y0, x1, y1 = word.box
                if word.line in lines:
                    a0, b0, a1, b1 = lines[word.line]
                    x0, y0, x1, y1 = min(x0, a0), min(y0, b0), max(x1, a1), max(y1, b1)
                lines[word.line] = (x0, y0, x1, y1)
            at = end + 1  # the space text puts between words
        return [
            (x0 * width, y0 * height, x1 * width, y1 * height) for x0, y0, x1, y1 in lines.values()
        ]

    def to_json(self) -> list[list[object]]:
        return [[w.text, list(w.line), list(w.box)] for w in self.words]

    @classmethod
    def from_json(cls, rows: list[list[object]]) -> OcrPage:
        words = []
        for text, line, box in rows:
            b = [float(v) for v in box]  # type: ignore[attr-defined]
            n = [int(v) for v in line]  # type: ignore[attr-defined]
            words.append(OcrWord(str(text), (n[0], n[1], n[2]), (b[0], b[1], b[2], b[3])))
        return cls(tuple(words))


class WordReader(Protocol):
    """Reads the words of an image with their boxes (Tesseract here; a fixed page in tests)."""

    def read(self, image: Image.Image, *, dpi: int) -> OcrPage: ...


@dataclass(frozen=True)
class TesseractWords:
    """The ``tesseract`` program run on one image with TSV output (as ingestion runs it:
    one thread, since on two shared cores its own threads made a page slower, not faster).

    >>> TesseractWords().read(Image.open("scan.png"), dpi=150).words[0].text
    'The'
    """

    program: str = "tesseract"
    language: str = "eng"
    timeout_seconds: float = 60.0

    def read(self, image: Image.Image, *, dpi: int) -> OcrPage:
        if shutil.which(self.program) is None:
            raise OcrUnavailable(
                "OCR is not available to find the passage on this scanned page: install "
                "tesseract-ocr (Debian: apt-get install tesseract-ocr tesseract-ocr-eng)"
            )
        buffer = io.BytesIO()
        image.convert("L").save(buffer, "PNG", compress_level=1)
        args = [self.program, "stdin", "stdout", "-l", self.language, "--dpi", str(dpi)]
        try:
            done = subprocess.run(
                [*args, "--psm", "3", "tsv"],
                input=buffer.getvalue(),
                capture_output=True,
                timeout=self.timeout_seconds,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OcrUnavailable(f"tesseract could not read the page ({exc})") from exc
        if done.returncode != 0:
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise OcrUnavailable(f"tesseract failed ({reason[-1] if reason else done.returncode})")
        return parse_words(done.stdout.decode("utf-8", "replace"), image.size)


def parse_words(tsv: str, size: tuple[int, int]) -> OcrPage:
    """Tesseract's TSV rows of level 5 (words) as words with boxes in fractions of ``size``."""
    width, height = max(size[0], 1), max(size[1], 1)
    words: list[OcrWord] = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        try:
            if float(cols[10]) < 0:
                continue
            block, par, line = int(cols[2]), int(cols[3]), int(cols[4])
            left, top, w, h = (int(v) for v in cols[6:10])
        except ValueError:
            continue
        box = (left / width, top / height, (left + w) / width, (top + h) / height)
        words.append(OcrWord(cols[11].strip(), (block, par, line), box))
    return OcrPage(tuple(words))
