"""Models.status(load=False) says which optional models are off before anyone tries them."""

from __future__ import annotations

from pathlib import Path

from ragcore.models.loader import NOT_LOADED, Models
from ragcore.testing.embedders import HashingEmbedder


def _status(models: Models) -> dict[str, tuple[bool, str]]:
    return {s.role: (s.available, s.detail) for s in models.status(load=False)}


def test_a_model_without_an_offline_copy_is_off_before_it_is_tried(tmp_path: Path) -> None:
    models = Models(
        text_model=HashingEmbedder(dim=8),
        image_model=None,
        reranker_model="nobody/no-such-cross-encoder",
        cache_dir=tmp_path,
    )
    status = _status(models)
    assert status["image"] == (False, "turned off in settings")
    available, detail = status["reranker"]
    assert not available
    assert "no offline copy of nobody/no-such-cross-encoder" in detail


def test_a_model_that_may_load_is_not_judged_before_it_is_tried(tmp_path: Path) -> None:
    folder = tmp_path / "my-reranker"
    folder.mkdir()  # a local folder loads without the network, so it is not ruled out
    models = Models(
        text_model=HashingEmbedder(dim=8),
        image_model=None,
        reranker_model=str(folder),
        cache_dir=tmp_path,
    )
    assert _status(models)["reranker"] == (False, NOT_LOADED)
    # With downloads allowed nothing is ruled out either.
    online = Models(
        text_model=HashingEmbedder(dim=8),
        image_model=None,
        reranker_model="nobody/no-such-cross-encoder",
        cache_dir=tmp_path,
        allow_downloads=True,
    )
    assert _status(online)["reranker"] == (False, NOT_LOADED)
