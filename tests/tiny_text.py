"""Tiny random text models for tests, built once per test session and shared between modules."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ragcore.testing.tiny_models import build_tiny_text_model

_lock = threading.Lock()

# name -> how to build it; every test asks for one of these by name.
SPECS: dict[str, dict[str, Any]] = {
    # Its own config asks for "query: " / "passage: " and makes "query" the default prompt, so
    # sentence-transformers would add it a second time if we let it.
    "prompted": {
        "dim": 48,
        "prompts": {"query": "query: ", "document": "passage: "},
        "default_prompt_name": "query",
    },
    # 384 wide like MiniLM, E5-small and BGE-small: loads under their ids to test registry prefixes.
    "wide": {"dim": 384, "seed": 1},
    # A dot-product model: CLS pooling, no normalisation, raw vectors.
    "dot": {"dim": 24, "seed": 2, "similarity": "dot", "normalize": False, "pooling": "cls"},
}


def tiny_text_model(factory: pytest.TempPathFactory, name: str) -> Path:
    folder = factory.getbasetemp() / "tiny-text" / name
    with _lock:
        if not (folder / "modules.json").exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            build_tiny_text_model(folder, **SPECS[name])
    return folder
