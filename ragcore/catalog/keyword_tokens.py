"""The tokens of the keyword index: what SQLite FTS5's ``porter unicode61`` tokenizer makes of text.

Both keyword backends rank on these tokens, so a chunk scores the same in SQLite and in
PostgreSQL. Rather than re-implement unicode61 (its token characters, case folding and
diacritic removal: "École" is "ecol", "e" + U+0301 one token) and FTS5's Porter stemmer (which
leaves tokens under 3 or over 64 bytes alone), the tokens are asked of FTS5 itself, through an
in-memory table per thread: exact by construction, and about 70 µs for a question.

>>> tokenize(["Running runners ran", "İstanbul café"])
[['run', 'runner', 'ran'], ['istanbul', 'cafe']]
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

# The tokenizer of the SQLite catalog's chunks_fts table (ragcore/catalog/schema.py).
FTS5_TOKENIZER = "porter unicode61"

_local = threading.local()


def _connection() -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5 (x, tokenize='{FTS5_TOKENIZER}')")
        # 'instance' lists every token of every row with its offset: the row as FTS5 indexes it.
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab (t, 'instance')")
        _local.conn = conn
    return conn


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Each text's tokens in order (repeats kept: their count is the term frequency)."""
    if not texts:
        return []
    conn = _connection()
    tokens: list[list[str]] = [[] for _ in texts]
    # Written and read inside one transaction that is rolled back: the table is always empty
    # between calls, and FTS5 never writes its index segments for these rows.
    conn.execute("BEGIN")
    try:
        conn.executemany(
            "INSERT INTO t (rowid, x) VALUES (?, ?)", ((i + 1, t) for i, t in enumerate(texts))
        )
        for doc, term in conn.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
            tokens[doc - 1].append(term)
    finally:
        conn.execute("ROLLBACK")
    return tokens
