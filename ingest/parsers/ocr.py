"""Optical character recognition of page images with Tesseract, run as a program, offline."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

# Tesseract's own answer for a page it could not read at all.
_NO_TEXT = ""
# OSD's "Rotate: N" line: the clockwise turn, in degrees, that makes the page upright.
_ROTATE = re.compile(r"Rotate:\s*(\d+)")
_OSD_CONFIDENCE = re.compile(r"Orientation confidence:\s*([\d.]+)")
# How every warning and status line about a missing engine begins.
OCR_UNAVAILABLE = "OCR is not available"
INSTALL_HINT = "install tesseract-ocr (Debian: apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd)"


# A word broken at a line end: "pas-\nsages" (a lower-case letter on each side). PDFium marks
# the ones it sees itself (ingest/parsers/pdfium_text.py); OCR text and the rest come here.
_HYPHEN_BREAK = re.compile(r"(?<=[a-z])-\n(?=[a-z])")


def join_hyphenated(text: str) -> str:
    """Words broken at a line end rejoined: "pas-\\nsages" → "passages".

    >>> join_hyphenated("cheap pas-\\nsages")
    'cheap passages'
    """
    return _HYPHEN_BREAK.sub("", text)


class OcrFailed(Exception):
    """One image could not be read (the engine failed or ran out of time); the message says why."""


@dataclass(frozen=True)
class OcrText:
    """What the engine read: text in reading order, its mean word confidence (0–1), the turn
    (degrees clockwise) that made the image upright, and how many words it found."""

    text: str
    confidence: float
    rotated: int = 0
    words: int = 0


@dataclass(frozen=True)
class OcrOptions:
    """How pages are OCR'd. ``dpi`` is the resolution a PDF page is rendered at, ``max_pixels``
    caps a render (a 9000 x 9000 px poster page is read at a smaller scale), and
    ``min_chars`` is the least text layer a page must have to be taken as it is.

    >>> OcrOptions(enabled=False)
    """

    enabled: bool = True
    program: str = "tesseract"
    language: str = "eng"
    dpi: int = 150
    max_pixels: int = 12_000_000
    min_chars: int = 20
    page_timeout_seconds: float = 60.0
    # An upright page reads at ~90; below this the other orientations are tried.
    rotate_below: float = 0.6

    def __post_init__(self) -> None:
        if not 50 <= self.dpi <= 600:
            raise ValueError(f"dpi must be between 50 and 600, got {self.dpi}")
        if self.max_pixels < 100_000:
            raise ValueError(f"max_pixels must be at least 100,000, got {self.max_pixels}")
        if self.min_chars < 0:
            raise ValueError(f"min_chars must be >= 0, got {self.min_chars}")
        if self.page_timeout_seconds <= 0:
            raise ValueError(f"page_timeout_seconds must be > 0, got {self.page_timeout_seconds}")
        if not re.fullmatch(r"[A-Za-z_]+(\+[A-Za-z_]+)*", self.language):
            raise ValueError(
                f"language must be Tesseract language codes like 'eng+deu', got {self.language!r}"
            )


class OcrEngine(Protocol):
    """Reads the text of an image; ``unavailable()`` says why it cannot (None when it can)."""

    name: str

    def unavailable(self) -> str | None: ...

    def read(self, image: Image.Image, *, timeout: float, dpi: int) -> OcrText: ...


class TesseractOcr:
    """The ``tesseract`` program (Debian's tesseract-ocr), one process per image.

    Each call runs with one thread (``OMP_THREAD_LIMIT=1``): on two shared cores Tesseract's
    own threads made a page 3-6 times slower, not faster (bench/RESULTS.md).
    A page whose words read with low confidence is also tried turned by the orientation
    Tesseract's OSD reports, and the better reading is kept.

    >>> TesseractOcr().read(Image.open("scan.png"), timeout=60, dpi=200).text[:20]
    'The LinnSequencer\\n32'
    """

    name = "tesseract"

    def __init__(self, options: OcrOptions = OcrOptions()) -> None:
        self.options = options
        self.program = options.program

    def unavailable(self) -> str | None:
        path = shutil.which(self.program)
        if path is None:
            return f"{OCR_UNAVAILABLE}: {INSTALL_HINT}"
        return None

    def read(self, image: Image.Image, *, timeout: float, dpi: int) -> OcrText:
        png = _png(image)
        first = self._recognise(png, timeout, dpi)
        if first.confidence >= self.options.rotate_below and first.words >= 5:
            return first
        turn = self._orientation(png, timeout, dpi)
        if not turn:
            return first
        # PIL turns counter-clockwise; OSD's "Rotate" is clockwise.
        turned = self._recognise(_png(image.rotate(-turn, expand=True)), timeout, dpi)
        turned = OcrText(turned.text, turned.confidence, turn, turned.words)
        return (
            turned if turned.confidence * turned.words > first.confidence * first.words else first
        )

    def _run(self, png: bytes, args: list[str], timeout: float) -> str:
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run(
                [self.program, "stdin", "stdout", *args],
                input=png,
                capture_output=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OcrFailed(f"reading it took longer than {timeout:.0f} seconds") from exc
        except OSError as exc:
            raise OcrFailed(f"tesseract could not be started ({exc.strerror or exc})") from exc
        if done.returncode != 0:
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise OcrFailed(f"tesseract failed ({reason[-1] if reason else done.returncode})")
        return done.stdout.decode("utf-8", "replace")

    def _recognise(self, png: bytes, timeout: float, dpi: int) -> OcrText:
        args = ["-l", self.options.language, "--dpi", str(dpi), "--psm", "3", "tsv"]
        return parse_tsv(self._run(png, args, timeout))

    def _orientation(self, png: bytes, timeout: float, dpi: int) -> int:
        """The clockwise turn OSD advises, 0 when unsure or when OSD data is not installed."""
        try:
            out = self._run(png, ["--dpi", str(dpi), "--psm", "0"], timeout)
        except OcrFailed:
            return 0  # no osd.traineddata, or too little text to tell: keep the page as it is
        rotate, confident = _ROTATE.search(out), _OSD_CONFIDENCE.search(out)
        if rotate is None or confident is None or float(confident.group(1)) < 1.0:
            return 0
        return int(rotate.group(1)) % 360


def ocr_status(options: OcrOptions) -> str:
    """One line for status views: which engine reads scans, or why none does.

    >>> ocr_status(OcrOptions())
    'OCR: tesseract 5.3.0 (eng), for pages without a text layer and for images'
    """
    if not options.enabled:
        return "OCR: off (RAG_OCR=false); pages without a text layer are kept without text"
    missing = TesseractOcr(options).unavailable()
    if missing is not None:
        return missing
    try:
        done = subprocess.run(
            [options.program, "--version"], capture_output=True, timeout=10, check=False
        )
        first = (done.stdout or done.stderr).decode("utf-8", "replace").splitlines()
        version = first[0].strip() if first else options.program
    except (OSError, subprocess.SubprocessError):
        version = options.program
    return f"OCR: {version} ({options.language}), for pages without a text layer and for images"


def parse_tsv(tsv: str) -> OcrText:
    """Tesseract's TSV output as text (blocks as paragraphs, lines as lines) and mean confidence.

    >>> parse_tsv(header + "5\\t1\\t1\\t1\\t1\\t1\\t0\\t0\\t9\\t9\\t91.5\\tHello\\n").text
    'Hello'
    """
    lines: list[str] = []
    confidences: list[float] = []
    current: tuple[int, int, int, int] | None = None
    words: list[str] = []
    last_block: tuple[int, int] | None = None
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        try:
            conf = float(cols[10])
        except ValueError:
            continue
        if not text or conf < 0:
            continue
        key = (int(cols[1]), int(cols[2]), int(cols[3]), int(cols[4]))
        if key != current:
            if words:
                lines.append(" ".join(words))
            block = key[:2]
            if last_block is not None and block != last_block:
                lines.append("")  # a blank line between blocks: a paragraph break
            last_block = block
            current, words = key, []
        words.append(text)
        confidences.append(conf)
    if words:
        lines.append(" ".join(words))
    mean = sum(confidences) / len(confidences) / 100 if confidences else 0.0
    return OcrText(
        text="\n".join(lines) if lines else _NO_TEXT,
        confidence=round(mean, 3),
        words=len(confidences),
    )


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    mode = image.mode if image.mode in ("1", "L", "RGB") else "RGB"
    (image if image.mode == mode else image.convert(mode)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


# Below this many seconds left of the file's time limit, no further page is OCR'd.
_MIN_SECONDS_LEFT = 5.0


class OcrSession:
    """OCR for one file: checks the engine once, keeps within the file's time limit, and words
    every problem as a warning on the document, so a page that cannot be read fails alone.

    >>> session = OcrSession(OcrOptions(), name="scan.pdf", warnings=warnings)
    >>> session.read(image, page=3, dpi=200)  # None, with a warning, when it could not
    """

    def __init__(
        self,
        options: OcrOptions,
        *,
        name: str,
        warnings: list[str],
        remaining: Callable[[], float | None] = lambda: None,
        engine: OcrEngine | None = None,
    ) -> None:
        self.options = options
        self.name = name
        self.warnings = warnings
        self._remaining = remaining
        self._engine = engine
        self._checked = False
        self.unavailable: str | None = None

    @property
    def enabled(self) -> bool:
        return self.options.enabled

    def read(self, image: Image.Image, *, page: int | None, dpi: int) -> OcrText | None:
        where = f"Page {page} of {self.name}" if page is not None else self.name
        engine = self._ready()
        if engine is None:
            return None
        left = self._remaining()
        if left is not None and left < _MIN_SECONDS_LEFT:
            self.warnings.append(
                f"{where} was not read by OCR: the time limit for reading one file was reached."
            )
            return None
        timeout = self.options.page_timeout_seconds
        if left is not None:
            timeout = min(timeout, left - _MIN_SECONDS_LEFT / 2)
        try:
            return engine.read(image, timeout=timeout, dpi=dpi)
        except OcrFailed as exc:
            self.warnings.append(
                f"{where} could not be read by OCR ({exc}); it was kept without text."
            )
            return None

    def _ready(self) -> OcrEngine | None:
        if not self._checked:
            self._checked = True
            engine = self._engine or TesseractOcr(self.options)
            self.unavailable = engine.unavailable()
            if self.unavailable is not None:
                self.warnings.append(
                    f"{self.unavailable}; the pages of {self.name} without a text layer "
                    "were kept without text."
                )
            else:
                self._engine = engine
        return None if self.unavailable is not None else self._engine
