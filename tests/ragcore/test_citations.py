"""Citation checking: markers parsed, out-of-range numbers removed, claims scored against sources."""

from __future__ import annotations

import pytest

from ragcore.generation.citations import DEFAULT_THRESHOLD, check_citations, cited_numbers
from ragcore.text_rules import content_words, split_sentences
from ragcore.types import ChunkKind, Hit

TOWER = (
    "The Eiffel Tower was constructed from 1887 to 1889 as the entrance arch to the "
    "1889 World's Fair. It is 330 metres tall and stands on the Champ de Mars in Paris."
)
COMPANY = (
    "Gustave Eiffel's engineering company designed and built the tower. "
    "Artists criticised the design when it was announced."
)
BRIDGE = "The Garabit viaduct is a railway arch bridge in the Cantal region of France."


def _hit(number: int, text: str, file_name: str = "tower.pdf", page: int = 1) -> Hit:
    return Hit(
        point_id=f"point-{number}",
        doc_id=f"doc-{number}",
        file_name=file_name,
        page=page,
        chunk_no=number,
        start=0,
        end=len(text),
        kind=ChunkKind.TEXT,
        text=text,
    )


@pytest.fixture
def hits() -> list[Hit]:
    return [
        _hit(1, TOWER, "tower.pdf", 3),
        _hit(2, COMPANY, "eiffel.md", 1),
        _hit(3, BRIDGE, "bridges.pdf", 7),
    ]


@pytest.mark.parametrize(
    ("marker", "numbers"),
    [
        ("[1]", [1]),
        ("[1, 2]", [1, 2]),
        ("[1,3]", [1, 3]),
        ("[1-3]", [1, 2, 3]),
        ("[3–1]", [1, 2, 3]),
        ("[2, 4-5]", [2, 4, 5]),
        ("[Source 2]", [2]),
        ("[sources 1; 2]", [1, 2]),
        ("[1-5000]", [1, 5000]),
    ],
)
def test_cited_numbers_reads_every_marker_form(marker: str, numbers: list[int]) -> None:
    assert cited_numbers(marker) == numbers


def test_out_of_range_numbers_are_removed_and_reported(hits: list[Hit]) -> None:
    answer = "The tower is 330 metres tall [1][7]. It stands in Paris [0]. Arches [2, 9]."
    report = check_citations(answer, hits)
    assert report.removed == (0, 7, 9)
    assert report.text == "The tower is 330 metres tall [1]. It stands in Paris. Arches [2]."
    assert [c.number for c in report.citations] == [1, 2]


def test_multi_citation_forms_all_count(hits: list[Hit]) -> None:
    answer = (
        "The tower was built from 1887 to 1889 by Gustave Eiffel's company [1, 2]. "
        "It is 330 metres tall [1][2]. "
        "The Garabit viaduct is an arch bridge in France [1-3]."
    )
    report = check_citations(answer, hits)
    assert report.removed == ()
    assert report.text == (
        "The tower was built from 1887 to 1889 by Gustave Eiffel's company [1, 2]. "
        "It is 330 metres tall [1][2]. "
        "The Garabit viaduct is an arch bridge in France [1, 2, 3]."
    )
    by_number = {c.number: c for c in report.citations}
    assert set(by_number) == {1, 2, 3}
    assert len(by_number[1].sentences) == 3
    assert by_number[3].sentences == ("The Garabit viaduct is an arch bridge in France.",)


def test_supported_and_unsupported_sentences(hits: list[Hit]) -> None:
    answer = (
        "The Eiffel Tower was constructed between 1887 and 1889 for the World's Fair [1]. "
        "Napoleon ordered the tower painted gold in 1850 to celebrate his coronation [1]."
    )
    report = check_citations(answer, hits)
    assert report.unsupported_sentences == (
        "Napoleon ordered the tower painted gold in 1850 to celebrate his coronation.",
    )
    citation = report.citation(1)
    assert citation is not None
    assert not citation.supported  # one of the two claims citing it is not in the passage
    assert citation.support < DEFAULT_THRESHOLD
    assert not report.all_supported

    faithful = check_citations(
        "The Eiffel Tower was constructed between 1887 and 1889 for the World's Fair [1].", hits
    )
    assert faithful.unsupported_sentences == ()
    assert faithful.all_supported
    assert faithful.citations[0].support >= 0.8


def test_citation_carries_the_hit_it_points_to(hits: list[Hit]) -> None:
    report = check_citations("The viaduct is a railway arch bridge in Cantal [3].", hits)
    (citation,) = report.citations
    assert (citation.number, citation.point_id, citation.doc_id) == (3, "point-3", "doc-3")
    assert (citation.file_name, citation.page) == ("bridges.pdf", 7)
    assert citation.supported


def test_sources_backing_a_claim_together_are_both_supported(hits: list[Hit]) -> None:
    # Half the claim is in source 1, half in source 2: neither alone reaches the threshold.
    answer = "Gustave Eiffel's engineering company built the 330 metres tall tower in Paris [1, 2]."
    report = check_citations(answer, hits)
    assert report.unsupported_sentences == ()
    assert all(c.supported for c in report.citations)


def test_idle_source_in_a_multi_citation_is_not_supported(hits: list[Hit]) -> None:
    answer = "The Eiffel Tower is 330 metres tall and stands on the Champ de Mars [1, 3]."
    report = check_citations(answer, hits)
    assert report.unsupported_sentences == ()
    first, third = report.citations
    assert first.supported
    assert not third.supported  # the bridge passage adds nothing to this claim


def test_similarity_can_vouch_for_a_paraphrase(hits: list[Hit]) -> None:
    answer = "Painters and sculptors disliked how it looked [2]."
    lexical = check_citations(answer, hits)
    assert lexical.unsupported_sentences == ("Painters and sculptors disliked how it looked.",)
    seen: list[tuple[str, str]] = []

    def similarity(sentence: str, passage: str) -> float:
        seen.append((sentence, passage))
        return 0.8

    semantic = check_citations(answer, hits, similarity=similarity)
    assert semantic.unsupported_sentences == ()
    assert semantic.citations[0].support == pytest.approx(0.8)
    assert ("Painters and sculptors disliked how it looked.", COMPANY) in seen


def test_uncited_claims_are_listed_but_short_remarks_are_not(hits: list[Hit]) -> None:
    answer = (
        "Here is what I found:\n"
        "- The tower is 330 metres tall [1].\n"
        "- The tower attracts seven million visitors every year.\n"
        "The documents do not say."
    )
    report = check_citations(answer, hits)
    assert report.uncited_sentences == ("The tower attracts seven million visitors every year.",)
    assert report.citations[0].sentences == ("The tower is 330 metres tall.",)


def test_marker_after_the_full_stop_belongs_to_its_sentence(hits: list[Hit]) -> None:
    report = check_citations(
        "It is 330 metres tall. [1] Gustave Eiffel's company built it.[2]Done.", hits
    )
    one, two = report.citations
    assert one.sentences == ("It is 330 metres tall.",)
    assert two.sentences == ("Gustave Eiffel's company built it.",)


def test_no_hits_removes_every_marker() -> None:
    report = check_citations("Paris [1]. Lyon [2, 3].", [])
    assert report.text == "Paris. Lyon."
    assert report.removed == (1, 2, 3)
    assert report.citations == ()


def test_threshold_is_validated(hits: list[Hit]) -> None:
    with pytest.raises(ValueError, match="threshold must be in"):
        check_citations("x [1].", hits, threshold=0)


def test_sentences_and_content_words() -> None:
    assert split_sentences("Version 3.5 is out. See U.S. law! Next?") == [
        "Version 3.5 is out.",
        "See U.S. law!",
        "Next?",
    ]
    # Stop words go, inflections meet.
    assert content_words("The towers were built") == content_words("a tower built")
    assert content_words("use") == content_words("used") == content_words("using") == {"us"}
    assert content_words("thing") == {"thing"}
