"""How to search: the one RetrievalConfig, whose defaults are the tuned ones Settings starts from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from ragcore.types import Fusion


class RetrievalMode(StrEnum):
    """Which signals answer: both (fused), the dense vectors alone, or BM25 alone."""

    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"


@dataclass(frozen=True)
class RetrievalConfig:
    """How to search. Defaults were tuned on SciFact train (bench/tuned.json, bench/RESULTS.md):
    deeper candidate lists, a small RRF k, and BM25 weighted a little above dense.

    Settings derive theirs from these defaults (``Settings.retrieval``); a caller changes one
    knob with ``dataclasses.replace``. Modes and fusions may be given by name.

    >>> replace(RetrievalConfig(), mode="bm25", rerank=False).mode
    <RetrievalMode.BM25: 'bm25'>
    """

    mode: RetrievalMode = RetrievalMode.HYBRID
    fusion: Fusion = Fusion.RRF  # how the store fuses the text and image legs
    dense_k: int = 100
    bm25_k: int = 100
    rrf_k: int = 10
    dense_weight: float = 1.0
    bm25_weight: float = 1.25
    rerank: bool = True
    rerank_top_n: int = 20
    top_k: int = 6
    use_image_leg: bool = True
    # How hybrid fuses the dense and BM25 lists: weighted RRF by rank, or DBSF by score.
    hybrid_fusion: Fusion = Fusion.RRF

    def __post_init__(self) -> None:
        # Names from settings, a CLI or a JSON file become the enums, so comparisons and
        # str() read the same whichever way a config was made.
        object.__setattr__(self, "mode", _member(RetrievalMode, "mode", self.mode))
        object.__setattr__(self, "fusion", _member(Fusion, "fusion", self.fusion))
        object.__setattr__(
            self, "hybrid_fusion", _member(Fusion, "hybrid_fusion", self.hybrid_fusion)
        )
        for name in ("dense_k", "bm25_k", "top_k", "rerank_top_n"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.dense_weight < 0 or self.bm25_weight < 0:
            raise ValueError(
                f"weights must be >= 0, got dense {self.dense_weight}, bm25 {self.bm25_weight}"
            )


_E = TypeVar("_E", bound=StrEnum)


def _member(enum: type[_E], name: str, value: object) -> _E:
    try:
        return enum(str(value))
    except ValueError:
        raise ValueError(
            f"{name} must be one of {tuple(str(m) for m in enum)}, got {value!r}"
        ) from None
