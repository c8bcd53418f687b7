"""The PostgreSQL catalog's schema as numbered migrations, applied once each under a lock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from ragcore.catalog import pg_keyword
from ragcore.errors import SchemaMismatch
from ragcore.files import pg_schema as files_schema

# pg_advisory_xact_lock key for migrating: two processes starting at once on an empty database
# take turns, and the second finds the steps already applied.
MIGRATION_LOCK = 0x7261_676D_6967_7261  # "ragmigra"


@dataclass(frozen=True)
class Migration:
    """One schema step: ``sql`` is run as one script, in one transaction with its record."""

    version: int
    name: str
    sql: Callable[[], str]  # read when applied, so a module's DDL is read when it is needed


# Times are seconds since the epoch (double precision) from the catalog's clock, as in SQLite,
# so leases compare the same way on both backends and tests can move time by hand. ``seq``
# columns order rows inserted in the same instant, as SQLite's rowid does.
_CATALOG = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    path TEXT NOT NULL,
    pages INTEGER NOT NULL DEFAULT 0,
    pages_without_text INTEGER NOT NULL DEFAULT 0,
    pages_ocr INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    images INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
    error TEXT,
    warnings TEXT NOT NULL DEFAULT '',
    strategy TEXT,
    chunk_size INTEGER,
    overlap INTEGER,
    embed_model TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX documents_created ON documents (created_at, seq);

CREATE TABLE chunks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk_no INTEGER NOT NULL,
    point_id TEXT NOT NULL UNIQUE,
    page INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('text', 'image')),
    section TEXT NOT NULL DEFAULT '',
    image_index INTEGER,
    text TEXT NOT NULL,
    embed_model TEXT NOT NULL,
    embed_fingerprint TEXT NOT NULL DEFAULT '',
    location TEXT,
    ocr_confidence DOUBLE PRECISION,
    UNIQUE (doc_id, chunk_no)
);

-- Moves whenever a chunk row is added, removed or re-texted; its row lock also orders chunk
-- writes against a model switch (see spaces.py).
CREATE TABLE catalog_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO catalog_meta (key, value) VALUES ('chunks_version', 0);

CREATE TABLE jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id TEXT NOT NULL,  -- no foreign key: a delete job outlives its document
    kind TEXT NOT NULL CHECK (kind IN ('ingest', 'reindex', 'delete', 'reembed')),
    params JSONB NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    stage TEXT NOT NULL DEFAULT 'queued',
    progress DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    error TEXT,
    worker_id TEXT,
    lease_until DOUBLE PRECISION,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX jobs_status ON jobs (status, id);
CREATE INDEX jobs_doc ON jobs (doc_id, status);

CREATE TABLE spaces (
    name TEXT PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    model_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    dim INTEGER NOT NULL CHECK (dim > 0),
    distance TEXT NOT NULL DEFAULT 'cosine' CHECK (distance IN ('cosine', 'dot')),
    image_dim INTEGER,
    status TEXT NOT NULL
        CHECK (status IN ('active', 'building', 'retired', 'dropped', 'cancelled', 'failed')),
    job_id BIGINT,
    note TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX spaces_one_active ON spaces (status) WHERE status = 'active';
CREATE UNIQUE INDEX spaces_one_building ON spaces (status) WHERE status = 'building';

CREATE TABLE conversations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT NOT NULL,
    user_id TEXT,
    title TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX conversations_session ON conversations (session_id, updated_at);

CREATE TABLE turns (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    question TEXT NOT NULL,
    standalone_question TEXT,
    answer_text TEXT NOT NULL DEFAULT '',
    mode TEXT,
    sources JSONB NOT NULL DEFAULT '[]',
    citations JSONB NOT NULL DEFAULT '{}',
    detail JSONB NOT NULL DEFAULT '{}',
    llm TEXT NOT NULL DEFAULT '',
    timings JSONB NOT NULL DEFAULT '{}',
    error TEXT,
    stopped BOOLEAN NOT NULL DEFAULT FALSE,
    draft TEXT NOT NULL DEFAULT '',
    edited BOOLEAN NOT NULL DEFAULT FALSE,
    feedback INTEGER CHECK (feedback IN (-1, 1)),
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (conversation_id, position)
);
"""


# Collections: ids come from an identity and are never handed out twice (vector payloads carry
# them); names are unique ignoring case, as SQLite's COLLATE NOCASE makes them.
_COLLECTIONS = """
CREATE TABLE collections (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX collections_name ON collections (lower(name));

CREATE TABLE collection_documents (
    collection_id BIGINT NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    doc_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    added_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (collection_id, doc_id)
);
CREATE INDEX collection_documents_doc ON collection_documents (doc_id);
"""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "documents, chunks, jobs, spaces, conversations", lambda: _CATALOG),
    Migration(2, "keyword (BM25) index of the chunks", lambda: pg_keyword.DDL),
    Migration(3, "collections of documents", lambda: _COLLECTIONS),
    Migration(4, "uploaded files, in 1 MiB chunks", lambda: files_schema.DDL),
    Migration(5, "thumbnails of documents' images", lambda: files_schema.THUMBNAILS_DDL),
)


def schema_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return max(m.version for m in migrations)


def migrate(
    conn: psycopg.Connection[Any],
    *,
    where: str,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[int]:
    """Apply the steps the database lacks, each in its own transaction; returns their versions.

    Raises SchemaMismatch if the database has a step this code does not know (a newer app
    migrated it): writing to it could break that app's data.
    """
    known = {m.version for m in migrations}
    newest = schema_version(migrations)
    applied_now: list[int] = []
    for step in sorted(migrations, key=lambda m: m.version):
        with conn.transaction():
            # Each step rechecks under the lock: another process may have applied it meanwhile.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
            applied = {int(row[0]) for row in rows}
            unknown = sorted(applied - known)
            if unknown and max(unknown) > newest:
                raise SchemaMismatch(
                    f"the catalog database at {where} was migrated by a newer version of this "
                    f"app (schema {max(unknown)}, this one knows {newest}); upgrade the app"
                )
            if step.version in applied:
                continue
            conn.execute(step.sql().encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (step.version, step.name),
            )
            applied_now.append(step.version)
    return applied_now
