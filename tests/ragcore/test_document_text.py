"""A document's text rebuilt from its stored chunks: every chunk's span gives its text back."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunking import chunk_pages
from ingest.service import build_worker
from ragcore import library
from ragcore.catalog import ChunkRow
from ragcore.document_text import PAGE_BREAK, library_texts, rebuild_text
from ragcore.testing.documents import make_text_pdf
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, ChunkKind, Page, Strategy


def _row(no: int, page: int, start: int, text: str, kind: ChunkKind = ChunkKind.TEXT) -> ChunkRow:
    end = start + len(text) if kind == ChunkKind.TEXT else start
    return ChunkRow(no, "d", no, f"p{no}", page, start, end, kind, "", None, text, "m")


def test_overlaps_are_merged_and_gaps_keep_their_offsets() -> None:
    page = "Alpha beta gamma.\n\nDelta epsilon. Zeta eta."
    rows = [
        _row(0, 1, 0, page[0:16]),  # "Alpha beta gamma"
        _row(1, 1, 6, page[6:17]),  # overlaps the first
        _row(2, 1, 19, page[19:33]),  # after a paragraph break the chunker trimmed
        _row(3, 1, 34, page[34:]),  # after one space
        _row(4, 1, 0, "caption of a figure", ChunkKind.IMAGE),  # not a slice of the page
    ]
    doc = rebuild_text("d", "a.txt", rows)
    assert doc is not None
    assert doc.text == page
    for row in rows[:4]:
        assert doc.text[slice(*doc.span(row))] == row.text


def test_pages_are_joined_in_order_with_a_break() -> None:
    rows = [_row(0, 2, 0, "Second page."), _row(1, 1, 0, "First page.")]
    doc = rebuild_text("d", "a.pdf", rows)
    assert doc is not None
    assert doc.text == "First page." + PAGE_BREAK + "Second page."
    assert doc.page_starts == {1: 0, 2: len("First page.") + len(PAGE_BREAK)}
    assert doc.span(rows[0]) == (doc.page_starts[2], len(doc.text))


def test_no_text_chunk_means_no_text() -> None:
    assert rebuild_text("d", "a.png", [_row(0, 1, 0, "a picture", ChunkKind.IMAGE)]) is None
    with pytest.raises(ValueError, match="given for"):
        rebuild_text("other", "a.txt", [_row(0, 1, 0, "x")])


def test_library_texts_of_ingested_files(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data", parse_sandbox=False, image_model="", reranker_model="")
    try:
        pages = ["The pump needs fresh oil every 200 hours.", "Warranty: two years, parts only."]
        pdf = make_text_pdf(tmp_path / "pump.pdf", pages)
        notes = tmp_path / "notes.txt"
        notes.write_text("First paragraph here.\n\nSecond paragraph, after a blank line.\n")
        for path in (pdf, notes):
            library.add_file(
                rt.catalog,
                rt.settings.uploads_dir,
                path,
                ChunkingParams(Strategy.SENTENCE, 16, 0),
            )
        build_worker(rt, worker_id="test").run_until_idle()
        docs = {d.name: d for d in library_texts(rt.catalog)}
        assert set(docs) == {"pump.pdf", "notes.txt"}
        for doc in docs.values():
            for row in rt.catalog.chunks(doc.doc_id):
                assert doc.text[slice(*doc.span(row))] == row.text
        assert "200 hours" in docs["pump.pdf"].text and "two years" in docs["pump.pdf"].text
        assert set(docs["pump.pdf"].page_starts) == {1, 2}
    finally:
        rt.close()


@pytest.mark.parametrize(
    "params",
    [
        ChunkingParams(Strategy.RECURSIVE, 12, 3),
        ChunkingParams(Strategy.SENTENCE, 12, 1),
        ChunkingParams(Strategy.FIXED, 10, 2),
    ],
)
def test_rechunking_the_rebuilt_text_gives_the_library_chunks_back(
    tmp_path: Path, params: ChunkingParams
) -> None:
    rt = make_runtime(tmp_path / "data", parse_sandbox=False, image_model="", reranker_model="")
    try:
        notes = tmp_path / "notes.txt"
        notes.write_text(
            "Harbour notes\n\nThe crane lifts containers onto the quay. Night shifts check "
            "the cables for broken strands.\n\nThe canteen serves soup on Mondays and fish on "
            "Fridays. Ferries leave from pier seven at nine, noon and five.\n"
        )
        library.add_file(rt.catalog, rt.settings.uploads_dir, notes, params)
        build_worker(rt, worker_id="test").run_until_idle()
        (doc,) = library_texts(rt.catalog)
        stored = [(r.start, r.end) for r in rt.catalog.chunks(doc.doc_id)]
        again = chunk_pages(doc.doc_id, [Page(1, doc.text)], params, rt.models.text.tokenizer)
        assert [(c.start, c.end) for c in again] == stored
    finally:
        rt.close()
