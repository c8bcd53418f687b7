"""Storing uploads: names that are not UTF-8, and files over the size limit that are never kept."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragcore.errors import FileTooLarge
from ragcore.uploads import display_name, has_undecodable_bytes, readable, store_bytes, store_file

MB = 1024 * 1024


def _kept(uploads: Path) -> list[Path]:
    return [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []


def test_a_name_that_is_not_utf8_is_shown_with_replacement_characters() -> None:
    raw = os.fsdecode(b"/home/x/caf\xe9 \xff\xfe.txt")  # as Python hands over argv or listdir
    assert has_undecodable_bytes(raw) and not has_undecodable_bytes("café.txt")
    assert display_name(raw) == "caf\ufffd \ufffd\ufffd.txt"
    assert readable("caf\ud800") == "caf\ufffd"  # a lone surrogate from anywhere else
    assert readable("café.txt") == "café.txt"
    display_name(raw).encode("utf-8")  # storable and printable


def test_store_file_refuses_an_oversized_file_before_copying(tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    with big.open("wb") as f:
        f.truncate(300 * MB)  # sparse: no disk space, and never read
    uploads = tmp_path / "uploads"
    with pytest.raises(FileTooLarge, match=r"big\.pdf is 300 MB, more than the limit of 200 MB"):
        store_file(uploads, big, max_bytes=200 * MB)
    assert _kept(uploads) == []


def test_store_bytes_stops_and_keeps_nothing_once_the_stream_passes_the_limit(
    tmp_path: Path,
) -> None:
    sent: list[int] = []

    def blocks() -> Iterator[bytes]:
        for i in range(100):
            sent.append(i)
            yield b"x" * 1024

    uploads = tmp_path / "uploads"
    with pytest.raises(FileTooLarge, match=r"huge\.txt is .* more than the limit"):
        store_bytes(uploads, "huge.txt", blocks(), max_bytes=4 * 1024)
    assert len(sent) == 5  # stopped at the first block past the limit, not at the end
    assert _kept(uploads) == []
    stored = store_bytes(uploads, "small.txt", [b"y" * 4096], max_bytes=4 * 1024)
    assert _kept(uploads) == [stored.path] and stored.size == 4096
