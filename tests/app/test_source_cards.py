"""Source cards, opened: a PDF passage on its rendered page (zoom, page turning, the original
file), a text passage inside the text around it, and a deleted document said plainly."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Expander

from app import render
from ragcore import library
from ragcore.runtime import Runtime
from ragcore.testing.documents import make_text_pdf
from ragcore.types import ChunkingParams, Strategy

PAGES = [
    "Contents and warranty terms of the pump.",
    "Maintenance: the pump needs fresh oil every 200 hours of running time.\n"
    "Clean the intake filter every month.\nReplace the seals every second year.",
]
NOTES = "\n\n".join(
    f"## {part}\n\nThe {part} of the boat is checked every {n} days for cracks and rust."
    for n, part in enumerate(["hull", "mast", "keel", "rudder", "anchor", "winch"], start=2)
)
SENTENCES = ChunkingParams(Strategy.SENTENCE, 24, 0)


@pytest.fixture
def library_ready(runtime: Runtime, ingest_all: Callable[[], None], tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "pump manual.pdf", PAGES)
    notes = tmp_path / "boat.md"
    notes.write_text(NOTES)
    for path in (pdf, notes):
        library.add_file(runtime.catalog, runtime.settings.uploads_dir, path, SENTENCES)
    ingest_all()


def ask(at: AppTest, question: str) -> None:
    at.run()
    at.switch_page("views/chat.py").run()
    at.chat_input[0].set_value(question).run()
    assert not at.exception


def open_card(at: AppTest, words: str) -> tuple[str, Expander]:
    """Open the first card whose title holds ``words`` as a click on it would; its key too."""
    number = next(
        re.match(r"\\\[(\d+)\\\]", e.label).group(1)  # type: ignore[union-attr]
        for e in at.expander
        if words in e.label
    )
    key = render.anchor_id("t1", int(number))
    at.session_state[key] = True
    at.run()
    assert not at.exception
    return key, card(at, number)


def card(at: AppTest, number: str) -> Expander:
    return next(e for e in at.expander if e.label.startswith(f"\\[{number}\\]"))


def page_image(expander: Expander) -> Image.Image:
    block = next(m.value for m in expander.markdown if 'class="source-page"' in m.value)
    data = re.search(r'src="data:image/png;base64,([^"]+)"', block)
    assert data is not None
    return Image.open(io.BytesIO(base64.b64decode(data.group(1)))).convert("RGB")


def coloured_share(image: Image.Image) -> float:
    rgb = np.asarray(image, dtype=float) / 255
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    return float((np.where(high > 0, (high - low) / np.maximum(high, 1e-9), 0) > 0.35).mean())


def captions(expander: Expander) -> list[str]:
    return [c.value for c in expander.caption]


def test_an_open_pdf_card_shows_its_page_with_the_passage_marked(
    app: AppTest, library_ready: None
) -> None:
    ask(app, "How often does the pump need fresh oil?")
    key, opened = open_card(app, "pump manual\\.pdf — page 2")
    assert "page 2 of 2" in captions(opened)
    assert any(c.startswith("The passage is marked in yellow") for c in captions(opened))
    image = page_image(opened)
    assert image.width >= 612 and 0.002 < coloured_share(image) < 0.5
    # A mark where the passage begins, for the citation script to scroll to.
    assert any('class="passage-focus"' in m.value for m in opened.markdown)
    download = opened.get("download_button")
    assert len(download) == 1

    # Zoom: the page is drawn at twice 72 dpi, at its own size in a box that scrolls.
    app.session_state[f"{key}-zoom"] = "200%"
    app.run()
    zoomed = card(app, key.rsplit("-", 1)[1])
    assert page_image(zoomed).width == 1224
    assert any("width:1224px" in m.value for m in zoomed.markdown)

    # The previous page, unmarked, with a way back to the passage.
    next(b for b in zoomed.button if b.key == f"{key}-page-back").click().run()
    earlier = card(app, key.rsplit("-", 1)[1])
    assert "page 1 of 2" in captions(earlier)
    assert coloured_share(page_image(earlier)) == 0
    assert any(b.key == f"{key}-page-home" for b in earlier.button)


def test_a_closed_card_draws_no_page(app: AppTest, library_ready: None) -> None:
    ask(app, "How often does the pump need fresh oil?")
    assert not any('class="source-page"' in m.value for m in app.markdown)


def test_an_open_text_card_shows_the_passage_inside_the_text_around_it(
    app: AppTest, library_ready: None
) -> None:
    ask(app, "How often is the keel checked for cracks?")
    _, opened = open_card(app, "boat\\.md")
    block = next(m.value for m in opened.markdown if 'class="in-context"' in m.value)
    before, _, after = block.partition('class="passage"')
    assert 'class="context"' in before or 'class="context"' in after
    assert not any('class="source-page"' in m.value for m in opened.markdown)


def test_a_card_whose_document_was_deleted_says_so(
    app: AppTest, library_ready: None, runtime: Runtime
) -> None:
    ask(app, "How often does the pump need fresh oil?")
    doc = next(d for d in runtime.catalog.list_documents() if d.name == "pump manual.pdf")
    library.delete_document(runtime.catalog, runtime.store, doc.id)
    _, opened = open_card(app, "pump manual\\.pdf — page 2")
    assert any("Document deleted" in i.value for i in opened.info)
    assert any('class="passage"' in m.value for m in opened.markdown)  # the text is still shown
