"""Tests of keyword search: hostile queries never break FTS5, and our BM25 matches rank_bm25."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from ragcore.catalog import Catalog, DocumentRecord, sanitize_fts_query
from ragcore.catalog.fts import MAX_TERMS
from ragcore.types import Chunk

HOSTILE = [
    "",
    "   \n\t",
    '"',
    '""',
    '"unbalanced quote',
    "it's O'Brien's",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "NEAR(lynx otter, 2)",
    "lynx AND",
    "OR otter",
    "NOT NOT NOT",
    "*",
    "lynx*",
    "^lynx",
    "text:lynx",
    "chunks_fts:lynx",
    "rank",
    "bm25(chunks_fts)",
    "(((",
    "))) lynx (((",
    "{lynx otter}",
    "-",
    "--lynx",
    "co-op lynx-otter",
    "+lynx -otter",
    "x'00'",
    "lynx; DROP TABLE chunks; --",
    "\\",
    "\x00lynx\x00",
    "%_%",
    "東京タワー",
    "Привет, мир",
    "مرحبا بالعالم",
    "🙂🔥",
    "🙂 lynx 🚀",
    "ñandú café İstanbul ǅemal",
    "lynx " * 500,
]


def make_doc(doc_id: str) -> DocumentRecord:
    return DocumentRecord(
        id=doc_id, name=f"{doc_id}.txt", mime="text/plain", size_bytes=1, path=f"/u/{doc_id}"
    )


def add_doc(catalog: Catalog, doc_id: str, texts: list[str]) -> None:
    catalog.upsert_document(make_doc(doc_id))
    chunks = [Chunk(doc_id, no, 1, 0, len(t), t) for no, t in enumerate(texts)]
    catalog.replace_chunks(doc_id, chunks, embed_model="m", stats={})


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    """Module-scoped so hypothesis can run many examples against one catalog."""
    catalog = Catalog(tmp_path_factory.mktemp("fts") / "catalog.sqlite3")
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
    yield catalog
    catalog.close()


def match_is_valid(catalog: Catalog, match: str) -> None:
    """Run the MATCH expression directly in FTS5 (raises sqlite3.OperationalError if malformed)."""
    conn = sqlite3.connect(catalog.path)
    try:
        conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (match,)).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_never_break_fts(small_catalog: Catalog, text: str) -> None:
    match = sanitize_fts_query(text)
    if match is not None:
        match_is_valid(small_catalog, match)
    hits = small_catalog.bm25_search(text, limit=5)
    assert isinstance(hits, list)
    if "lynx" in text.lower():
        assert hits and "lynx" in hits[0][0].text.lower()


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(st.sampled_from([*HOSTILE[:33], "lynx", "otter", "мир", "東京タワー"])).map(
            " ".join
        ),
    )
)
def test_any_text_is_a_safe_query(small_catalog: Catalog, text: str) -> None:
    match = sanitize_fts_query(text)
    assert match is None or match.startswith('"')
    if match is not None:
        match_is_valid(small_catalog, match)
    hits = small_catalog.bm25_search(text, limit=3)
    assert isinstance(hits, list) and len(hits) <= 3


def test_sanitize_quotes_terms_drops_stop_words_and_duplicates() -> None:
    assert sanitize_fts_query('NOT "quoted" (near) co-op*') == '"quoted" OR "near" OR "co" OR "op"'
    assert sanitize_fts_query("The cat, THE CAT and the hat?") == '"cat" OR "hat"'
    assert sanitize_fts_query("snake_case") == '"snake" OR "case"'
    assert sanitize_fts_query("Привет, МИР") == '"привет" OR "мир"'
    assert sanitize_fts_query("what is it?") is None
    assert sanitize_fts_query("🙂🔥 -- ** ()") is None
    many = " ".join(f"term{i}" for i in range(MAX_TERMS + 10))
    match = sanitize_fts_query(many)
    assert match is not None and match.count(" OR ") == MAX_TERMS - 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("мир", "Привет мир из Москвы"),
        ("москвы!!", "Привет мир из Москвы"),
        ("東京タワー", "東京タワー と 富士山"),
        ("مرحبا", "مرحبا بالعالم"),
        ("🙂 cafe 🚀", "O'Brien's café in İstanbul"),  # diacritics folded like unicode61
        ('"otter" OR', "The lynx and the otter share a river. NEAR the co-op, text: rank."),
    ],
)
def test_non_latin_and_decorated_queries_find_their_chunk(
    small_catalog: Catalog, query: str, expected: str
) -> None:
    hits = small_catalog.bm25_search(query, limit=5)
    assert [row.text for row, _ in hits][:1] == [expected]


# --- agreement with rank_bm25 -----------------------------------------------------------------

# Words shaped consonant-vowel-consonant-vowel-consonant from these letters end in none of the
# suffixes the Porter stemmer strips (s, ed, ing, y, e, al, er, ic, ful, ator, ...), so FTS5's
# 'porter unicode61' tokenizer indexes them unchanged and rank_bm25 can be given the very same
# tokens. (The test checks this against the index's own vocabulary.)
CONSONANTS = "bdkmptvz"
VOWELS = "aou"


def porter_stable_words(rng: random.Random, n: int) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(CONSONANTS if i % 2 == 0 else VOWELS) for i in range(5)))
    return sorted(words)


def test_bm25_ranking_agrees_with_rank_bm25(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    vocab = porter_stable_words(rng, 300)
    zipf = [1.0 / (rank + 1) for rank in range(len(vocab))]
    corpus: list[tuple[str, int, list[str]]] = []  # (doc_id, chunk_no, tokens), one per chunk
    with Catalog(tmp_path / "catalog.sqlite3") as catalog:
        for d in range(30):
            doc_id = f"doc-{d:02d}"
            texts = []
            for chunk_no in range(2):
                tokens = rng.choices(vocab, weights=zipf, k=rng.randint(15, 80))
                corpus.append((doc_id, chunk_no, tokens))
                texts.append(" ".join(tokens))
            add_doc(catalog, doc_id, texts)

        conn = sqlite3.connect(catalog.path)
        conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, chunks_fts, 'row')")
        indexed = {term for (term,) in conn.execute("SELECT term FROM temp.vocab")}
        conn.close()
        assert indexed == {t for _, _, tokens in corpus for t in tokens}, "stemming changed a word"

        reference = BM25Okapi([tokens for _, _, tokens in corpus], k1=1.2, b=0.75)
        position = {(doc_id, no): i for i, (doc_id, no, _) in enumerate(corpus)}
        # FTS5 and rank_bm25 share BM25's IDF, log((N - n + 0.5) / (n + 0.5)), only while a term
        # is in fewer than half of the N chunks: past that FTS5 clamps it to 1e-6 while rank_bm25
        # substitutes epsilon * the average IDF. So the query terms are drawn from rare ones.
        df = Counter(t for _, _, tokens in corpus for t in set(tokens))
        rare = sorted(t for t, n in df.items() if 2 <= n <= len(corpus) // 4)
        assert len(rare) >= 20

        for _ in range(15):
            terms = rng.sample(rare, rng.randint(1, 3))
            ours = catalog.bm25_search(" ".join(terms), limit=5)
            expected = reference.get_scores(terms)

            for row, score in ours:
                assert score == pytest.approx(expected[position[(row.doc_id, row.chunk_no)]])
            best = sorted((s for s in expected if s > 0), reverse=True)[:5]
            assert [score for _, score in ours] == pytest.approx(best)
            if len(best) > 3 and best[2] - best[3] > 1e-6:  # top 3 well separated from the rest
                top3_ref = {i for i, s in enumerate(expected) if s >= best[2]}
                top3_ours = {position[(r.doc_id, r.chunk_no)] for r, _ in ours[:3]}
                assert top3_ours == top3_ref
