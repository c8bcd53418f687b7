"""Marking a passage on a page image the way a highlighter pen does: the colour multiplies the
page, so the print stays black and legible under it."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageChops, ImageDraw

Box = tuple[float, float, float, float]  # left, top, right, bottom, in the image's pixels

# The passage in a light yellow, the words the answer quoted in a darker green with a rule
# under each line (the green the card marks quoted words with in the text): the quote must
# stand out from the passage around it at a glance.
PASSAGE_COLOUR = (255, 236, 120)
QUOTE_COLOUR = (96, 200, 96)
QUOTE_RULE = (46, 125, 50)
# Boxes grow by this share of the line height, so the marks cover ascenders and descenders.
_PAD = 0.18


def mark(image: Image.Image, passage: Sequence[Box], quotes: Sequence[Box] = ()) -> Image.Image:
    """A copy of ``image`` (RGB) with ``passage`` boxes marked lightly and ``quotes`` strongly.

    >>> marked = mark(page, [(72, 100, 400, 114)], quotes=[(72, 100, 180, 114)])
    """
    passage, quotes = merge_lines(passage), merge_lines(quotes)
    tint = Image.new("RGB", image.size, (255, 255, 255))
    draw = ImageDraw.Draw(tint)
    for box in passage:
        draw.rectangle(_padded(box), fill=PASSAGE_COLOUR)
    for box in quotes:
        draw.rectangle(_padded(box), fill=QUOTE_COLOUR)
    marked = ImageChops.multiply(image.convert("RGB"), tint)
    rules = ImageDraw.Draw(marked)
    for box in quotes:
        left, _, right, bottom = _padded(box)
        rules.line(
            [(left, bottom), (right, bottom)],
            fill=QUOTE_RULE,
            width=max(2, round((box[3] - box[1]) / 8)),
        )
    return marked


def merge_lines(boxes: Sequence[Box]) -> list[Box]:
    """Boxes of one line joined into one, so the words and the gaps between them are marked
    alike (PDFium gives a box per text object, and a line of several fonts has several).

    >>> merge_lines([(10, 100, 50, 112), (58, 101, 90, 112), (10, 115, 40, 127)])
    [(10, 100, 90, 112), (10, 115, 40, 127)]
    """
    merged: list[Box] = []
    for box in boxes:
        if merged and _same_line(merged[-1], box):
            a = merged[-1]
            merged[-1] = (
                min(a[0], box[0]),
                min(a[1], box[1]),
                max(a[2], box[2]),
                max(a[3], box[3]),
            )
        else:
            merged.append(box)
    return merged


def _same_line(a: Box, b: Box) -> bool:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    height = min(a[3] - a[1], b[3] - b[1])
    gap = max(a[0], b[0]) - min(a[2], b[2])
    return height > 0 and overlap > height / 2 and gap < 3 * max(a[3] - a[1], b[3] - b[1])


def _padded(box: Box) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    pad = max(1.0, (bottom - top) * _PAD)
    return round(left - pad / 2), round(top - pad), round(right + pad / 2), round(bottom + pad)
