"""The catalog's SQLite schema: documents, chunks with their FTS5 index, and jobs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ragcore.catalog.health import catalog_corrupt, quick_check
from ragcore.errors import SchemaMismatch

# Model spaces, chunk fingerprints and the chunk counter were added without a version bump:
# they are additive (an app that does not know them still reads and writes the catalog) and
# _add_spaces brings any catalog up to date on open.
SCHEMA_VERSION = 1

# Chunks declare `rowid INTEGER PRIMARY KEY` so the rowid the FTS index points at is a real
# column: an implicit rowid may be renumbered by VACUUM, which would silently break the index.
# The FTS table is external-content (the text is stored once, in chunks) and triggers keep it in
# step inside whatever transaction touches chunks, so a delete removes its terms at once.
_DDL = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    path TEXT NOT NULL,
    pages INTEGER NOT NULL DEFAULT 0,
    pages_without_text INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    images INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
    error TEXT,
    strategy TEXT,
    chunk_size INTEGER,
    overlap INTEGER,
    embed_model TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_created ON documents (created_at);

CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk_no INTEGER NOT NULL,
    point_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('text', 'image')),
    section TEXT NOT NULL DEFAULT '',
    image_index INTEGER,
    text TEXT NOT NULL,
    embed_model TEXT NOT NULL,
    UNIQUE (doc_id, chunk_no)
);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_point ON chunks (point_id);

CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (
    text, content='chunks', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;

CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,  -- no foreign key: a delete job outlives its document
    kind TEXT NOT NULL CHECK (kind IN ('ingest', 'reindex', 'delete', 'reembed')),
    params TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    stage TEXT NOT NULL DEFAULT 'queued',
    progress REAL NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    error TEXT,
    worker_id TEXT,
    lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, id);
CREATE INDEX IF NOT EXISTS jobs_doc ON jobs (doc_id, status);
"""


def connect(path: str, *, busy_timeout: float) -> sqlite3.Connection:
    """Open the catalog file in WAL mode with foreign keys on, creating the schema if needed."""
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so every multi-step write takes
    # the write lock up front instead of failing half-way when another process writes first.
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is safe in WAL mode (no corruption); a power cut may lose the last commits only.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Before the schema is touched: writing into a damaged file spreads the damage.
        problem = quick_check(conn)
        if problem is not None:
            raise catalog_corrupt(Path(path), problem)
        _create_schema(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _create_schema(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaMismatch(
                f"the catalog {path} was written by a newer version of this app "
                f"(schema {version}, this one knows {SCHEMA_VERSION}); upgrade the app"
            )
        for statement in _statements(_DDL):
            conn.execute(statement)
        _add_spaces(conn)
        _add_locations(conn)
        _add_ocr(conn)
        for statement in _statements(_CONVERSATIONS_DDL):
            conn.execute(statement)
        for statement in _statements(_COLLECTIONS_DDL):
            conn.execute(statement)
        # Only when it changes: an open that changes nothing writes nothing, so a catalog on a
        # full disk can still be opened and read.
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        if conn.in_transaction:  # a full disk or a damaged page already rolled it back
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """Split a DDL script into statements; triggers contain ';' so split on complete ones."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]


# Model spaces. A space is one collection holding one text model's vectors; exactly
# one is active (answers questions), at most one is being built by a re-embed job. The counter
# in catalog_meta moves whenever a chunk row is added, removed or its text changes, so a
# re-embed can tell, inside its switch transaction, that the chunks it covered are still all.
_SPACES_DDL = """
CREATE TABLE IF NOT EXISTS spaces (
    name TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    dim INTEGER NOT NULL CHECK (dim > 0),
    distance TEXT NOT NULL DEFAULT 'cosine' CHECK (distance IN ('cosine', 'dot')),
    image_dim INTEGER,
    status TEXT NOT NULL
        CHECK (status IN ('active', 'building', 'retired', 'dropped', 'cancelled', 'failed')),
    job_id INTEGER,
    note TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS spaces_one_active ON spaces (status) WHERE status = 'active';
CREATE UNIQUE INDEX IF NOT EXISTS spaces_one_building ON spaces (status) WHERE status = 'building';

CREATE TABLE IF NOT EXISTS catalog_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO catalog_meta (key, value) VALUES ('chunks_version', 0);
CREATE TRIGGER IF NOT EXISTS chunks_version_insert AFTER INSERT ON chunks BEGIN
    UPDATE catalog_meta SET value = value + 1 WHERE key = 'chunks_version';
END;
CREATE TRIGGER IF NOT EXISTS chunks_version_delete AFTER DELETE ON chunks BEGIN
    UPDATE catalog_meta SET value = value + 1 WHERE key = 'chunks_version';
END;
CREATE TRIGGER IF NOT EXISTS chunks_version_update AFTER UPDATE OF text ON chunks BEGIN
    UPDATE catalog_meta SET value = value + 1 WHERE key = 'chunks_version';
END;
"""


def _add_locations(conn: sqlite3.Connection) -> None:
    """Give chunks their location ("sheet Q3, rows 12–40"); NULL in rows stored before it."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}
    if "location" not in columns:
        conn.execute("ALTER TABLE chunks ADD COLUMN location TEXT")


def _add_ocr(conn: sqlite3.Connection) -> None:
    """Record which text came from OCR (its confidence per chunk, OCR'd pages per document) and
    what parsing warned of ("OCR is not available", an image skipped), one warning a line."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}
    if "ocr_confidence" not in columns:
        conn.execute("ALTER TABLE chunks ADD COLUMN ocr_confidence REAL")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(documents)")}
    if "pages_ocr" not in columns:
        conn.execute("ALTER TABLE documents ADD COLUMN pages_ocr INTEGER NOT NULL DEFAULT 0")
    if "warnings" not in columns:
        conn.execute("ALTER TABLE documents ADD COLUMN warnings TEXT NOT NULL DEFAULT ''")


def _add_spaces(conn: sqlite3.Connection) -> None:
    """Add model spaces to a new or an older catalog; every step is safe to repeat."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}
    if "embed_fingerprint" not in columns:
        conn.execute("ALTER TABLE chunks ADD COLUMN embed_fingerprint TEXT NOT NULL DEFAULT ''")
    for statement in _statements(_SPACES_DDL):
        conn.execute(statement)


# Conversations and their turns (additive, like spaces). A turn keeps what its answer showed,
# sources and citation report included, as JSON: it has no foreign key to documents, so an answer
# outlives the documents it cites and still reads as it did. user_id stays NULL until there are
# accounts; a conversation belongs to the browser session that made it.
_CONVERSATIONS_DDL = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    user_id TEXT,
    title TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_session ON conversations (session_id, updated_at);

CREATE TABLE IF NOT EXISTS turns (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    question TEXT NOT NULL,
    standalone_question TEXT,
    answer_text TEXT NOT NULL DEFAULT '',
    mode TEXT,
    sources TEXT NOT NULL DEFAULT '[]',
    citations TEXT NOT NULL DEFAULT '{}',
    detail TEXT NOT NULL DEFAULT '{}',
    llm TEXT NOT NULL DEFAULT '',
    timings TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    stopped INTEGER NOT NULL DEFAULT 0,
    draft TEXT NOT NULL DEFAULT '',
    edited INTEGER NOT NULL DEFAULT 0,
    feedback INTEGER CHECK (feedback IN (-1, 1)),
    created_at REAL NOT NULL,
    PRIMARY KEY (conversation_id, position)
);
"""


# Collections (additive, like spaces). AUTOINCREMENT so an id is never handed out twice: vector
# payloads carry ids, and one left behind by a deleted collection must match no new one. Names
# are unique ignoring case ("papers" and "Papers" would be one collection to a person).
_COLLECTIONS_DDL = """
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS collection_documents (
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    doc_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    added_at REAL NOT NULL,
    PRIMARY KEY (collection_id, doc_id)
);
CREATE INDEX IF NOT EXISTS collection_documents_doc ON collection_documents (doc_id);
"""
