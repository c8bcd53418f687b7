"""Keyword (BM25) search in PostgreSQL, ranked exactly as the SQLite catalog's FTS5 ranks.

PostgreSQL's ``ts_rank`` is not BM25, so BM25 is computed in SQL from:

- ``keyword_chunks``: one row per chunk, its tokens as a GIN-indexed ``tsvector`` that selects
  the candidates and holds each token's term frequency, and its length in tokens;
- ``keyword_terms``: each token's document frequency (how many chunks hold it);
- ``keyword_corpus``: one row, the number of chunks and their total length.

The statistics change in the caller's transaction, with the chunks, so they are exact at every
commit. Writers lock the ``keyword_corpus`` row first, which orders them: concurrent writers
cannot lose an update or deadlock on term rows (the cost: one writer at a time updates the
keyword index, for the rest of its transaction).

Tokens are FTS5's own (``keyword_tokens``) stored with the 'simple' configuration's literal
syntax, never parsed or stemmed by PostgreSQL, so both backends score the same tokens. The
score is FTS5's ``bm25()`` negated: k1 = 1.2, b = 0.75, IDF ``ln((N - n + 0.5) / (n + 0.5))``
floored at 1e-6 (FTS5's clamp for a token in more than half the chunks), and a query token that
appears twice in the query counts twice, as FTS5's phrases do.

>>> conn.execute(DDL)  # once, in a migration
>>> with conn.transaction(), conn.cursor() as cur:
...     add_chunks(cur, [KeywordChunk(1, "doc-a", "Zero trust tenets"),
...                      KeywordChunk(2, "doc-b", "Network trust"),
...                      KeywordChunk(3, "doc-b", "Perimeter security")])
>>> search(conn.cursor(), "what are the tenets of zero trust?", limit=5)
[(1, 0.91473515186003), (2, 1.0620689655172414e-06)]
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from ragcore.catalog.fts import query_terms
from ragcore.catalog.keyword_tokens import tokenize

# FTS5's bm25() constants (fts5_aux.c): not tunable there, so not here.
K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6

# A tsvector lexeme holds at most 2047 bytes and a btree key (keyword_terms) about 2700: longer
# tokens (a base64 blob with no separator) are stored as a digest, the same one a query gets.
_MAX_LEXEME_BYTES = 512
# A token's term frequency is stored as its one tsvector position, and positions stop at 16383.
_MAX_TF = 16383

DDL = """
CREATE TABLE keyword_chunks (
    chunk_id bigint PRIMARY KEY,
    doc_id text NOT NULL,
    terms tsvector NOT NULL,
    length integer NOT NULL CHECK (length >= 0)
);
CREATE INDEX keyword_chunks_terms ON keyword_chunks USING gin (terms);
CREATE INDEX keyword_chunks_doc ON keyword_chunks (doc_id);

CREATE TABLE keyword_terms (
    term text PRIMARY KEY,
    df bigint NOT NULL CHECK (df >= 0)
);

CREATE TABLE keyword_corpus (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chunks bigint NOT NULL CHECK (chunks >= 0),
    tokens bigint NOT NULL CHECK (tokens >= 0)
);
INSERT INTO keyword_corpus (singleton, chunks, tokens) VALUES (true, 0, 0);
"""


@dataclass(frozen=True)
class KeywordChunk:
    """A chunk as the keyword index sees it: an id of the caller's, its document and its text."""

    chunk_id: int
    doc_id: str
    text: str


def lexeme(token: str) -> str:
    """The tsvector lexeme of an FTS5 token: itself, or a digest when too long for an index."""
    if len(token.encode()) <= _MAX_LEXEME_BYTES:
        return token
    # "#" never occurs in an FTS5 token (unicode61 treats it as a separator), so no collision.
    return "#" + hashlib.sha256(token.encode()).hexdigest()


def _quoted(lex: str) -> str:
    """A lexeme as a quoted tsvector/tsquery literal (taken as is: not parsed, not stemmed)."""
    return "'" + lex.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(counts: Counter[str]) -> str:
    """The ``terms`` of a ``keyword_chunks`` row, as a literal for ``%s::tsvector``."""
    # One position per lexeme, holding its term frequency: exact past the 256 positions a
    # lexeme may hold, and read back as ``positions[1]``.
    return " ".join(f"{_quoted(lex)}:{min(tf, _MAX_TF)}" for lex, tf in sorted(counts.items()))


def _lock_corpus(cur: psycopg.Cursor[Any]) -> None:
    """Take the corpus row's lock first, so that keyword writers follow each other in order."""
    cur.execute("SELECT 1 FROM keyword_corpus WHERE singleton FOR UPDATE")


def index_terms(texts: Sequence[str]) -> list[tuple[Counter[str], int]]:
    """Each text's lexemes with their term frequencies, and its length in tokens: what its
    ``keyword_chunks`` row holds."""
    out: list[tuple[Counter[str], int]] = []
    for tokens in tokenize(list(texts)):
        out.append((Counter(lexeme(t) for t in tokens), len(tokens)))
    return out


def add_chunks(cur: psycopg.Cursor[Any], chunks: Sequence[KeywordChunk]) -> None:
    """Index ``chunks`` (new ids) and update the corpus statistics, in the caller's transaction."""
    if not chunks:
        return
    rows: list[tuple[int, str, str, int]] = []
    df: Counter[str] = Counter()
    total = 0
    for chunk, (counts, length) in zip(chunks, index_terms([c.text for c in chunks]), strict=True):
        rows.append((chunk.chunk_id, chunk.doc_id, tsvector_literal(counts), length))
        df.update(counts.keys())
        total += length
    _lock_corpus(cur)
    cur.execute(
        "INSERT INTO keyword_chunks (chunk_id, doc_id, terms, length) "
        "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::tsvector[], %s::integer[])",
        [list(column) for column in zip(*rows, strict=True)],
    )
    terms = sorted(df)
    cur.execute(
        "INSERT INTO keyword_terms (term, df) "
        "SELECT * FROM unnest(%s::text[], %s::bigint[]) ORDER BY 1 "
        "ON CONFLICT (term) DO UPDATE SET df = keyword_terms.df + EXCLUDED.df",
        (terms, [df[t] for t in terms]),
    )
    cur.execute(
        "UPDATE keyword_corpus SET chunks = chunks + %s, tokens = tokens + %s WHERE singleton",
        (len(rows), total),
    )


def remove_chunks(cur: psycopg.Cursor[Any], chunk_ids: Sequence[int]) -> None:
    """Drop these chunks (unknown ids are ignored) and their statistics, in the caller's transaction."""
    if not chunk_ids:
        return
    _lock_corpus(cur)
    cur.execute(
        "DELETE FROM keyword_chunks WHERE chunk_id = ANY(%s) "
        "RETURNING tsvector_to_array(terms), length",
        (list(chunk_ids),),
    )
    gone = cur.fetchall()
    if not gone:
        return
    df: Counter[str] = Counter()
    for terms, _length in gone:
        df.update(terms)
    terms = sorted(df)
    cur.execute(
        "UPDATE keyword_terms AS t SET df = t.df - g.n "
        "FROM unnest(%s::text[], %s::bigint[]) AS g (term, n) WHERE t.term = g.term",
        (terms, [df[t] for t in terms]),
    )
    # Only the touched terms can have reached zero, so only they are looked at.
    cur.execute("DELETE FROM keyword_terms WHERE term = ANY(%s) AND df <= 0", (terms,))
    cur.execute(
        "UPDATE keyword_corpus SET chunks = chunks - %s, tokens = tokens - %s WHERE singleton",
        (len(gone), sum(length for _terms, length in gone)),
    )


def clear(cur: psycopg.Cursor[Any]) -> None:
    """Empty the index and zero its statistics, in the caller's transaction (which then adds
    every chunk again: a rebuild). Later keyword writers wait for the transaction's end."""
    _lock_corpus(cur)
    cur.execute("DELETE FROM keyword_chunks")
    cur.execute("DELETE FROM keyword_terms")
    cur.execute("UPDATE keyword_corpus SET chunks = 0, tokens = 0 WHERE singleton")


# The statistics recounted from the per-chunk rows, beside the stored ones. A term row whose
# count is 0 is a difference too (remove_chunks deletes those), though BM25 never reads it.
_STATISTICS = """
SELECT (SELECT chunks FROM keyword_corpus WHERE singleton) AS chunks,
       (SELECT tokens FROM keyword_corpus WHERE singleton) AS tokens,
       (SELECT count(*) FROM keyword_chunks) AS counted_chunks,
       (SELECT coalesce(sum(length), 0) FROM keyword_chunks) AS counted_tokens
"""
_DF_DRIFT = """
WITH counted AS (
    SELECT term, count(*) AS df
    FROM keyword_chunks CROSS JOIN LATERAL unnest(tsvector_to_array(terms)) AS term
    GROUP BY term
), drift AS (
    SELECT coalesce(t.term, c.term) AS term, coalesce(t.df, 0) AS stored, coalesce(c.df, 0) AS counted
    FROM keyword_terms AS t FULL JOIN counted AS c ON c.term = t.term
    WHERE t.term IS NULL OR c.term IS NULL OR t.df <> c.df
)
SELECT term, stored, counted, count(*) OVER () AS total FROM drift ORDER BY term LIMIT %s
"""


def statistics_drift(cur: psycopg.Cursor[Any], *, sample: int = 5) -> list[str]:
    """Where the corpus statistics BM25 reads differ from a recount of the per-chunk rows, one
    phrase each (empty: they agree). A drift there changes every score without a visible error.

    Run it in a snapshot (REPEATABLE READ) or with the corpus row locked: a writer may be
    changing both meanwhile.
    """
    out: list[str] = []
    row = cur.execute(_STATISTICS).fetchone()
    assert row is not None
    chunks, tokens, counted_chunks, counted_tokens = (int(v) for v in row)
    if chunks != counted_chunks:
        out.append(f"the chunk count N is {chunks}, the rows give {counted_chunks}")
    if tokens != counted_tokens:
        out.append(f"the total length is {tokens} tokens, the rows give {counted_tokens}")
    drift = cur.execute(_DF_DRIFT, (sample,)).fetchall()
    if drift:
        shown = ", ".join(f"{term!r} {stored} not {counted}" for term, stored, counted, _ in drift)
        total = int(drift[0][3])
        out.append(
            f"the document frequency of {total} term{'' if total == 1 else 's'} differs "
            f"from the rows ({shown}{', ...' if total > len(drift) else ''})"
        )
    return out


def query_lexemes(query: str) -> list[str]:
    """The lexemes of a question, one per query term FTS5 would search for (repeats kept).

    The terms are ``sanitize_fts_query``'s (stop words and duplicates dropped), each tokenized
    as FTS5 tokenizes a quoted phrase: "runs" and "running" are two terms, both "run".
    """
    terms = query_terms(query)
    return [lexeme(token) for tokens in tokenize(terms) for token in tokens]


# Candidates come from the GIN index (terms @@ query); for each, only the query's lexemes are
# unpacked (setweight marks them, ts_filter keeps them), so the work is per query term, not per
# token of the chunk. The arithmetic is fts5_aux.c's, operation for operation, in float8 (FTS5
# computes in doubles), summed phrase by phrase in query order: the scores are FTS5's to the
# last bit, so ties stay ties and both backends order them the same way.
_SEARCH = """
WITH phrases AS (
    SELECT phrase, lexeme FROM unnest(%(lexemes)s::text[]) WITH ORDINALITY AS p (lexeme, phrase)
), corpus AS (
    SELECT chunks::float8 AS n, tokens::float8 / greatest(chunks, 1)::float8 AS avgdl
    FROM keyword_corpus WHERE singleton
), weights AS (
    SELECT p.phrase, p.lexeme,
           CASE WHEN raw.idf > 0 THEN raw.idf ELSE %(floor)s END AS idf
    FROM phrases AS p
    JOIN keyword_terms AS t ON t.term = p.lexeme
    CROSS JOIN corpus
    CROSS JOIN LATERAL (
        SELECT ln((corpus.n - t.df::float8 + 0.5) / (t.df::float8 + 0.5)) AS idf
    ) AS raw
), candidates AS (
    SELECT chunk_id, length, terms FROM keyword_chunks
    WHERE terms @@ %(tsquery)s::tsquery {doc_filter}
)
SELECT c.chunk_id,
       sum(w.idf * (
               (e.positions[1] * (%(k1)s + 1.0::float8))
               / (e.positions[1] + %(k1)s * (1.0::float8 - %(b)s + %(b)s * c.length / corpus.avgdl))
           ) ORDER BY w.phrase
       ) AS score
FROM candidates AS c
CROSS JOIN LATERAL unnest(ts_filter(setweight(c.terms, 'A', %(lexemes)s::text[]), '{{a}}')) AS e
JOIN weights AS w ON w.lexeme = e.lexeme
CROSS JOIN corpus
GROUP BY c.chunk_id
ORDER BY score DESC, c.chunk_id
LIMIT %(limit)s
"""


def search(
    cur: psycopg.Cursor[Any], query: str, *, limit: int, doc_ids: Sequence[str] | None = None
) -> list[tuple[int, float]]:
    """``(chunk_id, score)`` of chunks holding any term of ``query``, best first (ties by id).

    ``doc_ids`` restricts the search to those documents (inside SQL, so ``limit`` counts only
    their chunks); an empty sequence matches nothing. The corpus statistics stay those of every
    chunk, as FTS5's do.
    """
    if limit <= 0:
        raise ValueError(f"limit must be > 0, got {limit}")
    lexemes = query_lexemes(query)
    if not lexemes or (doc_ids is not None and not doc_ids):
        return []
    params: dict[str, object] = {
        "lexemes": lexemes,
        "tsquery": " | ".join(_quoted(lex) for lex in sorted(set(lexemes))),
        "floor": IDF_FLOOR,
        "k1": K1,
        "b": B,
        "limit": limit,
    }
    doc_filter = ""
    if doc_ids is not None:
        doc_filter = "AND doc_id = ANY(%(doc_ids)s::text[])"
        params["doc_ids"] = list(doc_ids)
    # JIT compiling this query takes 0.3-1 s, to save microseconds: the planner's estimates for
    # the unnested lexemes are large, and past jit_above_cost it would compile every search.
    # SET LOCAL lasts to the end of the transaction (a savepoint's, if the caller is in one).
    with cur.connection.transaction():
        cur.execute("SET LOCAL jit = off")
        cur.execute(_SEARCH.format(doc_filter=doc_filter), params)
        return [(int(chunk_id), float(score)) for chunk_id, score in cur.fetchall()]
