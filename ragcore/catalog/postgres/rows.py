"""What PostgreSQL rows need before they become the catalog's records (records.*.from_row)."""

from __future__ import annotations

from typing import Any

# psycopg's dict_row: a row as a dict of column name to value.
Row = dict[str, Any]

# SQLite's rowid is the chunk's id column here.
CHUNK_COLUMNS = (
    'id AS rowid, doc_id, chunk_no, point_id, page, start, "end", kind, section, image_index, '
    "text, embed_model, embed_fingerprint, location, ocr_confidence"
)
