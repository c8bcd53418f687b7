"""The keyword index's tokens are FTS5's: what the SQLite catalog's chunks_fts table indexes."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

from ragcore.catalog.keyword_tokens import FTS5_TOKENIZER, tokenize
from tests.ragcore.test_fts import HOSTILE

TEXTS = [
    "Running runners ran; the RUNS",
    "İstanbul café naïve École e\u0301cole Straße",
    "Привет мир из Москвы 東京タワー と 富士山 مرحبا بالعالم",
    "co-op snake_case O'Brien's 3.5 covid-19",
    "x" * 3000,
    "",
    *HOSTILE,
]


def fts5_instances(texts: list[str]) -> list[list[str]]:
    """Each text's tokens as the catalog's own FTS5 table stores them, read back in order."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5 (x, tokenize='{FTS5_TOKENIZER}')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab (t, 'instance')")
        conn.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", enumerate(texts, start=1))
        conn.commit()
        tokens: list[list[str]] = [[] for _ in texts]
        for doc, term in conn.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
            tokens[doc - 1].append(term)
        return tokens
    finally:
        conn.close()


def test_tokens_are_what_fts5_indexes_committed() -> None:
    assert tokenize(TEXTS) == fts5_instances(TEXTS)
    assert tokenize(["Running runners ran", "İstanbul café"]) == [
        ["run", "runner", "ran"],
        ["istanbul", "cafe"],
    ]


def test_the_scratch_table_is_empty_between_calls_and_threads_do_not_share_it() -> None:
    assert tokenize([]) == []
    assert tokenize(["lynx otter"]) == [["lynx", "otter"]]
    assert tokenize(["otter"]) == [["otter"]]  # nothing left from the call before
    expected = fts5_instances(TEXTS)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: tokenize(TEXTS), range(40)))
    assert all(result == expected for result in results)
