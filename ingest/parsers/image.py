"""Image files (PNG, JPEG, WebP, GIF) as one page holding the image, checked before decoding."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from ingest.parsers.common import Deadline, ParseLimits, short_reason
from ingest.parsers.detect import GIF, JPEG, PNG, WEBP
from ingest.parsers.ocr import OcrSession, join_hyphenated
from ragcore.errors import CorruptFile, FileTooLarge
from ragcore.types import Page, PageImage, ParsedDocument

_PILLOW_FORMAT = {PNG: "PNG", JPEG: "JPEG", WEBP: "WEBP", GIF: "GIF"}
_FORMAT_NAME = {PNG: "PNG", JPEG: "JPEG", WEBP: "WebP", GIF: "GIF"}
# Modes every image reader (CLIP's preprocessing included) handles without surprises.
_PLAIN_MODES = frozenset({"1", "L", "LA", "RGB", "RGBA"})


# The chat view shows a figure next to an answer at this size.
THUMB_SIDE = 384
# CLIP looks at 224 x 224 pixels; a copy at most this large keeps its detail while bounding what
# the worker decodes: every image is decoded full size only here, inside the parse sandbox.
EMBED_SIDE = 1024


@dataclass(frozen=True)
class ImageCopies:
    """What the worker gets of one image: a copy for the image embedder and a thumbnail.

    ``data`` is the file's own bytes when they are PNG or plain JPEG and at most
    ``EMBED_SIDE`` pixels a side, else a re-encoded, downscaled copy; ``thumbnail`` is a PNG of
    at most ``THUMB_SIDE`` pixels a side.

    >>> copies = image_copies(img, data, "image/png")
    >>> copies.mime, len(copies.thumbnail) < len(data)
    ('image/png', True)
    """

    data: bytes
    mime: str
    thumbnail: bytes


def parse_image(
    data: bytes, *, name: str, doc_id: str, mime: str, limits: ParseLimits
) -> ParsedDocument:
    """One page whose only image is the file (downscaled or re-encoded when needed), and as its
    text whatever OCR reads in it (a screenshot, a scanned page); a photo reads as no text.

    >>> parse_image(png_bytes, name="cat.png", doc_id="d1", mime="image/png", limits=ParseLimits())
    """
    kind = _FORMAT_NAME[mime]
    try:
        # Image.open reads only the header, so the pixel count is known before any decoding.
        img = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[mime]])
    except Image.DecompressionBombError as exc:
        raise FileTooLarge(
            f"{name} has too many pixels to open safely ({short_reason(exc)}); it was not ingested."
        ) from exc
    except UnidentifiedImageError as exc:
        # Pillow's own message names its in-memory file object, which tells a person nothing.
        raise CorruptFile(
            f"{name} is not a readable {kind} image (it starts like one, but the rest could not "
            "be recognised); it may be damaged."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFile(
            f"{name} is not a readable {kind} image ({short_reason(exc)}); it may be damaged."
        ) from exc
    with img:
        width, height = img.size
        check_pixels(width, height, limits.max_image_pixels, what=name)
        try:
            img.load()  # decodes the first frame: a cut-off file fails here, not later in CLIP
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptFile(
                f"{name} could not be decoded as a {kind} image ({short_reason(exc)}); "
                "it may be truncated or damaged."
            ) from exc
        copies = image_copies(img, data, mime)
        warnings: list[str] = []
        text, confidence = _ocr_text(img, name, limits, warnings)
    image = PageImage(
        page=1,
        index=0,
        data=copies.data,
        mime=copies.mime,
        width=width,
        height=height,
        thumbnail=copies.thumbnail,
    )
    page = Page(number=1, text=text, images=(image,), ocr_confidence=confidence)
    return ParsedDocument(
        doc_id=doc_id, name=name, mime=mime, pages=(page,), warnings=tuple(warnings)
    )


# OCR reads below this mean confidence, or fewer words, are a photo's texture, not its text.
_MIN_OCR_CONFIDENCE = 0.5
_MIN_OCR_WORDS = 3


def _ocr_text(
    img: Image.Image, name: str, limits: ParseLimits, warnings: list[str]
) -> tuple[str, float | None]:
    """The text OCR reads in the image and its confidence, or ("", None) when it reads none."""
    if not limits.ocr.enabled:
        return "", None
    frame = _plain(img, for_resizing=True)
    if frame.width * frame.height > limits.ocr.max_pixels:
        frame = _downscaled(frame, int(math.sqrt(limits.ocr.max_pixels)))
    deadline = Deadline(limits.timeout_seconds, name)
    ocr = OcrSession(limits.ocr, name=name, warnings=warnings, remaining=deadline.remaining)
    # Screenshots and photos carry no reliable resolution; 300 is what Tesseract assumes of text.
    result = ocr.read(frame, page=None, dpi=300)
    if result is None or result.words < _MIN_OCR_WORDS:
        return "", None
    if result.confidence < _MIN_OCR_CONFIDENCE:
        return "", None
    return join_hyphenated(result.text), result.confidence


def check_pixels(width: int, height: int, max_pixels: int, *, what: str) -> None:
    """Refuse an image whose pixel count could exhaust memory once decoded."""
    if width * height > max_pixels:
        raise FileTooLarge(
            f"{what} is {width:,} x {height:,} pixels ({width * height / 1e6:.0f} megapixels), "
            f"more than the {max_pixels / 1e6:g}-megapixel limit; it was not ingested."
        )


def image_copies(img: Image.Image, data: bytes, mime: str) -> ImageCopies:
    """The embedding copy and the thumbnail of a decoded image (``data`` are its file bytes)."""
    if max(img.size) <= EMBED_SIDE:
        encoded, encoded_mime = encode_for_embedding(img, data, mime)
        small = img
    else:
        small = _downscaled(_plain(img, for_resizing=True), EMBED_SIDE)
        if mime == JPEG and small.mode in ("L", "RGB"):
            encoded, encoded_mime = _save(small, "JPEG", quality=90), JPEG
        else:
            encoded, encoded_mime = to_png(small), PNG
    thumb = _downscaled(_plain(small).convert("RGB"), THUMB_SIDE)
    return ImageCopies(data=encoded, mime=encoded_mime, thumbnail=_save(thumb, "PNG"))


def encode_for_embedding(img: Image.Image, data: bytes, mime: str) -> tuple[bytes, str]:
    """Bytes any image reader can open, and their mime: PNG and plain JPEG as they are, else PNG.

    GIF and WebP (possibly animated) become a PNG of their current frame; a CMYK or YCCK JPEG
    becomes an RGB PNG, since some readers show those with inverted colours.
    """
    if mime == PNG:
        return data, PNG
    if mime == JPEG and img.mode in ("L", "RGB"):
        return data, JPEG
    return to_png(img), PNG


def to_png(img: Image.Image) -> bytes:
    """The image as PNG bytes, converted to RGB(A) first when its mode is unusual (CMYK, P, 16-bit)."""
    return _save(_plain(img), "PNG")


def _plain(img: Image.Image, *, for_resizing: bool = False) -> Image.Image:
    """The image in a mode every reader handles; 1-bit as greyscale when it is to be resized,
    since Pillow resizes 1-bit images by dropping pixels, which loses thin lines of a scan."""
    if for_resizing and img.mode == "1":
        return img.convert("L")
    if img.mode in _PLAIN_MODES:
        return img
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    return img.convert("RGBA" if has_alpha else "RGB")


def _downscaled(img: Image.Image, side: int) -> Image.Image:
    """A copy at most ``side`` pixels on its longer side, in proportion; the image if it fits."""
    width, height = img.size
    if max(width, height) <= side:
        return img
    scale = side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # reducing_gap first shrinks by whole factors (cheap), as Image.thumbnail does.
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    if fmt == "PNG":
        # zlib's fastest level: these copies are read back by this app only, and Pillow's
        # default (6) spent a quarter more CPU on the PNGs of the shared PDFs.
        options.setdefault("compress_level", 1)
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()
