"""Fixtures for the UI tests: the real views over a real catalog and embedded store, fake models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import resources
from ingest.service import build_worker
from ragcore.catalog import Catalog
from ragcore.models.loader import Models
from ragcore.runtime import LLMChoice, Runtime
from ragcore.settings import Settings
from ragcore.testing.embedders import HashingEmbedder

APP_MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
EXTRACTIVE = LLMChoice(None, "LLM: none configured (test); answers are extractive")


def make_runtime(data_dir: Path) -> Runtime:
    settings = Settings(
        data_dir=data_dir,
        store="embedded",
        image_model="",
        reranker_model="",
        local_llm=False,
        worker_poll_seconds=0.05,
    )
    models = Models(
        text_model=HashingEmbedder(dim=128),
        image_model=None,
        reranker_model=None,
        cache_dir=data_dir / "models",
    )
    return Runtime(settings=settings, catalog=Catalog(settings.catalog_path), models=models)


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return make_runtime(tmp_path / "data")


@pytest.fixture
def use_llm(runtime: Runtime) -> Iterator[Callable[[LLMChoice], None]]:
    """Point the app's resources at the test runtime; call the fixture to pick the LLM."""
    chosen = {"llm": EXTRACTIVE}

    def pick(choice: LLMChoice) -> None:
        chosen["llm"] = choice

    resources.use_providers(
        resources.Providers(
            settings=lambda: runtime.settings,
            runtime=lambda _settings: runtime,
            llm=lambda _settings: chosen["llm"],
            background_worker=False,
        )
    )
    yield pick
    resources.use_providers(None)  # releases the runtime (closes catalog and store)
    runtime.close()


@pytest.fixture
def app(use_llm: Callable[[LLMChoice], None]) -> AppTest:
    return AppTest.from_file(APP_MAIN, default_timeout=30)


@pytest.fixture
def ingest_all(runtime: Runtime) -> Callable[[], None]:
    """Run queued ingestion jobs now, in the test's thread (the app's thread is off in tests)."""

    def run() -> None:
        build_worker(runtime, worker_id="test").run_until_idle()

    return run
