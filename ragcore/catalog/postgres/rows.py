"""PostgreSQL rows (as dicts) into the catalog's records, the same ones SQLite's rows become."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ragcore.catalog.conversations import Conversation, TurnRow
from ragcore.catalog.records import ChunkRow, DocumentRecord, JobRecord
from ragcore.catalog.spaces import SpaceRecord
from ragcore.types import ChunkKind

Row = dict[str, Any]

# SQLite's rowid is the chunk's id column here.
CHUNK_COLUMNS = (
    'id AS rowid, doc_id, chunk_no, point_id, page, start, "end", kind, section, image_index, '
    "text, embed_model, embed_fingerprint, location, ocr_confidence"
)


def _named(cls: type, row: Row) -> dict[str, Any]:
    return {f.name: row[f.name] for f in fields(cls)}


def document(row: Row) -> DocumentRecord:
    return DocumentRecord(**_named(DocumentRecord, row))


def chunk(row: Row) -> ChunkRow:
    values = _named(ChunkRow, row)
    values["kind"] = ChunkKind(values["kind"])
    return ChunkRow(**values)


def job(row: Row) -> JobRecord:
    values = _named(JobRecord, row)
    values["params"] = dict(values["params"] or {})
    values["progress"] = float(values["progress"])
    return JobRecord(**values)


def space(row: Row) -> SpaceRecord:
    return SpaceRecord(**_named(SpaceRecord, row))


def conversation(row: Row) -> Conversation:
    return Conversation(**_named(Conversation, row))


def turn(row: Row) -> TurnRow:
    # JSONB columns arrive parsed and booleans as bool: every field is its column as is.
    return TurnRow(**_named(TurnRow, row))
