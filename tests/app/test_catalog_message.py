"""The app over a damaged catalog: the same message as the CLIs, not a stack dump."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import resources
from ragcore.catalog import Catalog
from ragcore.runtime import LLMChoice
from ragcore.settings import Settings
from ragcore.testing.runtime import make_runtime

APP_MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"


@pytest.fixture
def damaged(tmp_path: Path) -> Iterator[Settings]:
    """The app's resources over a library whose catalog file was cut in half."""
    settings = Settings(data_dir=tmp_path / "data", store="embedded", local_llm=False)
    with Catalog(settings.catalog_path) as catalog:
        for n in range(40):  # several pages, so that half of the file misses some
            catalog.enqueue(f"{n:064x}", "ingest", {"note": "x" * 500})
    os.truncate(settings.catalog_path, settings.catalog_path.stat().st_size // 2)
    resources.use_providers(
        resources.Providers(
            settings=lambda: settings,
            runtime=lambda current: make_runtime(current.data_dir),  # opens the catalog
            llm=lambda _settings: LLMChoice(None, "LLM: none (test)"),
            background_worker=False,
        )
    )
    yield settings
    resources.use_providers(None)


def test_the_app_says_the_catalog_is_damaged_and_what_to_do(damaged: Settings) -> None:
    app = AppTest.from_file(APP_MAIN, default_timeout=30).run()
    assert not app.exception
    shown = " ".join(e.value for e in app.error)
    assert f"The catalog {damaged.catalog_path} is damaged" in shown
    assert "python -m ingest check --repair" in shown
