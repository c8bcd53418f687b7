"""BM25 in PostgreSQL: it ranks as rank_bm25 and as the SQLite catalog's FTS5 do, and its
corpus statistics stay exact through removals and concurrent writers."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from ragcore.catalog import Catalog
from ragcore.catalog.keyword_tokens import tokenize
from ragcore.catalog.pg_keyword import DDL, KeywordChunk, add_chunks, remove_chunks, search
from tests.postgres_server import PostgresServer
from tests.ragcore.test_fts import HOSTILE, add_doc, porter_stable_words

pytestmark = pytest.mark.postgres


@pytest.fixture()
def conn(postgres_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(DDL)
        yield connection


def add(conn: psycopg.Connection[tuple[object, ...]], chunks: list[KeywordChunk]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        add_chunks(cur, chunks)


def remove(conn: psycopg.Connection[tuple[object, ...]], ids: list[int]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        remove_chunks(cur, ids)


def stored_stats(
    conn: psycopg.Connection[tuple[object, ...]],
) -> tuple[dict[str, int], tuple[object, ...] | None]:
    df = {str(term): int(str(n)) for term, n in conn.execute("SELECT term, df FROM keyword_terms")}
    corpus = conn.execute("SELECT chunks, tokens FROM keyword_corpus").fetchone()
    return df, corpus


def expected_stats(texts: list[str]) -> tuple[dict[str, int], tuple[int, int]]:
    """The statistics recomputed from scratch from the texts of the chunks that remain."""
    tokens = tokenize(texts)
    df = Counter(t for chunk in tokens for t in set(chunk))
    return dict(df), (len(texts), sum(len(chunk) for chunk in tokens))


# --- (a) agreement with rank_bm25 ---------------------------------------------------------------


def test_bm25_ranking_agrees_with_rank_bm25(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """As tests/ragcore/test_fts.py's test of FTS5: the same corpus, queries and reference."""
    rng = random.Random(20240611)
    vocab = porter_stable_words(rng, 300)
    zipf = [1.0 / (rank + 1) for rank in range(len(vocab))]
    corpus: list[list[str]] = []
    chunks: list[KeywordChunk] = []
    for d in range(30):
        for _chunk_no in range(2):
            tokens = rng.choices(vocab, weights=zipf, k=rng.randint(15, 80))
            chunks.append(KeywordChunk(len(corpus), f"doc-{d:02d}", " ".join(tokens)))
            corpus.append(tokens)
    add(conn, chunks)
    indexed = {str(t) for (t,) in conn.execute("SELECT term FROM keyword_terms")}
    assert indexed == {t for tokens in corpus for t in tokens}, "stemming changed a word"

    reference = BM25Okapi(corpus, k1=1.2, b=0.75)
    # Equal IDFs only while a term is in fewer than half the chunks (see test_fts.py).
    df = Counter(t for tokens in corpus for t in set(tokens))
    rare = sorted(t for t, n in df.items() if 2 <= n <= len(corpus) // 4)
    assert len(rare) >= 20
    for _ in range(15):
        terms = rng.sample(rare, rng.randint(1, 3))
        with conn.cursor() as cur:
            ours = search(cur, " ".join(terms), limit=5)
        expected = reference.get_scores(terms)
        for chunk_id, score in ours:
            assert score == pytest.approx(expected[chunk_id], abs=1e-6)
        best = sorted(((-s, i) for i, s in enumerate(expected) if s > 0))[:5]
        # Ties in the reference are broken by chunk id, as ours are.
        assert [chunk_id for chunk_id, _ in ours] == [i for _, i in best]
        assert [score for _, score in ours] == pytest.approx([-s for s, _ in best], abs=1e-6)


# --- (b) the same results as the SQLite catalog ---------------------------------------------------

_WORDS_TEXT = (
    "run runs running runner ran trust trusted trusting zero tenet tenets network networks "
    "identity policy policies data data data data access accessed control controls device "
    "café naïve École Straße İstanbul Привет мир москвы 東京タワー 3.5 covid-19 e\u0301cole "
    "O'Brien's co-op snake_case lynx otter river the of and is"
)
WORDS = _WORDS_TEXT.split()


def shared_corpus(rng: random.Random) -> list[tuple[str, list[str]]]:
    """Documents of inflected, accented, non-Latin and very common words, of varied lengths."""
    docs = []
    for d in range(40):
        texts = []
        for _ in range(rng.randint(1, 4)):
            words = rng.choices(WORDS, k=rng.randint(3, 120))
            if rng.random() < 0.1:
                words += ["lynx"] * rng.randint(20, 300)  # a term frequency past 256
            texts.append(" ".join(words))
        docs.append((f"doc-{d:02d}", texts))
    docs.append(("doc-long", ["x" * 3000 + " lynx " + "y" * 600]))  # tokens past a lexeme's size
    return docs


QUERIES = [
    "zero trust tenets",
    "runs running runner",  # three query terms, one stem: FTS5 counts "run" thrice
    "data",  # in most chunks: IDF clamped to 1e-6
    "data access control policies",
    "café cafe CAFE",
    "ecole école",
    "мир Москвы",
    "東京タワー",
    "covid 19",
    "lynx",
    "x" * 3000,
    "straße strasse",
    *HOSTILE,
]


@pytest.fixture(scope="module")
def both_backends(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Catalog, psycopg.Connection[tuple[object, ...]]]]:
    """The shared corpus in a SQLite catalog and in PostgreSQL, under the same chunk ids.

    Module-scoped, so tests using it only read.
    """
    path = tmp_path_factory.mktemp("shared") / "catalog.sqlite3"
    with (
        postgres_server.fresh_database() as url,
        psycopg.connect(url, autocommit=True) as conn,
        Catalog(path) as catalog,
    ):
        conn.execute(DDL)
        for doc_id, texts in shared_corpus(random.Random(17)):
            add_doc(catalog, doc_id, texts)
        rows = catalog.chunks()
        add(conn, [KeywordChunk(r.rowid, r.doc_id, r.text) for r in rows])
        yield catalog, conn


def assert_same_results(
    catalog: Catalog,
    conn: psycopg.Connection[tuple[object, ...]],
    query: str,
    *,
    limit: int = 50,
    doc_ids: list[str] | None = None,
) -> None:
    expected = catalog.bm25_search(query, limit=limit, doc_ids=doc_ids)
    with conn.cursor() as cur:
        ours = search(cur, query, limit=limit, doc_ids=doc_ids)
    assert [chunk_id for chunk_id, _ in ours] == [row.rowid for row, _ in expected], query
    # Equal to the last bit, not only close: the same operations in the same order, so chunks
    # that tie in FTS5 tie here too (and are ordered by id in both).
    assert [score for _, score in ours] == [score for _, score in expected], query


@pytest.mark.parametrize("query", QUERIES)
def test_same_results_as_the_sqlite_catalog(
    both_backends: tuple[Catalog, psycopg.Connection[tuple[object, ...]]], query: str
) -> None:
    catalog, conn = both_backends
    assert_same_results(catalog, conn, query)
    assert_same_results(catalog, conn, query, limit=3)


def test_the_shared_corpus_exercises_what_it_claims(
    both_backends: tuple[Catalog, psycopg.Connection[tuple[object, ...]]],
) -> None:
    _catalog, conn = both_backends
    n, lynx_max = conn.execute(
        "SELECT (SELECT chunks FROM keyword_corpus), max((SELECT positions[1] FROM unnest(terms) "
        "WHERE lexeme = 'lynx')) FROM keyword_chunks"
    ).fetchone() or (0, 0)
    data_df = conn.execute("SELECT df FROM keyword_terms WHERE term = 'data'").fetchone()
    assert data_df is not None and 2 * int(str(data_df[0])) > int(str(n)), "data: IDF clamped"
    assert int(str(lynx_max)) > 256
    digests = conn.execute("SELECT count(*) FROM keyword_terms WHERE term LIKE '#%%'").fetchone()
    assert digests == (2,)
    with conn.cursor() as cur:
        assert search(cur, "x" * 3000, limit=5)


# --- (c) statistics stay exact ------------------------------------------------------------------


def test_statistics_stay_exact_through_adds_and_removes(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    rng = random.Random(5)
    texts = {
        i: " ".join(rng.choices(WORDS, k=rng.randint(0, 60)))
        for i in range(200)  # some empty: a chunk of no tokens still counts in N
    }
    ids = list(texts)
    rng.shuffle(ids)
    live: set[int] = set()
    for start in range(0, len(ids), 40):
        batch = ids[start : start + 40]
        add(conn, [KeywordChunk(i, f"doc-{i % 7}", texts[i]) for i in batch])
        live |= set(batch)
        gone = [*rng.sample(sorted(live), 15), 10_000]  # and an id never added
        remove(conn, gone)
        live -= set(gone)
        df, corpus = expected_stats([texts[i] for i in sorted(live)])
        assert stored_stats(conn) == (df, corpus)
    remove(conn, sorted(live))
    assert stored_stats(conn) == ({}, (0, 0))
    with conn.cursor() as cur:
        assert search(cur, "trust", limit=5) == []


def test_a_rolled_back_add_leaves_nothing(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    add(conn, [KeywordChunk(1, "a", "zero trust")])
    before = stored_stats(conn)
    with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction(), conn.cursor() as cur:
        add_chunks(cur, [KeywordChunk(2, "b", "trust me"), KeywordChunk(1, "a", "again")])
    assert stored_stats(conn) == before


def test_removing_and_rebuilding_ranks_as_a_fresh_index(
    conn: psycopg.Connection[tuple[object, ...]], postgres_url: str
) -> None:
    rng = random.Random(9)
    chunks = [
        KeywordChunk(i, f"doc-{i % 5}", " ".join(rng.choices(WORDS, k=30))) for i in range(60)
    ]
    add(conn, chunks)
    remove(conn, list(range(0, 60, 3)))
    kept = [c for c in chunks if c.chunk_id % 3]
    with psycopg.connect(postgres_url, autocommit=True) as fresh:
        fresh.execute("CREATE SCHEMA fresh")
        fresh.execute("SET search_path TO fresh")
        fresh.execute(DDL)
        add(fresh, kept)
        for query in ("zero trust", "data access", "run runs"):
            with conn.cursor() as a, fresh.cursor() as b:
                assert search(a, query, limit=20) == search(b, query, limit=20)


# --- (d) hostile queries --------------------------------------------------------------------------


@pytest.fixture()
def small_index(
    conn: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> Iterator[tuple[Catalog, psycopg.Connection[tuple[object, ...]]]]:
    """test_fts.py's small multilingual catalog, in both backends."""
    with Catalog(tmp_path / "catalog.sqlite3") as catalog:
        add_doc(
            catalog,
            "doc-a",
            [
                "The lynx and the otter share a river. NEAR the co-op, text: rank.",
                "Привет мир из Москвы",
                "東京タワー と 富士山",
                "مرحبا بالعالم",
                "O'Brien's café in İstanbul",
            ],
        )
        add_doc(catalog, "doc-b", ["The otter again", "nothing to see"])
        rows = catalog.chunks()
        add(conn, [KeywordChunk(r.rowid, r.doc_id, r.text) for r in rows])
        yield catalog, conn


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_never_break_search(
    small_index: tuple[Catalog, psycopg.Connection[tuple[object, ...]]], text: str
) -> None:
    catalog, conn = small_index
    assert_same_results(catalog, conn, text, limit=5)
    if "lynx" in text.lower():
        with conn.cursor() as cur:
            hits = search(cur, text, limit=5)
        rows = {row.rowid: row for row in catalog.chunks("doc-a")}
        assert hits and "lynx" in rows[hits[0][0]].text.lower()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.text(),
        st.lists(st.sampled_from([*HOSTILE[:33], "lynx", "otter", "мир", "東京タワー"])).map(
            " ".join
        ),
    )
)
def test_any_text_is_a_safe_query(
    small_index: tuple[Catalog, psycopg.Connection[tuple[object, ...]]], text: str
) -> None:
    catalog, conn = small_index
    assert_same_results(catalog, conn, text, limit=3)


# --- (e) restricting to documents -----------------------------------------------------------------


def test_doc_ids_restrict_inside_sql_with_corpus_wide_statistics(
    both_backends: tuple[Catalog, psycopg.Connection[tuple[object, ...]]],
) -> None:
    catalog, conn = both_backends
    with conn.cursor() as cur:
        everything = dict(search(cur, "zero trust data", limit=1000))
        only = search(cur, "zero trust data", limit=1000, doc_ids=["doc-03", "doc-07"])
        assert search(cur, "zero trust data", limit=5, doc_ids=[]) == []
        assert search(cur, "zero trust data", limit=5, doc_ids=["no-such-doc"]) == []
        top2 = search(cur, "zero trust data", limit=2, doc_ids=["doc-03", "doc-07"])
    allowed = {r.rowid for d in ("doc-03", "doc-07") for r in catalog.chunks(d)}
    assert only and {chunk_id for chunk_id, _ in only} <= allowed
    assert {chunk_id for chunk_id, _ in only} == allowed & set(everything)
    for chunk_id, score in only:
        assert score == everything[chunk_id]  # IDF and avgdl are the whole corpus's
    assert top2 == only[:2]  # the limit counts only the allowed documents' chunks
    assert_same_results(catalog, conn, "zero trust data", doc_ids=["doc-03", "doc-07"])


def test_limit_must_be_positive(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with conn.cursor() as cur, pytest.raises(ValueError, match="limit must be > 0, got 0"):
        search(cur, "trust", limit=0)


# --- (f) concurrent writers -----------------------------------------------------------------------


def test_concurrent_writers_keep_statistics_exact(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as setup:
        setup.execute(DDL)
    rng = random.Random(3)
    texts = {i: " ".join(rng.choices(WORDS, k=rng.randint(1, 40))) for i in range(240)}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(worker: int) -> None:
        try:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                start.wait(timeout=30)
                mine = [i for i in texts if i % 4 == worker]
                for first in range(0, len(mine), 6):
                    batch = mine[first : first + 6]
                    add(conn, [KeywordChunk(i, f"doc-{worker}", texts[i]) for i in batch])
                    if first % 12 == 0:
                        remove(conn, batch[:2])  # and removes, interleaved with the others
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    removed = {
        i
        for w in range(4)
        for first, batch in _batches([i for i in texts if i % 4 == w], 6)
        if first % 12 == 0
        for i in batch[:2]
    }
    with psycopg.connect(postgres_url) as conn:
        assert stored_stats(conn) == expected_stats(
            [texts[i] for i in sorted(texts) if i not in removed]
        )


def test_a_second_writer_waits_for_the_first_to_commit(postgres_url: str) -> None:
    """Two open transactions adding chunks with shared terms: neither update is lost."""
    with psycopg.connect(postgres_url, autocommit=True) as setup:
        setup.execute(DDL)
    with psycopg.connect(postgres_url) as first, psycopg.connect(postgres_url) as second:
        with first.cursor() as cur:
            add_chunks(cur, [KeywordChunk(1, "a", "zero trust network")])
        done = threading.Event()

        def second_writer() -> None:
            with second.cursor() as cur:
                add_chunks(cur, [KeywordChunk(2, "b", "trust the network of trust")])
            second.commit()
            done.set()

        thread = threading.Thread(target=second_writer)
        thread.start()
        assert not done.wait(1.0), "the second writer must wait for the first one's lock"
        first.commit()
        thread.join(30)
        assert done.is_set()
    with psycopg.connect(postgres_url) as conn:
        assert stored_stats(conn) == expected_stats(
            ["zero trust network", "trust the network of trust"]
        )


def _batches(items: list[int], size: int) -> list[tuple[int, list[int]]]:
    return [(first, items[first : first + size]) for first in range(0, len(items), size)]
