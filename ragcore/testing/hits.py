"""Retrieved passages built by hand, for tests of what happens after retrieval."""

from __future__ import annotations

from ragcore.types import ChunkKind, Hit


def passage_hit(
    text: str,
    *,
    number: int = 1,
    doc_id: str | None = None,
    file_name: str = "tower.pdf",
    page: int = 1,
    kind: ChunkKind = ChunkKind.TEXT,
) -> Hit:
    """A hit whose passage is the whole of ``text``; ``number`` keeps ids apart."""
    return Hit(
        point_id=f"point-{number}",
        doc_id=doc_id or f"doc-{number}",
        file_name=file_name,
        page=page,
        chunk_no=number,
        start=0,
        end=len(text),
        kind=kind,
        text=text,
    )
