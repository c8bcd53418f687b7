"""A ready document's text rebuilt from its stored chunks: the catalog keeps chunks, not pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ragcore.catalog import ChunkRow, DocumentStatus
from ragcore.catalog.backend import CatalogBackend
from ragcore.types import ChunkKind, Hit

# Between pages, so that no chunker joins the last words of a page to the first of the next.
PAGE_BREAK = "\n\n"


@dataclass(frozen=True)
class DocumentText:
    """One document as a single text, with where each page starts in it.

    >>> doc = rebuild_text("d1", "a.txt", catalog.chunks("d1"))
    >>> doc.text[slice(*doc.span(row))] == row.text
    True
    """

    doc_id: str
    name: str
    text: str
    page_starts: Mapping[int, int] = field(default_factory=dict)  # page number -> offset

    def span(self, chunk: ChunkRow) -> tuple[int, int]:
        """Where a stored text chunk of this document lies in :attr:`text`."""
        if chunk.doc_id != self.doc_id:
            raise ValueError(f"chunk of document {chunk.doc_id!r} is not of {self.doc_id!r}")
        if chunk.page not in self.page_starts:
            raise ValueError(f"page {chunk.page} of {self.name} has no text here")
        base = self.page_starts[chunk.page]
        return base + chunk.start, base + chunk.end


def is_page_slice(row: ChunkRow | Hit) -> bool:
    """Whether a chunk's (or a passage's) text is ``page[start:end]``: an image's caption is
    not (start == end), nor a table's later piece, which repeats the table's header."""
    return (
        row.kind == ChunkKind.TEXT and row.end - row.start == len(row.text) and row.end > row.start
    )


def trimmed_gap(length: int) -> str:
    """Stand-in for the whitespace a chunker trimmed between two chunks (its form is not stored).

    One character was a space between words or sentences; more was most often a paragraph
    break, which the recursive and sentence strategies split at, so it stays one. The length is
    kept, so every offset stays where it was.
    """
    return " " if length == 1 else PAGE_BREAK + " " * (length - len(PAGE_BREAK))


def _page_text(rows: Sequence[ChunkRow]) -> str:
    """A page's text from its chunks: each is ``page[start:end]``, so overlaps agree."""
    pieces: list[str] = []
    cursor = 0
    for row in sorted(rows, key=lambda r: (r.start, r.end)):
        if row.end <= cursor:
            continue
        if row.start > cursor:
            pieces.append(trimmed_gap(row.start - cursor))
            pieces.append(row.text)
        else:
            pieces.append(row.text[cursor - row.start :])
        cursor = row.end
    return "".join(pieces)


def rebuild_text(doc_id: str, name: str, rows: Sequence[ChunkRow]) -> DocumentText | None:
    """The document's pages, in order, joined by :data:`PAGE_BREAK`; None with no text chunk."""
    by_page: dict[int, list[ChunkRow]] = {}
    for row in rows:
        if row.doc_id != doc_id:
            raise ValueError(f"chunk of document {row.doc_id!r} given for {doc_id!r}")
        if is_page_slice(row):
            by_page.setdefault(row.page, []).append(row)
    if not by_page:
        return None
    parts: list[str] = []
    starts: dict[int, int] = {}
    offset = 0
    for page in sorted(by_page):
        if parts:
            parts.append(PAGE_BREAK)
            offset += len(PAGE_BREAK)
        starts[page] = offset
        text = _page_text(by_page[page])
        parts.append(text)
        offset += len(text)
    return DocumentText(doc_id, name, "".join(parts), starts)


def library_texts(catalog: CatalogBackend) -> list[DocumentText]:
    """Every ready document with text, rebuilt, in the catalog's order."""
    out = []
    for doc in catalog.list_documents():
        if doc.status != DocumentStatus.READY:
            continue
        rebuilt = rebuild_text(doc.id, doc.name, catalog.chunks(doc.id))
        if rebuilt is not None:
            out.append(rebuilt)
    return out
