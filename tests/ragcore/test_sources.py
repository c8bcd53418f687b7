"""Sources shown where they are: a PDF page with the passage marked, an image, text in context."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from ingest.service import build_worker
from ragcore import library
from ragcore.__main__ import main as ragcore_main
from ragcore.catalog import ChunkRow
from ragcore.document_text import trimmed_gap
from ragcore.errors import DocumentDeleted, NoPageToRender, SourceNotFound
from ragcore.runtime import Runtime
from ragcore.sources import SourceKind, SourceRenderer, SourceView, page_place, quote_span
from ragcore.sources.cache import PageCache, pages_dir
from ragcore.sources.matching import Keyed, locate
from ragcore.sources.ocr import parse_words
from ragcore.testing.documents import make_png, make_text_pdf
from ragcore.testing.ocr import FixedWords
from ragcore.testing.runtime import make_runtime
from ragcore.types import Chunk, ChunkingParams, ChunkKind, Strategy, point_id

SENTENCES = ChunkingParams(Strategy.SENTENCE, 64, 0)
NOUNS = [
    "lighthouse", "harbour", "anchor", "compass", "lantern", "rudder",
    "mast", "keel", "sextant", "beacon", "buoy", "galley",
]  # fmt: skip
PAGE_TWO = "\n".join(
    f"The {noun} was inspected by keeper number {i} during the morning watch."
    for i, noun in enumerate(NOUNS)
)
NOTES = "\n\n".join(
    f"## {noun.title()}\n\nThe {noun} needs oil every {i + 2}00 hours. "
    f"Check the {noun} weekly for rust. Replace the {noun} when it cracks."
    for i, noun in enumerate(NOUNS)
)
SCALE = 1.5
ROOT = Path(__file__).resolve().parents[2]
PAGE_HEIGHT = 792  # make_text_pdf's pages are US Letter


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PDF, a Markdown file and a PNG, ingested once with the hashing embedder."""
    root = tmp_path_factory.mktemp("sources")
    make_text_pdf(root / "guide.pdf", ["Harbour guide for keepers.", PAGE_TWO])
    (root / "notes.md").write_text(NOTES)
    make_png(root / "photo.png", 200, 120)
    rt = make_runtime(root / "data", ocr=False)
    for name in ("guide.pdf", "notes.md", "photo.png"):
        library.add_file(rt.catalog, rt.settings.uploads_dir, root / name, SENTENCES)
    build_worker(rt).run_until_idle()
    rt.close()
    return root


@pytest.fixture
def rt(library_dir: Path, tmp_path: Path) -> Iterator[Runtime]:
    """A copy of the ingested library per test, so deleting and re-indexing stay local."""
    shutil.copytree(library_dir / "data", tmp_path / "data")
    runtime = make_runtime(tmp_path / "data", ocr=False)
    # Uploads are found by their stored path: point the copy's documents at the copy's files.
    for doc in runtime.catalog.list_documents():
        moved = str(doc.path).replace(str(library_dir / "data"), str(tmp_path / "data"))
        runtime.catalog.set_document_status(doc.id, doc.status, path=moved)
    try:
        yield runtime
    finally:
        runtime.close()


def renderer(rt: Runtime, ocr: FixedWords | None = None) -> SourceRenderer:
    return SourceRenderer(rt.catalog, data_dir=rt.settings.data_dir, ocr=ocr)


def chunk_of(rt: Runtime, name: str, *, page: int | None = None, n: int = 0) -> ChunkRow:
    doc = next(d for d in rt.catalog.list_documents() if d.name == name)
    rows = [r for r in rt.catalog.chunks(doc.id) if page is None or r.page == page]
    return rows[n]


def pixels(view: SourceView) -> Image.Image:
    assert view.image is not None
    return Image.open(io.BytesIO(view.image)).convert("RGB")


def _area(image: Image.Image, box: tuple[float, ...]) -> np.ndarray:
    left, top, right, bottom = (round(v) for v in box)
    return np.asarray(image.crop((left, top, right, bottom)), dtype=float) / 255


def saturation(image: Image.Image, box: tuple[float, ...]) -> float:
    """The mean colour saturation (0–1) of the pixels in ``box``, as HSV defines it."""
    rgb = _area(image, box)
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    return float(np.where(high > 0, (high - low) / np.maximum(high, 1e-9), 0).mean())


def changed(marked: Image.Image, plain: Image.Image, box: tuple[float, ...]) -> float:
    """How far the marks moved the pixels of ``box`` from the plain page (0–255, mean of the
    channel that moved most)."""
    return float(np.abs(_area(plain, box) - _area(marked, box)).max(axis=2).mean() * 255)


def darkness(image: Image.Image, box: tuple[float, ...]) -> float:
    """How dark ``box`` is (0 white – 255 black): a strong mark darkens more than a light one."""
    return float((1 - _area(image, box) @ np.array([0.299, 0.587, 0.114])).mean() * 255)


def word_box(pdf: Path, page: int, word: str) -> tuple[float, float, float, float]:
    """Where ``word`` is drawn on the page, in the pixels of a render at SCALE (PDFium's search)."""
    document = pdfium.PdfDocument(str(pdf))
    textpage = document[page - 1].get_textpage()
    searcher = textpage.search(word, match_case=True, match_whole_word=True)
    found = searcher.get_next()
    assert found is not None, f"{word!r} is not on page {page}"
    start, count = found
    boxes = [textpage.get_charbox(i) for i in range(start, start + count)]
    left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
    bottom, top = min(b[1] for b in boxes), max(b[3] for b in boxes)
    return left * SCALE, (PAGE_HEIGHT - top) * SCALE, right * SCALE, (PAGE_HEIGHT - bottom) * SCALE


def nouns_in(text: str) -> list[str]:
    return [noun for noun in NOUNS if f"The {noun} " in text]


# --- PDF pages --------------------------------------------------------------------------------


def test_a_pdf_passage_is_marked_on_its_page_and_nowhere_else(rt: Runtime) -> None:
    chunk = chunk_of(rt, "guide.pdf", page=2, n=1)  # the page's second passage
    view = renderer(rt).render(chunk.point_id, scale=SCALE)
    assert (view.kind, view.page, view.shown_page, view.page_count) == (SourceKind.PAGE, 2, 2, 2)
    assert view.highlighted and view.found_by == "text layer" and not view.quoted
    image = pixels(view)
    assert image.size == (round(612 * SCALE), round(PAGE_HEIGHT * SCALE))
    pdf = Path(rt.catalog.get_document(chunk.doc_id).path)  # type: ignore[union-attr]
    inside, outside = nouns_in(chunk.text), [n for n in NOUNS if n not in nouns_in(chunk.text)]
    assert inside and outside
    for noun in inside:
        assert saturation(image, word_box(pdf, 2, noun)) > 0.3, f"{noun} is not marked"
    for noun in outside:
        assert saturation(image, word_box(pdf, 2, noun)) < 0.05, f"{noun} is marked"
    # The marks the view reports cover the passage's first word, one box per line.
    first = word_box(pdf, 2, inside[0])
    assert any(m[1] <= first[3] and first[1] <= m[3] for m in view.marks)
    assert len(view.marks) >= len(inside)


def test_a_quoted_sentence_is_marked_more_strongly_than_the_rest(rt: Runtime) -> None:
    chunk = chunk_of(rt, "guide.pdf", page=2, n=0)
    first, second = nouns_in(chunk.text)[:2]
    quote = quote_span(chunk.text, f"The {first} was inspected by keeper number 0")
    assert quote is not None
    view = renderer(rt).render(chunk.point_id, scale=SCALE, quotes=[quote])
    assert view.quoted
    image = pixels(view)
    pdf = Path(rt.catalog.get_document(chunk.doc_id).path)  # type: ignore[union-attr]
    quoted, passage = word_box(pdf, 2, first), word_box(pdf, 2, second)
    assert saturation(image, quoted) > 0.3 and saturation(image, passage) > 0.3
    assert darkness(image, quoted) > darkness(image, passage) + 25


def test_a_passage_read_past_its_chunk_is_marked_to_its_end_with_its_quote(rt: Runtime) -> None:
    # An answer read the passage on into the next chunk (a cut sentence finished there), and
    # quoted those words: the card marks them on the page, as part of the passage.
    chunk, following = (
        chunk_of(rt, "guide.pdf", page=2, n=0),
        chunk_of(rt, "guide.pdf", page=2, n=1),
    )
    noun = nouns_in(following.text)[0]
    passage = chunk.text + trimmed_gap(following.start - chunk.end) + following.text
    quote = quote_span(passage, f"The {noun} was inspected")
    assert quote is not None and quote[0] > len(chunk.text)
    view = renderer(rt).render(chunk.point_id, scale=SCALE, quotes=[quote], end=following.end)
    assert view.passage.endswith(following.text) and view.quoted
    pdf = Path(rt.catalog.get_document(chunk.doc_id).path)  # type: ignore[union-attr]
    assert saturation(pixels(view), word_box(pdf, 2, noun)) > 0.3
    # Without its end, the passage is its chunk, and a quote past it marks nothing.
    alone = renderer(rt).render(chunk.point_id, scale=SCALE, quotes=[quote])
    assert alone.passage == chunk.text and not alone.quoted
    assert saturation(pixels(alone), word_box(pdf, 2, noun)) < 0.05


def test_another_page_of_the_pdf_is_shown_unmarked(rt: Runtime) -> None:
    chunk = chunk_of(rt, "guide.pdf", page=2, n=0)
    view = renderer(rt).render(chunk.point_id, page=1)
    assert (view.page, view.shown_page, view.page_index) == (2, 1, 0)
    assert not view.highlighted and view.image is not None
    with pytest.raises(NoPageToRender, match="has 2 pages; there is no page 3"):
        renderer(rt).render(chunk.point_id, page=3)


def test_a_scanned_page_is_marked_where_ocr_reads_the_passage(rt: Runtime, tmp_path: Path) -> None:
    """A page without a text layer: the passage is found among the OCR words and their boxes."""
    pdf = make_text_pdf(tmp_path / "scan.pdf", [""])  # no text layer: a blank "scan"
    added = library.add_file(rt.catalog, rt.settings.uploads_dir, pdf, SENTENCES)
    doc = added.document
    text = "Oil the chain every 200 hours. Check the wick weekly."
    rt.catalog.replace_chunks(
        doc.id,
        [Chunk(doc.id, 0, 1, 0, len(text), text, location="page 1", ocr_confidence=0.9)],
        embed_model="test",
        stats={"pages": 1},
    )
    rt.catalog.set_document_status(doc.id, "ready", mime="application/pdf")
    lines = [
        "Chapter two",
        "Oil the chain every",
        "200 hours. Check the",
        "wick weekly.",
        "The end",
    ]
    words = FixedWords(lines, box=(0.1, 0.1, 0.9, 0.6))
    quote = quote_span(text, "Check the wick weekly")
    assert quote is not None
    view = renderer(rt, ocr=words).render(point_id(doc.id, 0), quotes=[quote])
    assert view.highlighted and view.found_by == "OCR" and view.quoted
    image = pixels(view)
    width, height = image.size
    row = (0.6 - 0.1) / len(lines)

    def line_box(n: int, left: float = 0.1, right: float = 0.9) -> tuple[float, ...]:
        top = 0.1 + n * row
        return (left * width, top * height, right * width, (top + row * 0.8) * height)

    plain = pdfium.PdfDocument(str(pdf))[0].render(scale=view.scale).to_pil().convert("RGB")
    assert changed(image, plain, line_box(1)) > 40  # "Oil the chain every"
    assert changed(image, plain, line_box(3, right=0.5)) > 40  # "wick weekly."
    assert changed(image, plain, line_box(0)) == changed(image, plain, line_box(4)) == 0
    # The quoted words are marked darker than the rest of the passage.
    assert darkness(image, line_box(3, right=0.5)) > darkness(image, line_box(1)) + 25
    renderer(rt, ocr=words).render(view.point_id)
    assert words.calls == 1, "the page's words are read once, then cached"


@pytest.mark.slow
def test_a_shared_scan_is_marked_by_tesseract(tmp_path: Path) -> None:
    """The real path: a scanned book page ingested with OCR, found again by Tesseract's boxes."""
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed (make install-debs)")
    scan = ROOT.parent / "shared" / "data" / "pdfs" / "scanned_c02-22.pdf"
    if not scan.is_file():
        pytest.skip(f"the shared scans are not here ({scan})")
    runtime = make_runtime(tmp_path / "data")
    try:
        library.add_file(runtime.catalog, runtime.settings.uploads_dir, scan, SENTENCES)
        build_worker(runtime).run_until_idle()
        rows = [r for r in runtime.catalog.chunks() if r.kind == ChunkKind.TEXT]
        assert rows and rows[-1].ocr_confidence is not None
        view = renderer(runtime).render(rows[-1].point_id)
        assert view.highlighted and view.found_by == "OCR"
        image = pixels(view)
        coloured = saturation(image, (0, 0, *image.size))
        assert 0.01 < coloured < 0.5
    finally:
        runtime.close()


def test_page_labels_name_the_printed_page_beside_its_index() -> None:
    assert page_place(11, "2") == "page 2 (PDF page 11)"
    assert page_place(3, "iii") == "page iii (PDF page 3)"
    assert page_place(4, "4") == page_place(4, "") == "page 4"


# --- other kinds ------------------------------------------------------------------------------


def test_an_image_source_is_the_image_with_its_caption(rt: Runtime) -> None:
    chunk = chunk_of(rt, "photo.png")
    view = renderer(rt).render(chunk.point_id)
    assert view.kind == SourceKind.IMAGE and view.caption == chunk.text.strip()
    assert pixels(view).getpixel((5, 5)) == (200, 30, 30)  # make_png's colour, in the thumbnail


def test_a_text_source_is_its_passage_inside_the_text_around_it(rt: Runtime) -> None:
    chunk = chunk_of(rt, "notes.md", n=1)
    view = renderer(rt).render(chunk.point_id)
    assert view.kind == SourceKind.TEXT and view.image is None
    assert view.passage == chunk.text and view.location == chunk.location
    assert view.context_before.strip() and view.context_after.strip()
    # The context is the document's own text on either side of the passage.
    assert NOTES.index(view.context_before.lstrip("…")[-30:]) < NOTES.index(chunk.text[:30])
    with pytest.raises(NoPageToRender, match="not a PDF"):
        renderer(rt).render(chunk.point_id, page=2)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["no-such-point", "0c0c0c0c-0000-5000-8000-000000000000"])
def test_an_unknown_id_is_refused_by_name(rt: Runtime, bad: str) -> None:
    with pytest.raises(SourceNotFound, match=r"source id|no source with id"):
        renderer(rt).render(bad)


def test_a_deleted_documents_source_says_so_and_its_pages_are_dropped(rt: Runtime) -> None:
    chunk = chunk_of(rt, "guide.pdf", page=2)
    renderer(rt).render(chunk.point_id)
    cache = PageCache(pages_dir(rt.settings.data_dir))
    assert (cache.root / chunk.doc_id).is_dir()
    library.delete_document(rt.catalog, rt.store, chunk.doc_id, page_cache=cache)
    assert not (cache.root / chunk.doc_id).exists()
    # Named as deleted with the document the caller knows (an old answer), and without it.
    for doc_id in (chunk.doc_id, None):
        with pytest.raises(DocumentDeleted, match="was deleted"):
            renderer(rt).render(chunk.point_id, doc_id=doc_id)


# --- the cache --------------------------------------------------------------------------------


def test_a_rendered_page_is_read_from_the_cache_the_next_time(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = chunk_of(rt, "guide.pdf", page=2)
    first = renderer(rt).render(chunk.point_id, scale=SCALE)
    cached = list((pages_dir(rt.settings.data_dir) / chunk.doc_id).glob("*/p2-*.png"))
    assert len(cached) == 1

    def no_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("the page was rendered again")

    monkeypatch.setattr("ragcore.sources.pdf.render", no_render)
    again = renderer(rt).render(chunk.point_id, scale=SCALE)  # a new renderer: no memory of it
    assert again.image == first.image and again.highlighted


def test_a_reindexed_document_is_rendered_anew(rt: Runtime) -> None:
    chunk = chunk_of(rt, "guide.pdf", page=2)
    renderer(rt).render(chunk.point_id)
    before = {p.parent.name for p in (pages_dir(rt.settings.data_dir) / chunk.doc_id).glob("*/*")}
    library.reindex(rt.catalog, chunk.doc_id, ChunkingParams(Strategy.SENTENCE, 32, 0))
    build_worker(rt).run_until_idle()
    fresh = chunk_of(rt, "guide.pdf", page=2)
    view = renderer(rt).render(fresh.point_id)
    assert view.highlighted
    after = {p.parent.name for p in (pages_dir(rt.settings.data_dir) / chunk.doc_id).glob("*/*")}
    assert after and after.isdisjoint(before), "an entry of the old index was kept"


# --- matching ---------------------------------------------------------------------------------


def test_a_passage_is_found_across_hyphens_case_spacing_and_a_footnote_mark() -> None:
    page = Keyed.of("The pro-\nvider's RESOURCES are   pooled1 to serve\nmultiple consumers.")
    found = locate("the provider’s resources are pooled to serve multiple consumers", page)
    assert found is not None
    span, _ = found
    assert page.text[span[0] : span[1]].startswith("The pro-") and span[1] >= len(page.text) - 1


def test_tesseract_words_keep_their_lines_and_boxes() -> None:
    columns = "level page_num block_num par_num line_num word_num left top width height conf text"
    header = columns.replace(" ", "\t")
    rows = [
        "5\t1\t1\t1\t1\t1\t10\t20\t30\t10\t91\tOil",
        "5\t1\t1\t1\t2\t1\t10\t40\t50\t10\t88\tchain",
    ]
    page = parse_words("\n".join([header, *rows]), (100, 100))
    assert page.text == "Oil chain"
    assert page.line_boxes((4, 9), (200, 200)) == [(20.0, 80.0, 120.0, 100.0)]


# --- python -m ragcore source -----------------------------------------------------------------


def source_command(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """``python -m ragcore source ARGS`` in this process, on the test's library."""
    monkeypatch.setenv("RAG_DATA_DIR", str(rt.settings.data_dir))
    code = ragcore_main(["source", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_writes_the_page_with_the_passage_marked(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chunk = chunk_of(rt, "guide.pdf", page=2, n=1)
    png = tmp_path / "page.png"
    code, out, _ = source_command(rt, monkeypatch, capsys, chunk.point_id, "--png", str(png))
    assert code == 0 and f"wrote {png}" in out and "guide.pdf, page 2 (page)" in out
    image = Image.open(png).convert("RGB")
    coloured = saturation(image, (0, 0, *image.size))
    assert 0.002 < coloured < 0.5
    quoted = tmp_path / "quoted.png"
    sentence = f"The {nouns_in(chunk.text)[0]} was inspected"
    args = (chunk.point_id, "--png", str(quoted), "--quote", sentence, "--scale", "1")
    assert source_command(rt, monkeypatch, capsys, *args)[0] == 0
    assert Image.open(quoted).size == (612, PAGE_HEIGHT)
    assert saturation(Image.open(quoted).convert("RGB"), (0, 0, 612, PAGE_HEIGHT)) > 0


def test_the_command_prints_a_text_source_in_context_and_refuses_a_png(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chunk = chunk_of(rt, "notes.md", n=1)
    code, out, _ = source_command(rt, monkeypatch, capsys, chunk.point_id)
    assert code == 0 and ">>> " + " ".join(chunk.text.split()) + " <<<" in out
    png = tmp_path / "x.png"
    code, out, err = source_command(rt, monkeypatch, capsys, chunk.point_id, "--png", str(png))
    assert code == 2 and not png.exists()
    assert err.count("\n") == 1 and "notes.md has no page to render" in err


def test_the_command_writes_an_image_source(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chunk = chunk_of(rt, "photo.png")
    png = tmp_path / "photo.png"
    code, _, _ = source_command(rt, monkeypatch, capsys, chunk.point_id, "--png", str(png))
    assert code == 0 and Image.open(png).convert("RGB").getpixel((5, 5)) == (200, 30, 30)


def test_the_command_refuses_an_unknown_id_and_a_deleted_document_in_one_line(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    png = tmp_path / "x.png"
    code, _, err = source_command(rt, monkeypatch, capsys, "no-such-point", "--png", str(png))
    assert code == 2 and err.startswith("error: 'no-such-point' is not a source id")
    assert err.count("\n") == 1
    chunk = chunk_of(rt, "guide.pdf", page=2)
    library.delete_document(rt.catalog, rt.store, chunk.doc_id)
    code, _, err = source_command(rt, monkeypatch, capsys, chunk.point_id, "--png", str(png))
    assert code == 2 and "was deleted" in err and err.count("\n") == 1
    assert not png.exists()


def test_the_command_refuses_a_page_the_pdf_does_not_have(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    chunk = chunk_of(rt, "guide.pdf", page=2)
    code, _, err = source_command(rt, monkeypatch, capsys, chunk.point_id, "--page", "9")
    assert code == 2 and "there is no page 9" in err


def test_the_command_as_a_person_runs_it(tmp_path: Path) -> None:
    """A separate process: the exit status and the one line a shell script sees."""
    proc = subprocess.run(
        [sys.executable, "-m", "ragcore", "source", "no-such-point", "--png", "x.png"],
        cwd=ROOT,
        env={**os.environ, "RAG_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: 'no-such-point' is not a source id")
    assert proc.stderr.count("\n") == 1
