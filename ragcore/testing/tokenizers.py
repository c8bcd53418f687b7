"""Fake tokenizers with exact character offsets, for tests that count tokens without a model."""

from __future__ import annotations

import re


class WhitespaceTokenizer:
    """Each maximal run of non-whitespace is one token.

    >>> WhitespaceTokenizer(max_tokens=8).spans("to be  or")
    [(0, 2), (3, 5), (7, 9)]
    """

    _TOKEN = re.compile(r"\S+")

    def __init__(self, max_tokens: int = 256) -> None:
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be > 0, got {max_tokens}")
        self._max_tokens = max_tokens

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._TOKEN.finditer(text)]


class WordPieceLikeTokenizer:
    """Sub-word behaviour without a vocabulary: words in pieces of at most ``piece`` characters.

    Punctuation and other symbols are tokens of their own, so one whitespace-separated
    word can be many tokens, as with WordPiece.

    >>> WordPieceLikeTokenizer(max_tokens=8, piece=3).spans("chunking, ok")
    [(0, 3), (3, 6), (6, 8), (8, 9), (10, 12)]
    """

    def __init__(self, max_tokens: int = 256, piece: int = 4) -> None:
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be > 0, got {max_tokens}")
        if piece <= 0:
            raise ValueError(f"piece must be > 0, got {piece}")
        self._max_tokens = max_tokens
        self._token = re.compile(rf"\w{{1,{piece}}}|[^\w\s]")

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._token.finditer(text)]
