"""Split pages into chunks (fixed, sentence, recursive) measured in the embedding model's tokens."""

from __future__ import annotations

import operator
import re
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from itertools import accumulate, islice

from ragcore.models.base import Tokenizer
from ragcore.text_rules import document_sentence_cuts
from ragcore.types import Chunk, ChunkingParams, ChunkKind, Page, Strategy, TableSpan

Range = tuple[int, int]  # [start, end) character offsets into one page's text

_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
_LINE = re.compile(r"\n\s*")
_WORD = re.compile(r"\s+")


def _pattern_cuts(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[int]:
    """Offsets inside (start, end) just after each match: separators stay with the piece before."""
    return [m.end() for m in pattern.finditer(text, start, end) if start < m.end() < end]


def _pieces(start: int, end: int, cuts: Sequence[int]) -> list[Range]:
    """Contiguous ranges covering [start, end), cut at the given offsets."""
    bounds = [start, *cuts, end]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def _strip(text: str, start: int, end: int) -> Range:
    """The range without leading and trailing whitespace (empty when it holds only whitespace)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str) -> list[Range]:
    """Character ranges of the sentences of ``text``, whitespace trimmed, in order.

    >>> split_sentences("One. Two!  Three")
    [(0, 4), (5, 9), (11, 16)]
    """
    ranges = (
        _strip(text, a, b)
        for a, b in _pieces(0, len(text), document_sentence_cuts(text, 0, len(text)))
    )
    return [(a, b) for a, b in ranges if a < b]


class _Tokens:
    """A text's token offsets, tokenized once, so any range can be counted by bisection."""

    def __init__(self, text: str, spans: Sequence[tuple[int, int]]) -> None:
        self.text = text
        starts, ends = (list(column) for column in zip(*spans, strict=True)) if spans else ([], [])
        # Offsets come in order from every tokenizer we know; should one report overlapping
        # pieces (several byte tokens for one character), forcing them monotonic keeps
        # bisection sound. Checked with map() so the usual case costs no Python loop.
        if not all(map(operator.le, starts, islice(starts, 1, None))):
            starts = list(accumulate(starts, max))
        if not all(map(operator.le, ends, islice(ends, 1, None))):
            ends = list(accumulate(ends, max))
        self.starts = starts
        self.ends = ends

    def count(self, start: int, end: int) -> int:
        """How many tokens overlap [start, end)."""
        return max(0, bisect_left(self.starts, end) - bisect_right(self.ends, start))

    def _is_word_start(self, k: int) -> bool:
        # Cutting before such a token keeps words whole, so a chunk re-tokenized on its own
        # gets the same sub-word pieces it was counted with.
        s = self.starts[k]
        return s == 0 or self.text[s - 1].isspace()

    def _word_start_at_or_before(self, k: int, above: int) -> int | None:
        for i in range(k, above, -1):
            if self._is_word_start(i):
                return i
        return None

    def _word_start_at_or_after(self, k: int, below: int) -> int | None:
        for i in range(k, below):
            if self._is_word_start(i):
                return i
        return None

    def windows(self, start: int, end: int, size: int, overlap: int) -> list[Range]:
        """[start, end) in windows of at most ``size`` tokens, ``overlap`` shared, cut between words.

        Without overlap the windows cover [start, end) exactly, end to end.
        """
        first = bisect_right(self.ends, start)  # first token overlapping the range
        stop = bisect_left(self.starts, end)  # one past the last one
        if stop - first <= size:
            return [(start, end)]

        def cut(k: int) -> int:
            # The boundary before token k; gaps between tokens go with the token after them.
            if k <= first:
                return start
            return min(max(self.starts[k], start), end)

        out: list[Range] = []
        s = first
        while True:
            e = s + size
            if e >= stop:
                out.append((cut(s), end))
                return out
            # Snap back to a word boundary when one exists; a word longer than the window
            # has none and is cut between its sub-word tokens.
            snapped = self._word_start_at_or_before(e, above=s)
            if snapped is not None:
                e = snapped
            out.append((cut(s), cut(e)))
            target = e - overlap
            if overlap == 0 or target <= s:
                # No room for overlap without stalling: move on from the end of this window.
                s = e
                continue
            back = self._word_start_at_or_before(target, above=s)
            ahead = self._word_start_at_or_after(target, below=e)
            # The word boundary nearest to the asked overlap (ties keep more overlap).
            if back is not None and (ahead is None or target - back <= ahead - target):
                s = back
            elif ahead is not None:
                s = ahead
            else:
                s = target


def _check(params: ChunkingParams, tokenizer: Tokenizer) -> None:
    if params.chunk_size > tokenizer.max_tokens:
        raise ValueError(
            f"chunk_size {params.chunk_size} is more than the embedding model takes at once "
            f"({tokenizer.max_tokens} tokens); choose a chunk_size of at most {tokenizer.max_tokens}"
        )


def _fixed(tokens: _Tokens, params: ChunkingParams) -> list[Range]:
    return tokens.windows(0, len(tokens.text), params.chunk_size, params.overlap)


def _sentence(tokens: _Tokens, params: ChunkingParams) -> list[Range]:
    size = params.chunk_size
    units: list[Range] = []
    for a, b in split_sentences(tokens.text):
        if tokens.count(a, b) <= size:
            units.append((a, b))
        else:
            units.extend(tokens.windows(a, b, size, 0))
    out: list[Range] = []
    i = 0
    while i < len(units):
        j = i
        while j + 1 < len(units) and tokens.count(units[i][0], units[j + 1][1]) <= size:
            j += 1
        out.append((units[i][0], units[j][1]))
        if j + 1 == len(units):
            break
        # Repeat the last `overlap` sentences, but always move forward and drop repeats that
        # would not fit together with the next sentence.
        k = max(i + 1, j + 1 - params.overlap)
        while k <= j and tokens.count(units[k][0], units[j + 1][1]) > size:
            k += 1
        i = k
    return out


def _merge(tokens: _Tokens, pieces: Sequence[Range], size: int, overlap: int) -> list[Range]:
    """Join adjacent pieces up to ``size`` tokens, each join starting with <= ``overlap`` of the last."""
    out: list[Range] = []
    current: deque[Range] = deque()
    for piece in pieces:
        if current and tokens.count(current[0][0], piece[1]) > size:
            out.append((current[0][0], current[-1][1]))
            while current and (
                tokens.count(current[0][0], current[-1][1]) > overlap
                or tokens.count(current[0][0], piece[1]) > size
            ):
                current.popleft()
        current.append(piece)
    if current:
        out.append((current[0][0], current[-1][1]))
    return out


_LEVELS = ("paragraph", "line", "sentence", "word")


def _level_cuts(level: int, text: str, start: int, end: int) -> list[int]:
    name = _LEVELS[level]
    if name == "paragraph":
        return _pattern_cuts(_PARAGRAPH, text, start, end)
    if name == "line":
        return _pattern_cuts(_LINE, text, start, end)
    if name == "sentence":
        return document_sentence_cuts(text, start, end)
    return _pattern_cuts(_WORD, text, start, end)


def _recursive(tokens: _Tokens, params: ChunkingParams) -> list[Range]:
    size, overlap = params.chunk_size, params.overlap

    def split(start: int, end: int, level: int) -> list[Range]:
        if tokens.count(start, end) <= size:
            return [(start, end)]
        if level == len(_LEVELS):
            return tokens.windows(start, end, size, overlap)
        cuts = _level_cuts(level, tokens.text, start, end)
        if not cuts:
            return split(start, end, level + 1)
        out: list[Range] = []
        fitting: list[Range] = []
        for a, b in _pieces(start, end, cuts):
            if tokens.count(a, b) <= size:
                fitting.append((a, b))
                continue
            # As LangChain does: what fits so far is merged, what does not is split finer.
            out.extend(_merge(tokens, fitting, size, overlap))
            fitting = []
            out.extend(split(a, b, level + 1))
        out.extend(_merge(tokens, fitting, size, overlap))
        return out

    return split(0, len(tokens.text), 0)


_STRATEGIES = {
    Strategy.FIXED: _fixed,
    Strategy.SENTENCE: _sentence,
    Strategy.RECURSIVE: _recursive,
}


def _fit(text: str, start: int, end: int, size: int, tokenizer: Tokenizer) -> list[Range]:
    """Re-tokenize a chunk on its own and split it until every part holds at most ``size`` tokens.

    Counting by the page's tokens is exact for most tokenizers, but a slice may tokenize
    differently from the same characters in context; this is the guarantee.
    """
    out: list[Range] = []
    todo = [(start, end)]
    while todo:
        a, b = todo.pop()
        piece = text[a:b]
        spans = tokenizer.spans(piece)
        if len(spans) <= size:
            out.append((a, b))
            continue
        local = _Tokens(piece, spans)
        parts = [_strip(text, a + x, a + y) for x, y in local.windows(0, len(piece), size, 0)]
        parts = [(x, y) for x, y in parts if x < y]
        if len(parts) < 2:
            # Cannot be cut smaller (one character that is several tokens): keep it whole.
            out.append((a, b))
            continue
        todo.extend(reversed(parts))
    return out


# A page is tokenized a segment of at most this many characters at a time, cut at a paragraph,
# line or word break: the token offsets of a whole 50 MB text file at once take gigabytes.
# A chunk never spans two segments, which moves at most one chunk boundary per segment.
SEGMENT_CHARS = 200_000
_SEGMENT_BREAKS = ("\n\n", "\n", " ", "\t")


def page_segments(text: str, limit: int = SEGMENT_CHARS) -> list[Range]:
    """``[start, end)`` pieces covering ``text``, each at most ``limit`` characters long.

    Each piece ends just after the last paragraph break, else line break, else space in the
    second half of its window; text with none there (one enormous word) is cut at the limit.

    >>> page_segments("aaa bbb ccc", limit=5)
    [(0, 4), (4, 8), (8, 11)]
    """
    if limit < 2:
        raise ValueError(f"limit must be >= 2 characters, got {limit}")
    out: list[Range] = []
    start, n = 0, len(text)
    while n - start > limit:
        end = start + limit
        cut = end
        for separator in _SEGMENT_BREAKS:
            found = text.rfind(separator, start + limit // 2, end)
            if found >= 0:
                cut = found + len(separator)
                break
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def _page_ranges(
    page: Page,
    params: ChunkingParams,
    tokenizer: Tokenizer,
    done: Callable[[int], None] | None = None,
    stop_after: int | None = None,
    within: Range | None = None,
) -> list[Range]:
    """The page's chunk ranges; ``done`` hears how many characters are chunked, per segment.

    With ``stop_after``, the ranges stop at the first segment that makes them more than that
    many (the caller refuses the document, so the rest need not be chunked). With ``within``,
    only that part of the page is chunked (the text between its tables).
    """
    text = page.text
    lo, hi = within or (0, len(text))
    if not text[lo:hi].strip():
        return []
    ranges: list[Range] = []
    for offset, segment_end in ((lo + a, lo + b) for a, b in page_segments(text[lo:hi])):
        if done is not None and offset:
            done(offset)
        segment = text if segment_end - offset == len(text) else text[offset:segment_end]
        if not segment.strip():
            continue
        tokens = _Tokens(segment, tokenizer.spans(segment))
        fitted: list[Range] = []
        for a, b in _STRATEGIES[params.strategy](tokens, params):
            a, b = _strip(segment, a, b)
            if a < b:
                fitted.extend(
                    (offset + x, offset + y)
                    for x, y in _fit(segment, a, b, params.chunk_size, tokenizer)
                )
        # Re-split parts of overlapping chunks can interleave: put them in page order and drop
        # any part that lies inside one already kept (it would add nothing to retrieve). No
        # chunk spans two segments, so doing this a segment at a time is the same as for the page.
        kept_before = len(ranges)
        for a, b in sorted(fitted, key=lambda r: (r[0], -r[1])):
            if len(ranges) == kept_before or b > ranges[-1][1]:
                ranges.append((a, b))
        if stop_after is not None and len(ranges) > stop_after:
            break
    return ranges


def _section_at(offset: int, starts: Sequence[int], paths: Sequence[str], default: str) -> str:
    i = bisect_right(starts, offset) - 1
    return paths[i] if i >= 0 else default


def chunk_location(page: Page, section: str = "", rows: Sequence[int] = ()) -> str:
    """Where a chunk is, as a citation names it: the page's place, the table rows, the section.

    >>> chunk_location(Page(2, "...", label="sheet Q3"), rows=(12, 13, 40))
    'sheet Q3, rows 12–40'
    """
    parts = [page.place]
    if rows:
        first, last = min(rows), max(rows)
        parts.append(f"rows {first}–{last}" if first != last else f"row {first}")
    parts.append(section)
    return ", ".join(part for part in parts if part)


# A piece of a page: [start, end) and, for a table's later pieces, the header range to repeat.
_Piece = tuple[int, int, Range | None]


def _table_pieces(text: str, table: TableSpan, size: int, tokenizer: Tokenizer) -> list[_Piece]:
    """A table cut between rows into pieces of at most ``size`` tokens.

    The first piece starts with the header as written; each later one is its rows, and the
    chunk repeats the header before them, unless the header takes more than half the budget
    (then rows would hardly fit beside it). A header or a row too long for a chunk on its own
    is cut between words like any text.
    """
    lines: list[Range] = []
    at = table.header_end
    while at < table.end:
        stop = text.find("\n", at, table.end)
        stop = table.end if stop < 0 else stop
        if text[at:stop].strip():
            lines.append((at, stop))
        at = stop + 1
    header: Range = (table.start, table.header_end)
    header_tokens = len(tokenizer.spans(text[table.start : table.header_end]))
    repeat = header_tokens <= size // 2
    pieces: list[_Piece] = []
    first = header_tokens < size  # the first piece holds the header as written
    if not first:
        pieces.extend((a, b, None) for a, b in _fit(text, *_strip(text, *header), size, tokenizer))
    start: int | None = None
    end = table.header_end
    used = header_tokens if first else 0
    again = header_tokens if repeat else 0  # what each later piece spends on the header

    def flush() -> None:
        nonlocal first, start, used
        if start is not None:
            piece = (table.start, end, None) if first else (start, end, header if repeat else None)
            pieces.append(piece)
            first, start, used = False, None, again

    for a, b in lines:
        row_tokens = len(tokenizer.spans(text[a:b]))
        if start is not None and used + row_tokens > size:
            flush()
        if first and used + row_tokens > size:
            # The header and the first row do not fit together: the header is a piece alone.
            pieces.append((*_strip(text, table.start, table.header_end), None))
            first, used = False, again
        if used + row_tokens > size:
            # Too long even in a piece of its own (after the repeated header, if any).
            pieces.extend((x, y, None) for x, y in _fit(text, a, b, size, tokenizer))
            continue
        start = a if start is None else start
        end = b
        used += row_tokens
    flush()
    if first and not pieces:  # a header without rows
        pieces.append((table.start, table.end, None))
    return pieces


def _table_rows(text: str, table: TableSpan, start: int, end: int) -> tuple[int, ...]:
    """The source row numbers of the table's body lines that [start, end) covers."""
    if not table.row_numbers or end <= table.header_end:
        return ()
    first_line = text.count("\n", table.header_end, max(start, table.header_end))
    last_line = text.count("\n", table.header_end, max(end - 1, table.header_end))
    return table.row_numbers[first_line : last_line + 1]


def _chunk_page(
    doc_id: str,
    page: Page,
    params: ChunkingParams,
    tokenizer: Tokenizer,
    first_chunk_no: int,
    sections: Sequence[tuple[int, str]],
    default_section: str,
    done: Callable[[int], None] | None = None,
    stop_after: int | None = None,
) -> list[Chunk]:
    ordered = sorted(sections, key=lambda s: s[0])
    starts = [offset for offset, _ in ordered]
    paths = [path for _, path in ordered]
    if not page.tables:
        pieces: list[_Piece] = [
            (a, b, None) for a, b in _page_ranges(page, params, tokenizer, done, stop_after)
        ]
    else:
        pieces = _pieces_with_tables(page, params, tokenizer, done, stop_after)
    text = page.text
    chunks = []
    for n, (a, b, header) in enumerate(pieces):
        section = _section_at(a, starts, paths, default_section)
        rows = [
            row
            for t in page.tables
            if t.start < b and a < t.end
            for row in _table_rows(text, t, max(a, t.start), min(b, t.end))
        ]
        chunks.append(
            Chunk(
                doc_id=doc_id,
                chunk_no=first_chunk_no + n,
                page=page.number,
                start=a,
                end=b,
                text=text[a:b] if header is None else text[header[0] : header[1]] + text[a:b],
                kind=ChunkKind.TEXT,
                section=section,
                location=chunk_location(page, section, rows),
            )
        )
    return chunks


def _pieces_with_tables(
    page: Page,
    params: ChunkingParams,
    tokenizer: Tokenizer,
    done: Callable[[int], None] | None,
    stop_after: int | None,
) -> list[_Piece]:
    """The text between tables chunked as any text, each table cut between its rows; then a
    table piece and the text beside it share a chunk where both fit (a caption and its table).
    """
    pieces: list[tuple[int, int, Range | None, bool]] = []  # ..., and whether of a table
    cursor = 0
    for table in sorted(page.tables, key=lambda t: t.start):
        if table.start < cursor or table.end > len(page.text):
            raise ValueError(
                f"tables of page {page.number} overlap or pass the end of its text: "
                f"{table.start}-{table.end} after {cursor}, text of {len(page.text)}"
            )
        within = (cursor, table.start)
        for a, b in _page_ranges(page, params, tokenizer, done, stop_after, within):
            pieces.append((a, b, None, False))
        for a, b, header in _table_pieces(page.text, table, params.chunk_size, tokenizer):
            pieces.append((a, b, header, True))
        cursor = table.end
    for a, b in _page_ranges(page, params, tokenizer, done, stop_after, (cursor, len(page.text))):
        pieces.append((a, b, None, False))
    return _join_beside_tables(page.text, pieces, params.chunk_size, tokenizer)


def _join_beside_tables(
    text: str,
    pieces: Sequence[tuple[int, int, Range | None, bool]],
    size: int,
    tokenizer: Tokenizer,
) -> list[_Piece]:
    out: list[tuple[int, int, Range | None, bool]] = []
    for a, b, header, of_table in pieces:
        if out:
            pa, pb, p_header, p_table = out[-1]
            joinable = (
                header is None
                and p_header is None
                and (of_table or p_table)
                and a >= pa
                and not text[pb:a].strip()
                # A cheap bound first: no tokenizer makes fewer tokens than this many characters.
                and b - pa <= size * 12
                and len(tokenizer.spans(text[pa:b])) <= size
            )
            if joinable:
                out[-1] = (pa, max(pb, b), None, True)
                continue
        out.append((a, b, header, of_table))
    return [(a, b, header) for a, b, header, _ in out]


def chunk_page(
    doc_id: str,
    page: Page,
    params: ChunkingParams,
    tokenizer: Tokenizer,
    *,
    first_chunk_no: int = 0,
    sections: Sequence[tuple[int, str]] = (),
) -> list[Chunk]:
    """The text chunks of one page, numbered from ``first_chunk_no``.

    ``sections`` are ``(offset, heading path)`` pairs for headings on this page; a chunk gets
    the path of the last heading at or before its start, else ``page.section``.

    >>> [c.text for c in chunk_page("doc", Page(1, "One. Two."), params, tokenizer)]
    ['One.', 'Two.']   # sentence strategy, chunk_size=1
    """
    _check(params, tokenizer)
    return _chunk_page(doc_id, page, params, tokenizer, first_chunk_no, sections, page.section)


def _share_done(progress: Callable[[float], None], before: int, total: int, chars: int) -> None:
    progress((before + chars) / total)


def chunk_pages(
    doc_id: str,
    pages: Sequence[Page],
    params: ChunkingParams,
    tokenizer: Tokenizer,
    *,
    sections_by_page: Mapping[int, Sequence[tuple[int, str]]] | None = None,
    progress: Callable[[float], None] | None = None,
    stop_after: int | None = None,
) -> list[Chunk]:
    """The text chunks of a document's pages, numbered 0..n-1 across the document.

    ``sections_by_page`` maps a page number to its headings, as for :func:`chunk_page`; text
    before a page's first heading belongs to ``page.section`` if set, else to the last
    heading of the pages before it. ``progress`` hears the share of the text chunked so far
    (0 to 1), after every page and every segment of a long one.

    With ``stop_after``, chunking stops soon after it has made more than that many chunks and
    returns those: more than ``stop_after`` chunks means the document is over its limit, and
    the caller refuses it without the hours the rest could take.
    """
    _check(params, tokenizer)
    by_page = sections_by_page or {}
    chunks: list[Chunk] = []
    carried = ""
    total = max(1, sum(len(p.text) for p in pages))
    before = 0
    for page in pages:
        sections = by_page.get(page.number, ())
        done = None if progress is None else partial(_share_done, progress, before, total)
        chunks.extend(
            _chunk_page(
                doc_id,
                page,
                params,
                tokenizer,
                len(chunks),
                sections,
                page.section or carried,
                done,
                None if stop_after is None else stop_after - len(chunks),
            )
        )
        if stop_after is not None and len(chunks) > stop_after:
            break
        before += len(page.text)
        if progress is not None:
            progress(before / total)
        if sections:
            carried = max(sections, key=lambda s: s[0])[1]
        elif page.section:
            carried = page.section
    return chunks
