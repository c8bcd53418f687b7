"""Library operations: an add that fails keeps no copy, a delete that cannot finish does not start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragcore import library
from ragcore.errors import FileTooLarge, StoreUnavailable
from ragcore.runtime import Runtime
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

PARAMS = ChunkingParams(Strategy.FIXED, 30, 3)


@pytest.fixture()
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "data", image_model="", parse_sandbox=False)
    yield runtime
    runtime.close()


def _uploads(rt: Runtime) -> list[Path]:
    return sorted(p for p in rt.settings.uploads_dir.rglob("*") if p.is_file())


def test_an_add_the_catalog_refuses_keeps_no_copy(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any) -> Any:
        raise ValueError("the catalog said no")

    monkeypatch.setattr(rt.catalog, "upsert_document", refuse)
    with pytest.raises(ValueError, match="said no"):
        library.add_bytes(rt.catalog, rt.settings.uploads_dir, "a.txt", [b"alpha"], PARAMS)
    assert _uploads(rt) == []


def test_the_same_content_under_another_suffix_is_kept_once(rt: Runtime) -> None:
    first = library.add_bytes(rt.catalog, rt.settings.uploads_dir, "a.txt", [b"alpha"], PARAMS)
    again = library.add_bytes(rt.catalog, rt.settings.uploads_dir, "a.md", [b"alpha"], PARAMS)
    assert again.duplicate and again.document.id == first.document.id
    assert _uploads(rt) == [Path(first.document.path)]


def test_an_oversized_upload_is_refused_and_nothing_is_kept(rt: Runtime) -> None:
    with pytest.raises(FileTooLarge):
        library.add_bytes(
            rt.catalog, rt.settings.uploads_dir, "big.txt", [b"x" * 2048], PARAMS, max_bytes=1024
        )
    assert _uploads(rt) == [] and rt.catalog.list_documents() == []


class HeldStore:
    """The embedded store as another process holding its folder leaves it to us."""

    def __getattr__(self, name: str) -> Any:
        def held(*_: Any, **__: Any) -> Any:
            raise StoreUnavailable("The document store is open in another process.")

        return held


def test_a_delete_that_cannot_open_the_store_changes_nothing(rt: Runtime) -> None:
    added = library.add_bytes(rt.catalog, rt.settings.uploads_dir, "a.txt", [b"alpha"], PARAMS)
    doc_id = added.document.id
    with pytest.raises(StoreUnavailable):
        library.delete_document(rt.catalog, HeldStore(), doc_id)
    assert rt.catalog.get_document(doc_id) is not None
    assert [j.status for j in rt.catalog.jobs(doc_id=doc_id)] == ["queued"]
    assert _uploads(rt) == [Path(added.document.path)]
    assert library.delete_document(rt.catalog, rt.store, doc_id)
    assert rt.catalog.get_document(doc_id) is None and _uploads(rt) == []
