"""The app's shared resources, one per process: settings, runtime, ingestion thread, language model.

Settings are read here and only here (``Settings()``, the ``RAG_*`` variables). Tests swap the
builders with :func:`use_providers` to run the real views over fakes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ingest.service import BackgroundWorker, app_workers
from ragcore.answering import Answerer
from ragcore.llm_speed import SpeedRecord
from ragcore.runtime import LLMChoice, Runtime, build_answerer, build_runtime, connect_llm
from ragcore.settings import Settings

# How many files one upload may hold; each is also held to settings.max_file_mb.
MAX_FILES_PER_UPLOAD = 50


@dataclass(frozen=True)
class Providers:
    """How each resource is built. The defaults are the real app; tests pass fakes."""

    settings: Callable[[], Settings] = Settings
    runtime: Callable[[Settings], Runtime] = build_runtime
    llm: Callable[[Settings], LLMChoice] = connect_llm
    # The embedded store admits one process, so the app runs ingestion itself; tests turn the
    # thread off and run the worker synchronously.
    background_worker: bool = True


_providers = Providers()


def use_providers(providers: Providers | None) -> None:
    """Build resources with ``providers`` from now on (None: the real ones); drops cached ones."""
    global _providers
    _providers = providers or Providers()
    st.cache_resource.clear()


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    return _providers.settings()


@st.cache_resource(show_spinner="Opening the library…", on_release=lambda rt: rt.close())
def runtime() -> Runtime:
    rt = _providers.runtime(settings())
    # Open the store now, in one thread: the embedded store admits a single client per
    # process, so two first requests racing to open it lazily would collide.
    _ = rt.store
    return rt


def _stop_worker(worker: BackgroundWorker | None) -> None:
    if worker is not None:
        worker.stop()


@st.cache_resource(show_spinner=False, on_release=_stop_worker)
def background_worker() -> BackgroundWorker | None:
    """The ingestion thread in embedded mode; None in server mode (worker processes do it)."""
    rt = runtime()
    if rt.settings.store != "embedded" or not _providers.background_worker:
        return None
    return BackgroundWorker(*app_workers(rt)).start()


class LLMSlot:
    """The language model, connected on first use: starting the local llama.cpp server takes
    seconds, and a person who only manages documents should not wait for it.

    ``speed`` keeps the writing speed of the answers it wrote, for the System view.
    """

    def __init__(self, connect: Callable[[], LLMChoice]) -> None:
        self._connect = connect
        self._choice: LLMChoice | None = None
        self._lock = threading.Lock()
        self.speed = SpeedRecord()

    @property
    def connected(self) -> bool:
        return self._choice is not None

    def get(self) -> LLMChoice:
        with self._lock:
            if self._choice is None:
                self._choice = self._connect()
            return self._choice

    def record_speed(self, timings: Mapping[str, float]) -> None:
        """Keep a finished answer's measured speed (``Answer.timings``) under the name of the
        model that wrote it; an answer no model wrote has none and is left out."""
        choice = self._choice
        if choice is not None and choice.llm is not None:
            self.speed.record(choice.llm.model, timings)

    def close(self) -> None:
        with self._lock:
            if self._choice is not None:
                self._choice.close()
                self._choice = None


@st.cache_resource(show_spinner=False, on_release=lambda slot: slot.close())
def llm_slot() -> LLMSlot:
    current = settings()
    build = _providers.llm
    return LLMSlot(lambda: build(current))


def default_beir_folder() -> str:
    """The shared SciFact folder when this machine has it (``RAG_SHARED_DATA``), else empty."""
    folder = settings().shared_data / "beir" / "scifact"
    return str(folder) if folder.is_dir() else ""


def default_question_set() -> str:
    """The answer benchmark's development set beside this app's code, when it is there."""
    path = Path(__file__).resolve().parents[1] / "bench" / "data" / "answers_dev.jsonl"
    return str(path) if path.is_file() else ""


def answerer(rt: Runtime, choice: LLMChoice) -> Answerer:
    """A fresh Answerer over the shared runtime (cheap: it holds references only)."""
    return build_answerer(rt, choice)
