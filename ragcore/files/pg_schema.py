"""The tables PostgresFileStore keeps uploaded files in (applied as a catalog migration)."""

from __future__ import annotations

# A file is a row naming it plus its content in 1 MiB rows, so neither a write nor a read ever
# holds the whole file. Chunk rows are written before the file row (its name is the content's
# hash, known only at the end), hence the deferred foreign key: a transaction that does not
# finish leaves no row at all. The content is stored uncompressed (EXTERNAL): PDFs, Office files
# and images are compressed already, and compressing them again costs time for nothing.
DDL = """
CREATE SEQUENCE file_ids;

CREATE TABLE files (
    name TEXT PRIMARY KEY CHECK (name ~ '^[0-9a-f]{64}(\\.[a-z0-9]{1,8})?$'),
    id BIGINT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL CHECK (size >= 0),
    chunks INTEGER NOT NULL CHECK (chunks >= 0),
    created_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE file_chunks (
    file_id BIGINT NOT NULL
        REFERENCES files (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    n INTEGER NOT NULL CHECK (n >= 0),
    data BYTEA NOT NULL,
    PRIMARY KEY (file_id, n)
);
ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
"""

# Thumbnails of a document's images (small PNGs, one row each), so a host that did not ingest the
# document can still show them; they go with their document.
THUMBNAILS_DDL = """
CREATE TABLE thumbnails (
    doc_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk_no INTEGER NOT NULL CHECK (chunk_no >= 0),
    png BYTEA NOT NULL,
    PRIMARY KEY (doc_id, chunk_no)
);
ALTER TABLE thumbnails ALTER COLUMN png SET STORAGE EXTERNAL;
"""
