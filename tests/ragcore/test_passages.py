"""A passage its chunk cut mid-sentence is read on to the sentence's end, from the next chunk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ragcore.answering import Answerer
from ragcore.catalog import Catalog
from ragcore.generation.evidence import cut_short
from ragcore.generation.llm import ChatLLM
from ragcore.passages import (
    finish_cut_passages,
    name_words,
    named_documents,
    with_named_passages,
    with_title_pages,
)
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.testing.llm_server import Messages, ScriptedLLMServer
from ragcore.types import Chunk, ChunkingParams, ChunkKind, Hit, Strategy
from tests.ragcore.catalog_samples import make_doc
from tests.ragcore.library_runtime import runtime_with_texts
from tests.ragcore.test_chat_template import TEMPLATE

PAGE = (
    "Comments on the proposed rule are welcome. DATES: The FAA must receive comments on "
    "this proposed AD by September 21, 2020. ADDRESSES: Send comments to the docket. "
    "Fax them to the office. "
    + "Comments are read in the order received, and each is answered in the final rule. "
    * 4
)
CUT = PAGE.index("2020.")
FIXED = ChunkingParams(Strategy.FIXED, 24, 4)  # the first chunk ends on "September 21, "


def page_chunks(doc_id: str, cuts: list[tuple[int, int]], page: int = 1) -> list[Chunk]:
    return [
        Chunk(doc_id=doc_id, chunk_no=n, page=page, start=s, end=e, text=PAGE[s:e])
        for n, (s, e) in enumerate(cuts)
    ]


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog(tmp_path / "catalog.sqlite3")
    yield cat
    cat.close()


def stored(catalog: Catalog, chunks: list[Chunk]) -> list[Hit]:
    """The chunks stored as a document's, and each as a retrieved passage."""
    doc_id = chunks[0].doc_id
    catalog.upsert_document(make_doc(doc_id, "rule.pdf"))
    catalog.replace_chunks(doc_id, chunks, embed_model="hash-384", stats={"pages": 2})
    return [row.to_hit("rule.pdf") for row in catalog.chunks(doc_id)]


def test_what_is_cut_short() -> None:
    assert cut_short("comments on this proposed AD by September 21,")
    assert cut_short("The practices are organized into four groups:")
    assert not cut_short("by September 21, 2020.  \n")
    assert not cut_short("| 4e(vii) | PS.3.2 |")
    assert not cut_short("   ")


def test_a_sentence_cut_by_its_chunk_is_finished_from_the_next_chunk(catalog: Catalog) -> None:
    # Overlapping chunks, as the fixed and recursive strategies cut them.
    first, second = stored(catalog, page_chunks("d", [(0, CUT), (CUT - 30, len(PAGE))]))
    assert first.text.endswith("September 21, ")
    finished, same = finish_cut_passages([first, second], catalog)
    # The sentence and the whole ones after it within a few lines; not the rest of the page.
    assert finished.text.startswith(PAGE[: PAGE.index("Fax them")])
    assert CUT + 200 < len(finished.text) <= CUT + 300 and finished.text.endswith("final rule.")
    # Still a slice of its page, with its chunk's id and start: the source view can mark it.
    assert (finished.start, finished.end) == (0, len(finished.text))
    assert (finished.point_id, finished.chunk_no) == (first.point_id, first.chunk_no)
    assert same == second


def test_a_trimmed_gap_between_chunks_is_kept_at_its_length(catalog: Catalog) -> None:
    # Chunks laid end to end, the space between them stored in neither.
    (first, _) = stored(catalog, page_chunks("d", [(0, CUT - 1), (CUT, len(PAGE))]))
    (finished,) = finish_cut_passages([first], catalog)
    assert finished.text.startswith(PAGE[: CUT + len("2020.")])
    assert PAGE[finished.start : finished.end] == finished.text


def test_a_list_opened_on_a_colon_takes_its_items(catalog: Catalog) -> None:
    colon = PAGE.index("DATES:") + len("DATES:")
    (first, _) = stored(catalog, page_chunks("d", [(0, colon), (colon - 10, len(PAGE))]))
    (finished,) = finish_cut_passages([first], catalog)
    assert "September 21, 2020." in finished.text


def test_whole_passages_and_passages_without_a_continuation_are_left_as_they_are(
    catalog: Catalog,
) -> None:
    whole = PAGE.index("ADDRESSES")
    chunks = page_chunks("d", [(0, whole - 1), (whole, len(PAGE))])
    # The last chunk of its page, and a cut chunk whose next chunk is on the next page.
    last_page = [replace(c, chunk_no=2 + c.chunk_no, page=2) for c in page_chunks("d", [(0, CUT)])]
    on_next_page = [
        replace(c, chunk_no=3 + c.chunk_no, page=3) for c in page_chunks("d", [(CUT, len(PAGE))])
    ]
    hits = stored(catalog, chunks + last_page + on_next_page)
    assert finish_cut_passages(hits, catalog) == tuple(hits)


def test_a_next_chunk_with_other_words_where_they_overlap_is_not_joined(catalog: Catalog) -> None:
    # The next chunk does not repeat the passage's last words where their offsets overlap (a
    # table's later piece opens on its header): it is no continuation of this passage.
    first, second = page_chunks("d", [(0, CUT), (CUT - 30, len(PAGE))])
    other = "| Header | Value |".ljust(30) + second.text[30:]
    hits = stored(catalog, [first, replace(second, text=other)])
    assert finish_cut_passages(hits[:1], catalog) == (hits[0],)


def test_a_sentence_that_runs_on_past_the_next_chunk_is_left_cut(catalog: Catalog) -> None:
    endless = "a run of cells without a stop " * 40
    chunks = [
        Chunk(doc_id="d", chunk_no=0, page=1, start=0, end=300, text=endless[:300]),
        Chunk(doc_id="d", chunk_no=1, page=1, start=300, end=len(endless), text=endless[300:]),
    ]
    first, _ = stored(catalog, chunks)
    assert finish_cut_passages([first], catalog) == (first,)


def test_an_image_passage_is_never_grown(catalog: Catalog) -> None:
    first, _ = stored(catalog, page_chunks("d", [(0, CUT), (CUT - 30, len(PAGE))]))
    figure = replace(first, kind=ChunkKind.IMAGE)
    assert finish_cut_passages([figure], catalog) == (figure,)


RULE = (
    "The agency proposes to replace an older directive for all airplanes of this model. "
    "This proposed directive was prompted by reports of failed sensors on the wing. "
    "Comments are invited on every part of the proposal. DATES: The agency must receive "
    "comments on this proposed directive by September 21, 2020. ADDRESSES: You may send "
    "comments by mail to the docket office of the agency. Include the docket number in them."
)


def test_the_answerer_reads_on_and_its_quote_of_the_cut_sentence_is_whole_and_verified(
    tmp_path: Path,
) -> None:
    # Small fixed chunks, as a PDF's long pages are cut: the date falls across two of them.
    rt = runtime_with_texts(tmp_path, {"rule.txt": RULE}, FIXED)
    try:
        rows = rt.catalog.chunks()
        # The chunk that holds the sentence's start ends before its date.
        cut = next(r for r in rows if "DATES:" in r.text)
        assert "DATES:" in cut.text and "2020" not in cut.text

        def script(messages: Messages) -> str:
            said = str(messages[0]["content"])  # the reply so far, begun for the model
            if said.endswith('2020."\n'):  # its quote, finished from the page
                return "Answer: By September 21, 2020 [1]."
            return '1]: "DATES: The agency must receive comments on this'

        with ScriptedLLMServer(script) as server:
            llm = ChatLLM(server.base_url, server.model, None, template=TEMPLATE)
            answerer = Answerer(Retriever(rt.catalog, rt.store, rt.models), llm)
            answer = answerer.ask(
                "By what date must the agency receive comments?",
                config=RetrievalConfig(rerank=False, top_k=3),
            )
    finally:
        rt.close()
    assert answer.mode == "llm" and not answer.declined, answer.verdict
    (quote,) = answer.quotes
    assert quote.text.endswith("by September 21, 2020")
    source = answer.sources[quote.number - 1]
    assert source.point_id == cut.point_id and source.grown > 0
    assert source.text[quote.start : quote.end] == quote.text


def _document(catalog: Catalog, doc_id: str) -> list[Hit]:
    """A document whose first chunk is its cover, on page 1; its other chunks on page 2."""
    cover = "The Rule for Airplanes\nJane Smith\nFebruary 2004"
    body = ["The rule applies to every airplane.", "Comments are due in March."]
    chunks = [Chunk(doc_id=doc_id, chunk_no=0, page=1, start=0, end=len(cover), text=cover)]
    at = 0
    for n, text in enumerate(body, start=1):
        chunks.append(
            Chunk(doc_id=doc_id, chunk_no=n, page=2, start=at, end=at + len(text), text=text)
        )
        at += len(text) + 1
    return stored(catalog, chunks)


def test_a_question_about_who_wrote_a_document_or_when_gets_its_first_page(
    catalog: Catalog,
) -> None:
    cover, rule, comments = _document(catalog, "a")
    hits = [comments, rule]
    for question in ("Who wrote the rule for airplanes?", "When was the rule published?"):
        out, notes = with_title_pages(question, hits, catalog)
        # After the document's best passage: the cover is that document's.
        assert [h.point_id for h in out] == [comments.point_id, cover.point_id, rule.point_id]
        assert out[1].text.endswith("February 2004") and out[1].page == 1
        assert len(notes) == 1 and "rule.pdf (page 1)" in notes[0]
    # Another question, or a cover already retrieved: nothing is added.
    assert with_title_pages("What does the rule apply to?", hits, catalog) == (tuple(hits), ())
    assert with_title_pages("Who wrote it?", [cover, rule], catalog) == ((cover, rule), ())


def test_only_the_two_best_documents_get_their_first_page(catalog: Catalog) -> None:
    firsts = [_document(catalog, doc)[1] for doc in ("a", "b", "c")]
    out, notes = with_title_pages("Who authored these?", firsts, catalog)
    assert [h.doc_id for h in out] == ["a", "a", "b", "b", "c"] and len(notes) == 2


def _library(catalog: Catalog, names: dict[str, str]) -> dict[str, Hit]:
    """One document a file name (by id), and a retrieved passage of each."""
    hits = {}
    for doc_id, name in names.items():
        catalog.upsert_document(make_doc(doc_id, name))
        text = f"A passage of {name}."
        chunk = Chunk(doc_id=doc_id, chunk_no=0, page=1, start=0, end=len(text), text=text)
        catalog.replace_chunks(doc_id, [chunk], embed_model="hash-384", stats={"pages": 1})
        hits[doc_id] = catalog.chunks(doc_id)[0].to_hit(name)
    return hits


def test_a_file_names_words_are_its_letters_and_digits_apart() -> None:
    assert name_words("nist_fips199.pdf") == {"nist", "fip", "199"}  # "FIPS" is stemmed so too
    assert {"sp", "800", "207", "zero", "trust"} <= name_words("nist_sp800-207_zero_trust.pdf")


def test_a_question_names_the_document_whose_file_alone_holds_its_acronym_or_number(
    catalog: Catalog,
) -> None:
    hits = _library(
        catalog,
        {
            "fips": "nist_fips199.pdf",
            "cvss": "nistir7435_cvss.pdf",
            "zta": "nist_sp800-207_zero_trust.pdf",
            "cloud": "nist_sp800-145_cloud_definition.pdf",
            "faa": "faa_handbook.pdf",
            "rule": "federal_register_2020-17221.pdf",
        },
    )
    fips, cvss, zta, cloud = hits["fips"], hits["cvss"], hits["zta"], hits["cloud"]
    asked = "What does a loss of integrity mean in FIPS 199?"
    assert named_documents(asked, [fips, cvss], catalog) == {"fips"}
    # "SP" and "800" name two files; "207" names one.
    assert named_documents("What is a trust zone in SP 800-207?", [zta, cloud], catalog) == {"zta"}
    # Both named, when the question is about both.
    both = "How does the CVSS report (NISTIR 7435) use FIPS 199?"
    assert named_documents(both, [cvss, fips], catalog) == {"cvss", "fips"}
    # "NIST" is in several files' names: it names none.
    assert (
        named_documents("Which NIST publications did Peter Mell write?", [cloud], catalog) == set()
    )
    # Search must agree: "FAA" matches the handbook's name, but the notice ranked first.
    notice = "By what date must the FAA receive comments on the 737 MAX rule?"
    assert named_documents(notice, [hits["rule"], hits["faa"]], catalog) == set()
    # A name with a number is taken when search retrieved the document, first or not.
    assert named_documents(asked, [cvss, fips], catalog) == {"fips"}
    assert named_documents(asked, [cvss], catalog) == set()
    assert named_documents("what is integrity?", [fips], catalog) == set()


def test_a_named_document_ranked_below_another_is_searched_on_its_own(catalog: Catalog) -> None:
    hits = _library(catalog, {"fips": "nist_fips199.pdf", "cvss": "nistir7435_cvss.pdf"})
    fips, cvss = hits["fips"], hits["cvss"]
    own = replace(fips, point_id="fips-page-8", page=8)
    asked: list[tuple[str, ...]] = []

    def search(docs: tuple[str, ...]) -> list[Hit]:
        asked.append(docs)
        return [own, fips]

    # Search ranked the report that mentions FIPS 199 first: FIPS 199's own best passages lead,
    # each passage once, the others after them.
    assert with_named_passages([cvss, fips], {"fips"}, search) == (own, fips, cvss)
    assert asked == [("fips",)]
    # Ranked first already, or nothing named: no second search.
    assert with_named_passages([fips, cvss], {"fips"}, search) == (fips, cvss)
    assert with_named_passages([cvss, fips], set(), search) == (cvss, fips)
    assert asked == [("fips",)]
