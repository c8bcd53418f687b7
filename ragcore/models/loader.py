"""One place that knows which models are loaded, which are off, and why."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from ragcore.errors import ModelUnavailable
from ragcore.models.base import ImageEmbedder, Reranker, TextEmbedder
from ragcore.models.image import ClipEmbedder
from ragcore.models.registry import ModelFacts
from ragcore.models.reranker import CrossEncoderReranker
from ragcore.models.resolver import Resolved, offline_source, resolve
from ragcore.models.text import SentenceTransformerEmbedder, check_precision

# The detail of a model that has not been tried yet and may well load when it is.
NOT_LOADED = "not loaded yet"


@dataclass(frozen=True)
class ModelStatus:
    role: str  # "text", "image", "reranker"
    model_id: str
    available: bool
    detail: str  # where it loaded from, or why it is off

    def line(self) -> str:
        state = "on" if self.available else "OFF"
        return f"{self.role:<8} {state:<3} {self.model_id} — {self.detail}"


def describe_facts(facts: ModelFacts, precision: str = "float32") -> str:
    """``384-d cosine, query prefix 'query: '``: what a person needs to know about a text model."""
    parts = [f"{facts.dim}-d {facts.distance}"]
    if facts.query_prefix:
        parts.append(f"query prefix {facts.query_prefix!r}")
    if facts.passage_prefix:
        parts.append(f"passage prefix {facts.passage_prefix!r}")
    if precision != "float32":
        parts.append(f"computes in {precision}")
    return ", ".join(parts)


class Models:
    """The text embedder (required), CLIP and the reranker (optional), each loaded on first use.

    An optional model that cannot load turns its feature off and says why in ``status()``.
    Tests pass ready-made objects (fakes or tiny models) instead of ids.
    """

    def __init__(
        self,
        *,
        text_model: str | TextEmbedder,
        image_model: str | ImageEmbedder | None,
        reranker_model: str | Reranker | None,
        cache_dir: Path,
        allow_downloads: bool = False,
        device: str = "cpu",
        batch_size: int | None = None,
        precision: str = "float32",
    ) -> None:
        self._specs = {"text": text_model, "image": image_model, "reranker": reranker_model}
        self._cache_dir = cache_dir
        self._allow_downloads = allow_downloads
        self._device = device
        self._batch_size = batch_size
        self._precision = check_precision(precision)
        self._loaded: dict[str, object] = {}
        self._status: dict[str, ModelStatus] = {}
        # Other text models by id: re-embed targets, and the model of the active space when it
        # differs from the configured one. Loaded on first use, kept for the process.
        self._text_models: dict[str, TextEmbedder] = {}
        self._text_locks: dict[str, threading.Lock] = {}
        self._lock = threading.RLock()

    def _load(self, role: str) -> object | None:
        with self._lock:
            if role in self._status:
                return self._loaded.get(role)
            spec = self._specs[role]
            if spec is None:
                self._status[role] = ModelStatus(role, "-", False, "turned off in settings")
                return None
            if not isinstance(spec, str):
                self._loaded[role] = spec
                self._status[role] = ModelStatus(
                    role, getattr(spec, "model_id", "?"), True, "given"
                )
                return spec
            try:
                resolved = resolve(
                    spec, cache_dir=self._cache_dir, allow_downloads=self._allow_downloads
                )
                model: object
                if role == "text":
                    model = self._text_embedder(resolved)
                elif role == "image":
                    model = ClipEmbedder(resolved, device=self._device)
                else:
                    model = CrossEncoderReranker(resolved, device=self._device)
                model.warm_up()
            except ModelUnavailable as exc:
                self._status[role] = ModelStatus(role, spec, False, str(exc))
                return None
            except Exception as exc:  # a broken download or folder must not take the app down
                self._status[role] = ModelStatus(
                    role, spec, False, f"failed to load: {type(exc).__name__}: {exc}"[:300]
                )
                return None
            self._loaded[role] = model
            detail = f"loaded from {resolved.source}"
            if isinstance(model, SentenceTransformerEmbedder):
                detail += "; " + describe_facts(model.facts, model.precision)
            self._status[role] = ModelStatus(role, spec, True, detail)
            return model

    @property
    def text(self) -> TextEmbedder:
        model = self._load("text")
        if model is None:
            raise ModelUnavailable(f"the text embedder cannot load: {self._status['text'].detail}")
        return model  # type: ignore[return-value]

    def _text_embedder(self, resolved: Resolved) -> SentenceTransformerEmbedder:
        # Prefixes, distance and normalisation come from the registry (or the model's config).
        return SentenceTransformerEmbedder(
            resolved, device=self._device, batch_size=self._batch_size, precision=self._precision
        )

    def add_text_model(self, embedder: TextEmbedder) -> None:
        """Make a ready-made text embedder available under its ``model_id`` (tests, fakes)."""
        with self._lock:
            self._text_models[embedder.model_id] = embedder

    def text_for(self, model_id: str) -> TextEmbedder:
        """The text embedder for ``model_id``: the configured one, or another loaded on first use.

        Raises ModelUnavailable when it cannot load here.
        """
        spec = self._specs["text"]
        configured = spec if isinstance(spec, str) else getattr(spec, "model_id", None)
        if model_id == configured:
            return self.text
        with self._lock:
            if model_id in self._text_models:
                return self._text_models[model_id]
            loading = self._text_locks.setdefault(model_id, threading.Lock())
        # Loaded outside the shared lock: questions keep using the loaded models meanwhile.
        with loading:
            if model_id in self._text_models:
                return self._text_models[model_id]
            resolved = resolve(
                model_id, cache_dir=self._cache_dir, allow_downloads=self._allow_downloads
            )
            model = self._text_embedder(resolved)
            try:
                model.warm_up()
            except Exception as exc:  # a broken folder must not take the app down
                raise ModelUnavailable(
                    f"the text model {model_id} cannot load: {type(exc).__name__}: {exc}"[:300]
                ) from exc
            with self._lock:
                self._text_models[model_id] = model
            return model

    @property
    def image(self) -> ImageEmbedder | None:
        return self._load("image")  # type: ignore[return-value]

    @property
    def reranker(self) -> Reranker | None:
        return self._load("reranker")  # type: ignore[return-value]

    def status(self, *, load: bool = True) -> list[ModelStatus]:
        """Each role's state; with ``load`` the optional models are tried first."""
        out = []
        for role in ("text", "image", "reranker"):
            if load:
                self._load(role)
            out.append(self._status.get(role) or self._unloaded_status(role))
        return out

    def _unloaded_status(self, role: str) -> ModelStatus:
        """A role not tried yet, judged without loading: a model that is off, or cannot load
        without the network, is shown off with its reason before anyone asks for it."""
        spec = self._specs[role]
        if spec is None:
            return ModelStatus(role, "-", False, "turned off in settings")
        name = spec if isinstance(spec, str) else getattr(spec, "model_id", "-")
        if (
            isinstance(spec, str)
            and not self._allow_downloads
            and offline_source(spec, cache_dir=self._cache_dir) is None
        ):
            return ModelStatus(
                role, spec, False, f"no offline copy of {spec} here, and downloads are off"
            )
        return ModelStatus(role, str(name), False, NOT_LOADED)
