"""A Hugging Face fast tokenizer seen through the Tokenizer protocol: content tokens with offsets."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any


class HFTokenizer:
    """Counts text in a Hugging Face model's tokens, special tokens excluded.

    >>> tok = HFTokenizer(AutoTokenizer.from_pretrained(path), max_tokens=254)
    >>> tok.spans("Zero trust")
    [(0, 4), (5, 10)]
    """

    def __init__(
        self, hf_tokenizer: Any, max_tokens: int, *, lock: AbstractContextManager[Any] | None = None
    ) -> None:
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be > 0, got {max_tokens}")
        # Only fast (Rust) tokenizers report character offsets; a slow one cannot place chunks.
        if not getattr(hf_tokenizer, "is_fast", False):
            raise ValueError(
                f"a fast tokenizer is needed for character offsets, got {type(hf_tokenizer).__name__}"
            )
        self._tokenizer = hf_tokenizer
        self._max_tokens = max_tokens
        # The lock of the model that owns the tokenizer (see SentenceTransformerEmbedder): the
        # Rust tokenizer's settings are shared state, changed by each call.
        self._lock: AbstractContextManager[Any] = lock if lock is not None else nullcontext()

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def spans(self, text: str) -> list[tuple[int, int]]:
        if not text:
            return []
        # verbose=False: a whole page is longer than the model's limit on purpose (we count it,
        # we never embed it), so the "sequence longer than max" warning would only be noise.
        with self._lock:
            encoded = self._tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
            )
        # Already (start, end) pairs of ints: copied as they are, this runs once per page and chunk.
        return list(encoded["offset_mapping"])
