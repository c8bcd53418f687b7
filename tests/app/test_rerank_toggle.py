"""The chat's Rerank toggle is off, and says why, when the reranker cannot load here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import resources
from ragcore.catalog import Catalog
from ragcore.models.loader import Models
from ragcore.runtime import Runtime
from ragcore.settings import Settings
from ragcore.testing.embedders import HashingEmbedder
from tests.app.conftest import APP_MAIN, EXTRACTIVE


@pytest.fixture
def app_without_reranker_copy(tmp_path: Path) -> Iterator[AppTest]:
    data = tmp_path / "data"
    settings = Settings(
        data_dir=data,
        store="embedded",
        image_model="",
        reranker_model="nobody/no-such-cross-encoder",
        rerank=True,
        local_llm=False,
    )
    models = Models(
        text_model=HashingEmbedder(dim=64),
        image_model=None,
        reranker_model=settings.reranker_model,  # an id with no offline copy; downloads off
        cache_dir=data / "models",
    )
    rt = Runtime(settings=settings, catalog=Catalog(settings.catalog_path), models=models)
    resources.use_providers(
        resources.Providers(
            settings=lambda: settings,
            runtime=lambda _settings: rt,
            llm=lambda _settings: EXTRACTIVE,
            background_worker=False,
        )
    )
    yield AppTest.from_file(APP_MAIN, default_timeout=30)
    resources.use_providers(None)
    rt.close()


def test_rerank_is_off_and_disabled_with_the_reason_before_any_question(
    app_without_reranker_copy: AppTest,
) -> None:
    app = app_without_reranker_copy
    app.run()
    app.switch_page("views/chat.py").run()
    assert not app.exception
    toggle = app.toggle(key="chat_rerank")
    assert toggle.value is False
    assert toggle.disabled
    assert "no offline copy of nobody/no-such-cross-encoder" in toggle.help
