"""A stand-in for Tesseract: the words of a page given in advance, with their boxes."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from ragcore.sources.ocr import OcrPage, OcrWord


class FixedWords:
    """Reads the same words from every image; each line of ``lines`` is a row of words laid
    out left to right inside ``box`` (fractions of the image), one row under the other.

    >>> FixedWords(["Oil the chain", "every 200 hours"]).read(image, dpi=150).text
    'Oil the chain every 200 hours'
    """

    def __init__(
        self,
        lines: Sequence[str],
        *,
        box: tuple[float, float, float, float] = (0.1, 0.1, 0.9, 0.5),
    ) -> None:
        left, top, right, bottom = box
        height = (bottom - top) / max(len(lines), 1)
        words: list[OcrWord] = []
        for n, line in enumerate(lines):
            parts = line.split()
            width = (right - left) / max(len(parts), 1)
            for k, word in enumerate(parts):
                x0, y0 = left + k * width, top + n * height
                words.append(
                    OcrWord(word, (1, 1, n + 1), (x0, y0, x0 + width * 0.9, y0 + height * 0.8))
                )
        self.page = OcrPage(tuple(words))
        self.calls = 0

    def read(self, image: Image.Image, *, dpi: int) -> OcrPage:
        self.calls += 1
        return self.page
