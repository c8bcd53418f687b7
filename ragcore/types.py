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


class AnswerMode(StrEnum):
    """What an answer's headline is (``Answer.mode``)."""

    LLM = "llm"  # the model's answer, resting on a quote found on the cited page
    EXTRACT = "extract"  # the model refused or was unverifiable: the documents' own sentences
    EXTRACTIVE = "extractive"  # no model (or it failed): the best sentences, cited
    NOT_FOUND = "not_found"  # nothing relevant enough: the documents do not say


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
class TableSpan:
    """A Markdown table in a page's text, so chunking can cut it between rows and repeat its header.

    ``text[start:header_end]`` is the header row and its ``| --- |`` rule (newline included),
    ``text[header_end:end]`` the body, one row a line. ``row_numbers`` are the body rows'
    numbers in their source (a spreadsheet's row numbers), one per line, for locations such as
    "rows 12–40"; empty when the rows have no number a person would look up.

    >>> TableSpan(start=0, header_end=24, end=60, row_numbers=(2, 3))
    """

    start: int
    header_end: int
    end: int
    row_numbers: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.header_end <= self.end:
            raise ValueError(
                f"a table needs 0 <= start <= header_end <= end, got "
                f"{self.start}, {self.header_end}, {self.end}"
            )


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    text: str
    section: str = ""  # Markdown heading path, when known
    images: tuple[PageImage, ...] = ()
    # What a person calls this page in a location: "slide 4", "sheet Q3"; None means
    # "page {number}", and "" a format without pages (Word, HTML, CSV, Markdown).
    label: str | None = None
    tables: tuple[TableSpan, ...] = ()  # Markdown tables in ``text``, in order
    # Set when the text was read by OCR from the page's image: the engine's mean word
    # confidence (0–1). None for a text layer.
    ocr_confidence: float | None = None

    @property
    def has_text(self) -> bool:
        return bool(self.text.strip())

    @property
    def place(self) -> str:
        """The page as a location names it: its label, else "page N"."""
        return f"page {self.number}" if self.label is None else self.label


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

    @property
    def pages_ocr(self) -> int:
        """Pages whose text was read by OCR."""
        return sum(1 for p in self.pages if p.ocr_confidence is not None)


@dataclass(frozen=True)
class Chunk:
    """A span of one page's text: ``page_text[start:end] == text`` holds for text chunks,
    except a table's later pieces, whose text is the table's header followed by that slice.

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
    # Where a person finds it, as citations show it: "page 4", "slide 2, Results",
    # "sheet Q3, rows 12–40", "Setup > Install" (see ingest/chunking.py).
    location: str = ""
    ocr_confidence: float | None = None  # as on its Page: set when the text came from OCR

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
    location: str = ""  # as on Chunk; "" for chunks stored before locations existed
    ocr_confidence: float | None = None  # as on Chunk
    # Characters of ``text`` past its chunk's end: the rest of a sentence the chunk cut, read
    # on from the next chunk of its page (ragcore.passages).
    grown: int = 0

    @property
    def where(self) -> str:
        """Where the passage is, for citations: its location, else "page N" and its section."""
        if self.location:
            return self.location
        return f"page {self.page}, {self.section}" if self.section else f"page {self.page}"

    @property
    def score(self) -> float:
        ev = self.evidence
        if ev.rerank_score is not None:
            return ev.rerank_score
        return ev.fused_score or 0.0
