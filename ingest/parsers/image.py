"""Image files (PNG, JPEG, WebP, GIF) as one page holding the image, checked before decoding."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from ingest.parsers.common import ParseLimits, short_reason
from ingest.parsers.detect import GIF, JPEG, PNG, WEBP
from ragcore.errors import CorruptFile, FileTooLarge
from ragcore.types import Page, PageImage, ParsedDocument

_PILLOW_FORMAT = {PNG: "PNG", JPEG: "JPEG", WEBP: "WEBP", GIF: "GIF"}
_FORMAT_NAME = {PNG: "PNG", JPEG: "JPEG", WEBP: "WebP", GIF: "GIF"}
# Modes every image reader (CLIP's preprocessing included) handles without surprises.
_PLAIN_MODES = frozenset({"1", "L", "LA", "RGB", "RGBA"})


def parse_image(
    data: bytes, *, name: str, doc_id: str, mime: str, limits: ParseLimits
) -> ParsedDocument:
    """One page without text whose only image is the file (re-encoded to PNG when needed).

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
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
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
        encoded, encoded_mime = encode_for_embedding(img, data, mime)
    image = PageImage(page=1, index=0, data=encoded, mime=encoded_mime, width=width, height=height)
    return ParsedDocument(
        doc_id=doc_id, name=name, mime=mime, pages=(Page(number=1, text="", images=(image,)),)
    )


def check_pixels(width: int, height: int, max_pixels: int, *, what: str) -> None:
    """Refuse an image whose pixel count could exhaust memory once decoded."""
    if width * height > max_pixels:
        raise FileTooLarge(
            f"{what} is {width:,} x {height:,} pixels ({width * height / 1e6:.0f} megapixels), "
            f"more than the {max_pixels / 1e6:g}-megapixel limit; it was not ingested."
        )


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
    if img.mode not in _PLAIN_MODES:
        has_alpha = "A" in img.getbands() or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()
