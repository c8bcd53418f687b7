"""What one document may cost after parsing (chunks, wall-clock time), and images kept out of the worker."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from ingest.chunking import chunk_pages
from ingest.parsers.image import EMBED_SIDE, THUMB_SIDE
from ingest.pipeline import JobLimits
from ingest.service import build_worker
from ragcore import library
from ragcore.models.base import Vectors
from ragcore.runtime import Runtime
from ragcore.testing.documents import make_text_pdf
from ragcore.testing.embedders import ColorImageEmbedder, HashingEmbedder
from ragcore.testing.hostile import large_png
from ragcore.testing.runtime import make_runtime
from ragcore.testing.tokenizers import WhitespaceTokenizer
from ragcore.types import ChunkingParams, Page, Strategy

PARAMS = ChunkingParams(Strategy.FIXED, 10, 0)


class SlowEmbedder(HashingEmbedder):
    """Takes ``seconds`` for every batch of passages, as a real model on a busy machine does."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        time.sleep(self.seconds)
        return super().embed_passages(texts)


def _words(n: int, seed: int = 0) -> str:
    return " ".join(f"w{(i * 7 + seed) % 101}" for i in range(n))


def _ingest(rt: Runtime, path: Path) -> library.Added:
    added = library.add_file(rt.catalog, rt.settings.uploads_dir, path, PARAMS)
    build_worker(rt).run_until_idle()
    return added


@pytest.fixture()
def tmp_rt(tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path / "data", parse_sandbox=False, max_chunks_per_document=12)
    yield rt
    rt.close()


def test_limits_come_from_settings(tmp_path: Path) -> None:
    rt = make_runtime(
        tmp_path / "data",
        max_chunks_per_document=7,
        job_timeout_seconds=12.0,
        max_chars_per_byte=2.5,
        min_text_chars=99,
    )
    ingestor = build_worker(rt).ingestor
    assert ingestor.job_limits == JobLimits(max_chunks=7, timeout_seconds=12.0)
    assert (ingestor.limits.max_chars_per_byte, ingestor.limits.min_text_chars) == (2.5, 99)
    rt.close()


def test_job_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_chunks must be > 0, got 0"):
        JobLimits(max_chunks=0)
    with pytest.raises(ValueError, match="timeout_seconds must be > 0 or None, got -1"):
        JobLimits(timeout_seconds=-1)


def test_chunking_stops_soon_after_the_limit_and_keeps_a_prefix() -> None:
    pages = [Page(n, _words(50, n)) for n in range(1, 101)]
    tokenizer = WhitespaceTokenizer()
    everything = chunk_pages("d", pages, PARAMS, tokenizer)
    assert len(everything) == 500
    stopped = chunk_pages("d", pages, PARAMS, tokenizer, stop_after=12)
    # The page that passed the limit is finished, no page after it is chunked.
    assert len(stopped) == 15
    assert stopped == everything[:15]
    assert chunk_pages("d", pages, PARAMS, tokenizer, stop_after=500) == everything


def test_a_long_page_stops_at_the_segment_that_passes_the_limit() -> None:
    # 1.2 million characters are six segments of ~33,000 one-token chunks each.
    text = _words(300_000)
    chunks = chunk_pages("d", [Page(1, text)], PARAMS, WhitespaceTokenizer(), stop_after=100)
    assert 100 < len(chunks) < 50_000
    assert chunks[-1].end < len(text) // 3


def test_document_over_the_chunk_limit_fails_naming_it(tmp_rt: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    path.write_text(_words(130))  # 13 chunks of 10 words
    added = _ingest(tmp_rt, path)
    doc = tmp_rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "failed"
    assert doc.error == (
        "many.txt makes more than 12 chunks of 10 tokens, the limit for one document; "
        "split it into smaller files."
    )
    assert tmp_rt.store.count(doc.id) == 0

    path = tmp_path / "fits.txt"
    path.write_text(_words(120, seed=3))
    added = _ingest(tmp_rt, path)
    doc = tmp_rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "ready" and doc.chunks == 12


def test_image_chunks_count_towards_the_limit(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data", parse_sandbox=False, max_chunks_per_document=1)
    pdf = make_text_pdf(tmp_path / "fig.pdf", ["a caption"], image_on_page=1)
    added = _ingest(rt, pdf)
    doc = rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "failed"
    assert doc.error is not None and "more than 1 chunks" in doc.error
    rt.close()


def test_job_past_its_time_budget_fails_between_embedding_batches(tmp_path: Path) -> None:
    rt = make_runtime(
        tmp_path / "data", text=SlowEmbedder(0.3), parse_sandbox=False, job_timeout_seconds=0.5
    )
    path = tmp_path / "slow.txt"
    path.write_text(_words(3000))  # 300 chunks: three batches of at most 128
    started = time.monotonic()
    added = _ingest(rt, path)
    assert time.monotonic() - started < 5
    doc = rt.catalog.get_document(added.document.id)
    assert doc is not None and doc.status == "failed"
    assert doc.error == (
        "slow.txt took longer than the 0.5-second limit for ingesting one document "
        "(stopped while embedding, 256 of 300 chunks done); it was not ingested."
    )
    assert rt.store.count(doc.id) == 0 and rt.catalog.chunks(doc.id) == []
    rt.close()


def test_worker_never_decodes_a_full_size_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An 8,000 x 8,000 PNG is decoded (192 MB of pixels) and downscaled in the parse sandbox;
    the worker decodes only the 1,024-pixel copy for the image embedder, and writes the
    thumbnail it was handed."""
    decoded_here: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        decoded_here.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    rt = make_runtime(tmp_path / "data", image=ColorImageEmbedder())
    assert rt.settings.parse_sandbox
    path = tmp_path / "poster.png"
    path.write_bytes(large_png(tmp_path))
    assert path.stat().st_size < 500_000
    try:
        added = _ingest(rt, path)
        doc = rt.catalog.get_document(added.document.id)
        assert doc is not None and doc.status == "ready" and doc.images == 1, doc
        # The image embedder ran here, on the downscaled copy only.
        assert decoded_here and max(max(size) for size in decoded_here) <= EMBED_SIDE
        (thumb_file,) = (rt.thumbs_dir / doc.id).iterdir()
        with Image.open(io.BytesIO(thumb_file.read_bytes())) as thumb:
            assert thumb.size == (THUMB_SIDE, THUMB_SIDE)
    finally:
        rt.close()
