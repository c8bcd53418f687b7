"""The quote verifier, the quote-then-answer reply parser, and the evidence selector."""

from __future__ import annotations

import pytest

from ragcore.generation.evidence import EvidenceBudget, EvidenceSelector, clean_text
from ragcore.generation.quoted import REFUSAL, build_quoted_messages, is_refusal, parse_reply
from ragcore.generation.quotes import find_quote, find_row, locate, normalise, row_misses
from ragcore.testing.embedders import HashingEmbedder
from ragcore.types import ChunkKind, Hit

PAGE = (
    "Zero trust (ZT) is the term for an evolving set of cybersecurity para-\n"
    "digms that move defenses from static, network-based perimeters to focus on\n"
    "users, assets, and resources. The term was coined by John Kindervag1 of\n"
    "Forrester in 2010."
)


def _hit(text: str, name: str = "zt.pdf", page: int = 1) -> Hit:
    return Hit(
        point_id=f"p-{name}-{page}",
        doc_id=name,
        file_name=name,
        page=page,
        chunk_no=0,
        start=0,
        end=len(text),
        kind=ChunkKind.TEXT,
        text=text,
    )


def test_an_exact_quote_is_found_with_its_span_in_the_original_text() -> None:
    quote = "The term was coined by John Kindervag of Forrester in 2010."
    found = locate(quote, PAGE)
    assert found is not None
    start, end, score = found
    assert score == 100.0
    assert PAGE[start:end] == "The term was coined by John Kindervag1 of\nForrester in 2010"


def test_a_quote_hyphenated_across_a_line_break_matches_either_spelling() -> None:
    for quote in (
        "an evolving set of cybersecurity paradigms that move defenses",
        "an evolving set of cybersecurity para- digms that move defenses",
    ):
        found = locate(quote, PAGE)
        assert found is not None and found[2] == 100.0
        assert PAGE[found[0] : found[1]].startswith("an evolving set of cybersecurity para-\ndigms")


def test_a_close_copy_is_accepted_with_its_score() -> None:
    # The model dropped "(ZT)" and wrote curly quotes around the sentence.
    found = locate("“Zero trust is the term for an evolving set of cybersecurity paradigms”", PAGE)
    assert found is not None and 92 <= found[2] < 100
    assert PAGE[found[0] : found[1]].startswith("Zero trust (ZT) is the term")
    assert PAGE[found[0] : found[1]].endswith("para-\ndigms")  # whole words, not "para"


def test_a_fabricated_quote_is_rejected() -> None:
    assert locate("The term was coined by NIST in 2010.", PAGE) is None
    assert locate("Zero trust requires 256-bit keys for every network perimeter.", PAGE) is None
    assert locate("ok", PAGE) is None  # too short to prove anything


def test_a_changed_number_in_a_short_quote_is_rejected() -> None:
    assert locate("Forrester in 2011", PAGE) is None
    assert locate("Forrester in 2010", PAGE) is not None


def test_an_ellipsis_needs_both_sides_on_the_page() -> None:
    assert locate("Zero trust (ZT) is the term ... coined by John Kindervag", PAGE) is not None
    assert locate("Zero trust (ZT) is the term ... coined by Bruce Schneier", PAGE) is None


def test_a_quote_under_another_number_is_found_in_its_own_source() -> None:
    other = "Cloud computing has five essential characteristics."
    match = find_quote("coined by John Kindervag of Forrester", [other, PAGE], cited=1)
    assert match is not None and match.number == 2 and match.exact


WARN = (
    "| Notice Date | Company | City | No. Of | Layoff/Closure |\n"
    "| --- | --- | --- | --- | --- |\n"
    "| 02/17/2016 | Yahoo! Inc. | Burbank | 90 | Closure Permanent |\n"
    "| 01/04/2016 | Thomson Licensing LLC | Burbank | 7 | Closure Unknown at this time |\n"
    "| 02/15/2016 | Valley Fine Foods | Benicia | 94 | Closure Permanent |"
)


def test_a_table_row_written_as_a_sentence_is_found_as_that_row() -> None:
    quote = "Burbank had 90 jobs affected by the closure."
    assert find_quote(quote, ["Intro text.", WARN]) is None  # not the page's words
    match = find_row(quote, ["Intro text.", WARN], cited=2)
    assert match is not None and match.number == 2 and match.score == 0.0
    assert (
        WARN[match.start : match.end]
        == "| 02/17/2016 | Yahoo! Inc. | Burbank | 90 | Closure Permanent |"
    )


@pytest.mark.parametrize(
    "quote",
    [
        "Burbank had 94 jobs affected by the closure.",  # 94 is Benicia's: no row holds both
        "Burbank closures affected many jobs.",  # no number to check
        "The closure affected 90 jobs.",  # one word of the row: 90 alone could be anything
        "Yahoo! in Burbank laid off 90 and Valley Fine Foods 94.",  # two rows
    ],
)
def test_a_sentence_no_single_row_holds_is_not_a_row(quote: str) -> None:
    assert find_row(quote, [WARN]) is None


def test_rows_are_only_table_lines() -> None:
    prose = "In Burbank, 90 jobs were affected by the closure of the plant."
    assert find_row("Burbank had 90 jobs affected by the closure.", [prose]) is None


IDENTIFIERS = (
    "| Function Unique Identifier | Function | Category Unique Identifier | Category |\n"
    "| --- | --- | --- | --- |\n"
    "| CT-P | Control-P | CT.DM-P | Data Processing Management |\n"
    "| | | CT.DP-P | Disassociated Processing |"
)


def test_a_row_named_by_its_identifier_is_found_by_it() -> None:
    quote = "CT.DP-P is a Disassociated Processing category."
    match = find_row(quote, [IDENTIFIERS])
    assert match is not None
    assert IDENTIFIERS[match.start : match.end] == "| | | CT.DP-P | Disassociated Processing |"
    # Another row's identifier beside this row's words is in no single row.
    assert find_row("CT.DM-P is a Disassociated Processing category.", [IDENTIFIERS]) is None
    # The header names every column: asked which category a row is, it misses no other row.
    question = "In the table of unique identifiers, which category is CT.DP-P?"
    assert row_misses(question, IDENTIFIERS, match.start, match.end) == set()


def test_normalise_keeps_offsets_into_the_original() -> None:
    text = "A  “Quoted”\nword-\nbreak Kindervag1."
    norm = normalise(text)
    assert norm.text == 'a "quoted" wordbreak kindervag.'
    begin = norm.text.index("wordbreak")
    assert text[slice(*norm.span(begin, begin + len("wordbreak")))] == "word-\nbreak"


@pytest.mark.parametrize(
    ("raw", "quotes", "answer"),
    [
        ('Quote [2]: "The pump needs oil."\nAnswer: Every day [2].', [(2, '"The pump needs oil."')], "Every day [2]."),
        ("Answer: The documents do not say.", [], "The documents do not say."),
        ("Just some prose [1].", [], "Just some prose [1]."),
        ('Quote: [3] "a line"\nquote [1]: "b line"\nanswer: yes [1]', [(3, '"a line"'), (1, '"b line"')], "yes [1]"),
    ],
)  # fmt: skip
def test_replies_are_split_into_quotes_and_answer(
    raw: str, quotes: list[tuple[int, str]], answer: str
) -> None:
    reply = parse_reply(raw)
    assert [(q.number, q.text) for q in reply.quotes] == quotes
    assert reply.answer == answer


def test_refusals_are_recognised() -> None:
    assert is_refusal(REFUSAL) and is_refusal("The sources do not mention a torque value.")
    assert is_refusal("I cannot find this.") and not is_refusal("It needs 25 Nm of torque [1].")


def test_the_prompt_is_the_fixed_system_text_and_the_fenced_evidence() -> None:
    selector = EvidenceSelector(embedder=HashingEmbedder(dim=64))
    evidence = selector.select("Who coined the term zero trust?", [_hit(PAGE)])
    messages = build_quoted_messages("Who coined the term zero trust?", evidence)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"].startswith('<file name="zt.pdf">\n<source id="1">')
    assert "Kindervag of Forrester" in messages[1]["content"]  # cleaned: no footnote digit
    assert messages[1]["content"].endswith("Question: Who coined the term zero trust?")


def test_evidence_keeps_the_best_sentences_within_the_budget() -> None:
    filler = " ".join(f"Sentence {i} talks about the weather in spring." for i in range(40))
    hits = [_hit(filler, "weather.txt"), _hit(PAGE, "zt.pdf", 3)]
    selector = EvidenceSelector(
        embedder=HashingEmbedder(dim=256), budget=EvidenceBudget(tokens=60, sentences=3)
    )
    evidence = selector.select("Who coined the term zero trust?", hits)
    assert evidence.sources[0].hit.file_name == "zt.pdf"
    texts = [span.text for span in evidence.sources[0].spans]
    assert any("coined by John Kindervag of" in t for t in texts)
    coined = next(s for s in evidence.sources[0].spans if "coined" in s.text)
    assert PAGE[coined.start : coined.end].startswith("The term was coined")
    assert all("weather" not in t for t in texts)
    assert evidence.tokens <= 60 + 30  # the budget, give or take one sentence that follows


def test_clean_text_undoes_pdf_artefacts() -> None:
    assert clean_text("para-\ndigms of Kindervag1 and pas- sages [3]") == (
        "paradigms of Kindervag and passages"
    )


def test_a_row_misses_the_names_of_the_question_other_rows_hold() -> None:
    question = "How many jobs did the Yahoo! closure in Burbank affect?"
    thomson = WARN.index("| 01/04/2016")
    yahoo = WARN.index("| 02/17/2016")
    assert row_misses(question, WARN, thomson, WARN.index("\n", thomson)) == {"yahoo"}
    assert row_misses(question, WARN, yahoo, WARN.index("\n", yahoo)) == set()
    # A span of prose is not a row: nothing to tell.
    assert row_misses(question, "Yahoo! closed in Burbank.", 0, 10) == set()
