"""Vector stores behind one Protocol; ``open_store`` picks one from plain values."""

from __future__ import annotations

from pathlib import Path

from ragcore.stores.base import DenseQuery, DenseResult, QueryLeg, VectorStore

__all__ = ["DenseQuery", "DenseResult", "QueryLeg", "VectorStore", "open_store"]


def open_store(
    backend: str,
    *,
    path: Path | None = None,
    collection: str = "docqa",
    url: str = "localhost:6574",
    api_key: str | None = None,
    tls: bool = False,
    startup_timeout: float = 60.0,
) -> VectorStore:
    """Open the embedded store at ``path`` or the VectorAI server at ``url``."""
    if backend == "embedded":
        from ragcore.stores.embedded import EmbeddedStore

        if path is None:
            raise ValueError("the embedded store needs a path")
        return EmbeddedStore(path, collection=collection)
    if backend == "vectorai":
        from ragcore.stores.vectorai import VectorAIStore

        return VectorAIStore(
            url, collection=collection, api_key=api_key, tls=tls, startup_timeout=startup_timeout
        )
    raise ValueError(f"store must be 'embedded' or 'vectorai', got {backend!r}")
