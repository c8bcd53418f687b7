"""A Runtime on a temporary data dir with fake or tiny models, for tests of everything above it."""

from __future__ import annotations

from pathlib import Path

from ragcore.models.base import ImageEmbedder, Reranker, TextEmbedder
from ragcore.models.loader import Models
from ragcore.runtime import Runtime, open_catalog
from ragcore.settings import Settings
from ragcore.testing.embedders import HashingEmbedder


def make_runtime(
    data_dir: Path,
    *,
    text: TextEmbedder | None = None,
    image: ImageEmbedder | None = None,
    reranker: Reranker | None = None,
    **settings: object,
) -> Runtime:
    """An embedded-store Runtime whose models are the given objects (a HashingEmbedder by default).

    The catalog is the SQLite file in ``data_dir`` unless ``catalog_url`` names a PostgreSQL one.

    >>> rt = make_runtime(tmp_path)
    >>> rt.models.text.embed_queries(["hi"]).shape
    (1, 64)
    """
    values: dict[str, object] = {"data_dir": data_dir, "store": "embedded", "local_llm": False}
    values.update(settings)
    config = Settings(**values)  # type: ignore[arg-type]
    data_dir.mkdir(parents=True, exist_ok=True)
    models = Models(
        text_model=text or HashingEmbedder(),
        image_model=image,
        reranker_model=reranker,
        cache_dir=config.models_dir,
    )
    return Runtime(settings=config, catalog=open_catalog(config), models=models)
