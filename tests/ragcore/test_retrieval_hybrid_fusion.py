"""RetrievalConfig.hybrid_fusion: RRF stays the default; DBSF is chosen by name; bad names are refused."""

from __future__ import annotations

import pytest

from ragcore.retrieval import RetrievalConfig
from ragcore.types import Fusion


def test_rrf_is_the_default_and_dbsf_is_accepted_by_name() -> None:
    assert RetrievalConfig().hybrid_fusion == Fusion.RRF
    assert RetrievalConfig(hybrid_fusion="dbsf").hybrid_fusion == Fusion.DBSF  # type: ignore[arg-type]


def test_an_unknown_fusion_is_named() -> None:
    with pytest.raises(ValueError, match=r"hybrid_fusion must be one of .*got 'sum'"):
        RetrievalConfig(hybrid_fusion="sum")  # type: ignore[arg-type]
