"""Known embedding models and their facts: size, sequence limit, distance, normalisation, prefixes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

COSINE = "cosine"
DOT = "dot"
DISTANCES = (COSINE, DOT)

TEXT = "text"
IMAGE = "image"

BGE_QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "


@dataclass(frozen=True)
class ModelFacts:
    """What the app must know about an embedding model to store and search its vectors right.

    ``distance`` is how the model was trained to compare vectors: ``cosine`` models get
    L2-normalised vectors in a cosine space; ``dot`` models keep their raw vectors in a
    dot-product space, because their vector lengths carry part of the relevance score.

    >>> facts_for("intfloat/e5-small-v2").passage_prefix
    'passage: '
    """

    model_id: str
    kind: str  # "text" or "image"
    dim: int
    max_seq_length: int
    distance: str = COSINE
    normalized: bool = True  # whether the model itself outputs unit vectors
    query_prefix: str = ""
    passage_prefix: str = ""
    known: bool = True  # False: read from the loaded model, not from this table

    def __post_init__(self) -> None:
        if self.kind not in (TEXT, IMAGE):
            raise ValueError(f"kind must be 'text' or 'image', got {self.kind!r}")
        if self.distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {self.distance!r}")
        if self.dim <= 0:
            raise ValueError(f"dim must be > 0, got {self.dim} for {self.model_id}")
        if self.max_seq_length <= 0:
            raise ValueError(
                f"max_seq_length must be > 0, got {self.max_seq_length} for {self.model_id}"
            )

    @property
    def bytes_per_vector(self) -> int:
        """Stored as float32, whatever precision the model computed in."""
        return 4 * self.dim


def _text(model_id: str, dim: int, max_len: int, **kw: Any) -> ModelFacts:
    return ModelFacts(model_id, TEXT, dim, max_len, **kw)


def _e5(size: str, dim: int) -> ModelFacts:
    return _text(
        f"intfloat/e5-{size}-v2", dim, 512, query_prefix="query: ", passage_prefix="passage: "
    )


def _bge(size: str, dim: int) -> ModelFacts:
    # BGE v1.5 wants its instruction on short queries only; passages go in as they are.
    return _text(f"BAAI/bge-{size}-en-v1.5", dim, 512, query_prefix=BGE_QUERY_INSTRUCTION)


KNOWN: tuple[ModelFacts, ...] = (
    _text("sentence-transformers/all-MiniLM-L6-v2", 384, 256),
    _text("sentence-transformers/all-MiniLM-L12-v2", 384, 128),
    _text("sentence-transformers/all-mpnet-base-v2", 768, 384),
    # Trained for dot-product scores (CLS pooling, no normalisation layer).
    _text(
        "sentence-transformers/multi-qa-mpnet-base-dot-v1", 768, 512, distance=DOT, normalized=False
    ),
    _e5("small", 384),
    _e5("base", 768),
    _e5("large", 1024),
    _bge("small", 384),
    _bge("base", 768),
    _bge("large", 1024),
    ModelFacts("sentence-transformers/clip-ViT-B-32", IMAGE, 512, 77),
)

_BY_KEY = {facts.model_id.lower(): facts for facts in KNOWN}
_BY_SHORT = {facts.model_id.split("/")[-1].lower(): facts for facts in KNOWN}


def known_facts(model_id: str) -> ModelFacts | None:
    """The table's facts for a hub id, with or without its organisation (``e5-small-v2``)."""
    key = model_id.strip().lower()
    facts = _BY_KEY.get(key) or _BY_SHORT.get(key.rstrip("/").split("/")[-1])
    if facts is None:
        return None
    # Keep the caller's spelling: it is the id recorded in payloads and the catalog.
    return replace(facts, model_id=model_id)


def facts_for(model_id: str, model: Any | None = None) -> ModelFacts:
    """Facts for ``model_id``: from the table, else read from a loaded sentence-transformers model.

    Raises ValueError when the id is unknown and no loaded model is given to read from.
    """
    facts = known_facts(model_id)
    if facts is not None:
        if model is not None:
            loaded_dim = _dimension(model)
            if loaded_dim and loaded_dim != facts.dim:
                raise ValueError(
                    f"{model_id} is known to produce {facts.dim}-dimension vectors, but the copy "
                    f"loaded here produces {loaded_dim}: it is another model under the same name"
                )
            max_len = int(getattr(model, "max_seq_length", 0) or facts.max_seq_length)
            return replace(facts, max_seq_length=max_len)
        return facts
    if model is None:
        raise ValueError(
            f"{model_id} is not in the model registry; load it to read its facts "
            f"(known: {', '.join(f.model_id for f in KNOWN)})"
        )
    return read_facts(model_id, model)


def read_facts(model_id: str, model: Any) -> ModelFacts:
    """Facts of a model the registry does not know, as its sentence-transformers config states them."""
    dim = _dimension(model)
    if not dim:
        raise ValueError(f"{model_id} does not report its embedding dimension")
    normalized = any(type(module).__name__ == "Normalize" for module in _modules(model))
    similarity = str(getattr(model, "similarity_fn_name", None) or COSINE)
    # A dot-product model that normalises its outputs ranks exactly as cosine; euclidean and
    # manhattan models are served by cosine over normalised vectors, the closest we store.
    distance = DOT if similarity == DOT and not normalized else COSINE
    prompts = dict(getattr(model, "prompts", None) or {})
    passage = next((prompts[k] for k in ("document", "passage", "corpus") if prompts.get(k)), "")
    return ModelFacts(
        model_id=model_id,
        kind=TEXT,
        dim=dim,
        max_seq_length=int(getattr(model, "max_seq_length", 0) or 512),
        distance=distance,
        normalized=normalized,
        query_prefix=str(prompts.get("query") or ""),
        passage_prefix=str(passage),
        known=False,
    )


def _dimension(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or getattr(
        model, "get_sentence_embedding_dimension", None
    )
    return int(getter() or 0) if getter is not None else 0


def _modules(model: Any) -> list[Any]:
    try:
        return list(model)
    except TypeError:
        return []


def slug(model_id: str) -> str:
    """A collection-name-safe short form of a model id: ``all-mpnet-base-v2``, ``e5-small-v2``."""
    base = model_id.rstrip("/").split("/")[-1].lower() or "model"
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in base)
    return cleaned.strip("-.")[:48] or "model"
