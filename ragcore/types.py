"""Frozen dataclasses that move between stages: parse → chunk → embed → store → retrieve → answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

# Deterministic point ids: a retry of the same document overwrites instead of duplicating.
POINT_NAMESPACE = uuid.UUID("6f1c2a4e-5b7d-4c1e-9a3f-2d8e0b7c4a91")

TEXT_SPACE = "text"
IMAGE_SPACE = "image"


def point_id(doc_id: str, chunk_no: int) -> str:
    """The vector-store id of a document's chunk: uuid5 of the document id and chunk number."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{doc_id}:{chunk_no}"))


class Strategy(StrEnum):
    FIXED = "fixed"
    SENTENCE = "sentence"
    RECURSIVE = "recursive"


class ChunkKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"


class Fusion(StrEnum):
    RRF = "rrf"
    DBSF = "dbsf"


@dataclass(frozen=True)
class ChunkingParams:
    strategy: Strategy = Strategy.RECURSIVE
    chunk_size: int = 200  # in the embedding model's tokens
    overlap: int = 30  # tokens for fixed/recursive, sentences for sentence

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise ValueError(f"chunk_size must be > 0, got {self.chunk_size}")
        if self.overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {self.overlap}")
        if self.strategy != Strategy.SENTENCE and self.overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_size must be > overlap, got {self.chunk_size} <= {self.overlap}"
            )


@dataclass(frozen=True)
class PageImage:
    """An image found on a page (or the image file itself), as encoded bytes.

    ``data`` is at most ``EMBED_SIDE`` (1024) pixels a side and ``thumbnail`` a PNG of at most
    ``THUMB_SIDE`` (384), both made by the parser (ingest/parsers/image.py) in the parse
    sandbox, so the worker never decodes a full-size image; ``width`` and ``height`` are the
    original's.
    """

    page: int  # 1-based
    index: int  # position on the page
    data: bytes
    mime: str
    width: int
    height: int
    thumbnail: bytes = b""


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    text: str
    section: str = ""  # Markdown heading path, when known
    images: tuple[PageImage, ...] = ()

    @property
    def has_text(self) -> bool:
        return bool(self.text.strip())


@dataclass(frozen=True)
class ParsedDocument:
    doc_id: str
    name: str
    mime: str
    pages: tuple[Page, ...]
    warnings: tuple[str, ...] = ()

    @property
    def pages_without_text(self) -> int:
        return sum(1 for p in self.pages if not p.has_text)


@dataclass(frozen=True)
class Chunk:
    """A span of one page's text: ``page_text[start:end] == text`` holds for text chunks.

    An image chunk's text is its page context (a slice, as above) or, on a page with no
    text, a caption naming the image (then ``start == end``).
    """

    doc_id: str
    chunk_no: int
    page: int
    start: int
    end: int
    text: str
    kind: ChunkKind = ChunkKind.TEXT
    section: str = ""
    image_index: int | None = None  # for image chunks: which image of the page

    @property
    def point_id(self) -> str:
        return point_id(self.doc_id, self.chunk_no)


@dataclass(frozen=True)
class Point:
    """What the vector store holds: an id, named vectors, and a payload."""

    id: str
    vectors: dict[str, list[float]]
    payload: dict[str, object]


@dataclass(frozen=True)
class ScoredPoint:
    id: str
    score: float
    payload: dict[str, object]


@dataclass(frozen=True)
class Evidence:
    """Why a hit was retrieved: its rank and score in every signal (None = not in that list)."""

    bm25_rank: int | None = None
    bm25_score: float | None = None
    text_rank: int | None = None
    text_score: float | None = None
    image_rank: int | None = None
    image_score: float | None = None
    dense_rank: int | None = None  # rank in the store's fused dense list
    dense_score: float | None = None
    fused_rank: int | None = None
    fused_score: float | None = None
    rerank_score: float | None = None


@dataclass(frozen=True)
class Hit:
    point_id: str
    doc_id: str
    file_name: str
    page: int
    chunk_no: int
    start: int
    end: int
    kind: ChunkKind
    text: str
    evidence: Evidence = field(default_factory=Evidence)
    section: str = ""
    image_index: int | None = None

    @property
    def score(self) -> float:
        ev = self.evidence
        if ev.rerank_score is not None:
            return ev.rerank_score
        return ev.fused_score or 0.0
