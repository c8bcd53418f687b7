"""Builds the app's parts from a Settings object; called only by entry points (UI, CLIs, benches)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ragcore.answering import Answerer
from ragcore.catalog.backend import CatalogBackend
from ragcore.catalog.backup import CatalogBackups
from ragcore.catalog.factory import open_catalog as open_catalog_at
from ragcore.errors import LLMUnavailable, ModelUnavailable
from ragcore.files import FileStore, open_file_store
from ragcore.generation.chat_template import ChatTemplate, ChatTemplateError, read_chat_template
from ragcore.generation.llm import ChatLLM
from ragcore.generation.local import LocalLLMServer, offline_gguf
from ragcore.generation.queue import GenerationQueue
from ragcore.generation.quoted import SYSTEM_PROMPT as QUOTED_SYSTEM_PROMPT
from ragcore.models.base import TextEmbedder
from ragcore.models.cached import CachedPassages
from ragcore.models.loader import Models
from ragcore.models.registry import known_facts
from ragcore.retrieval import Retriever
from ragcore.settings import Settings
from ragcore.spaces import SpaceRouter
from ragcore.stores import VectorStore, open_store
from ragcore.types import ChunkingParams, Strategy


def build_models(settings: Settings, *, text_model: str | None = None) -> Models:
    """The models as configured; ``text_model`` overrides the text model (the active space's)."""
    return Models(
        text_model=text_model or settings.text_model,
        image_model=settings.image_model or None,
        reranker_model=settings.reranker_model or None,
        cache_dir=settings.models_dir,
        allow_downloads=settings.allow_downloads,
        device=settings.device,
        batch_size=settings.embed_batch_size,
        precision=settings.embed_precision,
    )


def build_store(settings: Settings) -> VectorStore:
    key = settings.vectorai_api_key.get_secret_value() if settings.vectorai_api_key else None
    return open_store(
        settings.store,
        path=settings.store_path,
        collection=settings.collection,
        url=settings.vectorai_url,
        api_key=key,
        tls=settings.vectorai_tls,
        startup_timeout=settings.vectorai_startup_timeout,
    )


def chunking_params(
    settings: Settings,
    *,
    strategy: Strategy | None = None,
    chunk_size: int | None = None,
    overlap: int | None = None,
) -> ChunkingParams:
    """Settings' chunking defaults with any explicit choice on top (overlap unit follows strategy)."""
    strategy = strategy or settings.chunk_strategy
    if overlap is None:
        overlap = (
            settings.sentence_overlap if strategy == Strategy.SENTENCE else settings.chunk_overlap
        )
    return ChunkingParams(
        strategy=strategy, chunk_size=chunk_size or settings.chunk_size, overlap=overlap
    )


def open_catalog(settings: Settings) -> CatalogBackend:
    """PostgreSQL when RAG_CATALOG_URL names one (waiting for it to start), else the SQLite file."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return open_catalog_at(
        settings.catalog_url.get_secret_value(),
        path=settings.catalog_path,
        startup_timeout=settings.catalog_startup_timeout,
        pool_size=settings.catalog_pool_size,
    )


def open_files(settings: Settings, catalog: CatalogBackend) -> FileStore:
    """Where uploads are kept: beside a PostgreSQL catalog (every host reads them, each through
    its own cache under its data dir), else the uploads folder of the data dir."""
    return open_file_store(
        catalog,
        uploads_dir=settings.uploads_dir,
        thumbs_dir=settings.data_dir / "thumbs",
        cache_dir=settings.data_dir / "file-cache",
    )


def catalog_backups(settings: Settings) -> CatalogBackups:
    return CatalogBackups(
        settings.backups_dir,
        keep=settings.catalog_backups,
        min_interval=settings.catalog_backup_interval_seconds,
    )


@dataclass
class Runtime:
    """Everything one process needs; the store opens lazily (the embedded one admits one process)."""

    settings: Settings
    catalog: CatalogBackend
    models: Models
    _spaces: SpaceRouter | None = field(default=None, repr=False)
    _files: FileStore | None = field(default=None, repr=False)
    _passages: CachedPassages | None = field(default=None, repr=False)

    @property
    def spaces(self) -> SpaceRouter:
        """The model spaces: which (model, collection) answers now, followed across a switch."""
        if self._spaces is None:
            self._spaces = SpaceRouter(
                build_store(self.settings),
                self.catalog,
                self.models,
                default_collection=self.settings.collection,
                image_dim=_known_dim(self.settings.image_model),
            )
        return self._spaces

    def evidence_embedder(self) -> TextEmbedder:
        """The text model for picking evidence sentences and checking citations, with the
        sentences it has embedded kept across questions (follow-ups and regenerated answers
        meet the same passages again)."""
        text = self.models.text
        if self._passages is None or self._passages.inner is not text:
            self._passages = CachedPassages(text)
        return self._passages

    @property
    def store(self) -> VectorStore:
        """The active model space's collection, as one store (writes, deletes, counts)."""
        return self.spaces

    @property
    def files(self) -> FileStore:
        """The uploaded files, chosen with the catalog (see open_files)."""
        if self._files is None:
            self._files = open_files(self.settings, self.catalog)
        return self._files

    @property
    def thumbs_dir(self) -> Path:
        return self.settings.data_dir / "thumbs"

    def close(self) -> None:
        if self._spaces is not None:
            self._spaces.close()
            self._spaces = None
        if self._files is not None:
            self._files.close()
            self._files = None
        self.catalog.close()


def _known_dim(model_id: str) -> int | None:
    facts = known_facts(model_id) if model_id else None
    return facts.dim if facts else None


def build_runtime(settings: Settings) -> Runtime:
    catalog = open_catalog(settings)
    # After a model switch the catalog, not RAG_TEXT_MODEL, says which model answers.
    active = catalog.active_space()
    models = build_models(settings, text_model=active.model_id if active else None)
    return Runtime(settings=settings, catalog=catalog, models=models)


@dataclass
class LLMChoice:
    """The language model in use (or None) and a line saying which and why, for UI and CLI."""

    llm: ChatLLM | None
    status: str
    server: LocalLLMServer | None = None
    # One generation at a time on a local server, first come first served (the chat shows
    # the place in line); a remote endpoint serves many at once.
    queue: GenerationQueue | None = None
    grammar: bool = False  # llama.cpp takes a GBNF grammar for the quote-then-answer form

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def connect_llm(settings: Settings, *, gguf: Path | None = None) -> LLMChoice:
    """An OpenAI-compatible endpoint when configured; else the offline local model; else none.

    ``gguf`` serves that model file locally instead of the offline package's model (benches).
    """
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    common = {"max_tokens": settings.llm_max_tokens, "temperature": settings.llm_temperature}
    if settings.llm_base_url:
        model = settings.llm_model or "default"
        llm = ChatLLM(settings.llm_base_url, model, key, **common)  # type: ignore[arg-type]
        return LLMChoice(llm, f"LLM: {llm.describe()}")
    if not settings.local_llm:
        return LLMChoice(None, "LLM: none configured (RAG_LLM_BASE_URL); answers are extractive")
    gguf = gguf or settings.local_llm_gguf
    if gguf is not None and not Path(gguf).is_file():
        return LLMChoice(
            None, f"LLM: the model file {gguf} (RAG_LOCAL_LLM_GGUF) does not exist; "
            "answers are extractive",
        )  # fmt: skip
    name = gguf.stem if gguf is not None else settings.local_llm_model
    try:
        if gguf is None:
            gguf = offline_gguf(settings.local_llm_model, settings.models_dir)
        if gguf is None:
            return LLMChoice(
                None,
                f"LLM: the offline model {settings.local_llm_model} is not installed "
                "(make run installs it); answers are extractive",
            )
        threads = settings.local_llm_threads or os.cpu_count() or 1
        server = LocalLLMServer(
            gguf,
            model_alias=name,
            extra_args=("--n_threads", str(threads)),
            extra_buffers=settings.local_llm_extra_buffers,
        ).start()
    except (LLMUnavailable, ModelUnavailable, OSError) as exc:
        return LLMChoice(None, f"LLM: local model unavailable ({exc}); answers are extractive")
    try:
        template: ChatTemplate | None = read_chat_template(gguf)
    except ChatTemplateError:
        template = None  # replies then come through the chat endpoint, not begun for the model
    llm = ChatLLM(
        server.base_url,
        server.model,
        None,
        template=template,
        **common,  # type: ignore[arg-type]
    )
    # llama.cpp's first request pays for loading the weights, and it keeps the evaluated
    # prompt for the next one: warming up with the answer prompt's fixed system part means
    # the first question, too, pays only for its own sources.
    with contextlib.suppress(LLMUnavailable):
        ChatLLM(server.base_url, server.model, None, max_tokens=1).complete(
            [{"role": "system", "content": QUOTED_SYSTEM_PROMPT}, {"role": "user", "content": "hi"}]
        )
    return LLMChoice(
        llm,
        f"LLM: local {name} via llama.cpp at {server.base_url}",
        server,
        queue=GenerationQueue(),
        grammar=settings.local_llm_grammar,
    )


def build_answerer(rt: Runtime, choice: LLMChoice) -> Answerer:
    """The Answerer the chat, ``python -m ragcore ask`` and the answer benchmark all use.

    Cheap: it holds references only, so callers build one per question.
    """
    return Answerer(
        Retriever(rt.catalog, rt.store, rt.models, spaces=rt.spaces),
        choice.llm,
        embedder=rt.evidence_embedder(),
        llm_note=choice.status,
        queue=choice.queue,
        grammar=choice.grammar,
    )
