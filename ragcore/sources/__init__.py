"""Cited sources shown where they are: a PDF page with the passage marked, an image, or text."""

from __future__ import annotations

from ragcore.sources.cache import PageCache, pages_dir
from ragcore.sources.pdf import page_place
from ragcore.sources.render import (
    DEFAULT_SCALE,
    SourceKind,
    SourceRenderer,
    SourceView,
    quote_span,
    render_source,
)

__all__ = [
    "DEFAULT_SCALE",
    "PageCache",
    "SourceKind",
    "SourceRenderer",
    "SourceView",
    "page_place",
    "pages_dir",
    "quote_span",
    "render_source",
]
