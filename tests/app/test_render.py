"""Rendering helpers: escaping before highlighting, citation links, evidence and latency rows."""

from __future__ import annotations

from app import render
from ragcore.catalog import JobRecord
from ragcore.generation.citations import Citation
from ragcore.types import Evidence


def _citation(number: int, supported: bool) -> Citation:
    return Citation(number, "p", "d", "f.pdf", 1, supported, 1.0 if supported else 0.1, ("s",))


def test_question_terms_drop_stop_words_and_fold_inflections() -> None:
    terms = render.question_terms("What are the essential characteristics of cloud computing?")
    assert terms == ["essential", "characteristic", "cloud", "comput"]


def test_highlight_escapes_first_and_never_marks_inside_entities() -> None:
    out = render.highlight(
        '<script>alert("lt & amp")</script> Cloud computers', ["script", "amp", "cloud", "comput"]
    )
    assert out == (
        "&lt;<mark>script</mark>&gt;alert(&quot;lt &amp; <mark>amp</mark>&quot;)&lt;/<mark>script</mark>&gt; "
        "<mark>Cloud</mark> <mark>computers</mark>"
    )
    assert render.highlight("a < b", []) == "a &lt; b"
    assert render.highlight('say " here', ["quot"]) == "say &quot; here"


def test_passage_html_has_no_blank_line_to_escape_the_html_block() -> None:
    out = render.passage_html("one\n\n<img src=x onerror=alert(1)>\ntwo", ["two"])
    assert "\n" not in out
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert out.endswith("<mark>two</mark></div>")


def test_cited_answer_links_each_number_and_flags_unsupported_ones() -> None:
    text = "Oil every 200 hours [1]. Made up <b>claim</b> [2, 3]."
    out = render.cited_answer_html(
        text, [_citation(1, True), _citation(2, False), _citation(3, True)], anchor_prefix="t4"
    )
    assert '<a href="#t4-src-1"' in out and ">[1]</a>" in out
    assert '<a href="#t4-src-2"' in out and "[2&#8202;⚠]" in out
    assert '<a href="#t4-src-3"' in out
    assert "&lt;b&gt;claim&lt;/b&gt;" in out and "<b>" not in out


def test_cited_answer_shows_document_markup_as_text() -> None:
    # An extractive answer quotes documents verbatim, so whatever they hold reaches this.
    text = (
        "Quoted:\n"
        '- <script>window.__pwned = 1</script> <img src=x onerror="alert(2)"> <b>bold</b> [1]\n'
        "- [click me](javascript:alert(1)) ![pic](http://127.0.0.1:9/x.png) [1]\n"
        "- ### Heading :red[alarm] $x^2$ **strong** `code` [2]\n"
        "\n"
        "> quoted | table |"
    )
    out = render.cited_answer_html(text, [_citation(1, True)], anchor_prefix="t1")
    # One HTML block with no line break: Markdown (and Streamlit's :color[] and $math$
    # extensions) never sees any of the text.
    assert out.startswith('<div class="answer">') and out.endswith("</div>")
    assert "\n" not in out
    for markup in ("<script", "<img", "<b>", "<h3", "<strong", "<code", "<blockquote", "<table"):
        assert markup not in out
    assert "javascript:alert(1))" in out and 'href="javascript' not in out
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in out
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in out
    assert "[click me](javascript:alert(1)) ![pic](http://127.0.0.1:9/x.png) <a href=" in out
    assert '### Heading :red[alarm] $x^2$ **strong** `code` <a href="#t1-src-2"' in out
    assert "<p>&gt; quoted | table |</p>" in out
    assert out.count('href="#t1-src-1"') == 2


def test_cited_answer_keeps_paragraphs_line_breaks_and_lists() -> None:
    text = "Intro line\nsecond line\n\n- one [1]\n  wrapped\n* two\n\n3. three\n4) four\nAfter"
    out = render.cited_answer_html(text, [], anchor_prefix="t2")
    assert out == (
        '<div class="answer"><p>Intro line<br>second line</p>'
        '<ul><li>one <a href="#t2-src-1" title="open source 1" '
        'style="text-decoration:none;font-weight:600">[1]</a><br>wrapped</li><li>two</li></ul>'
        '<ol start="3"><li>three</li><li>four</li></ol><p>After</p></div>'
    )
    assert render.cited_answer_html("", [], anchor_prefix="t3") == '<div class="answer"></div>'


def test_evidence_rows_show_every_signal_with_dashes_for_missing_ones() -> None:
    rows = render.evidence_rows(
        Evidence(bm25_rank=2, bm25_score=7.25, fused_rank=1, fused_score=0.0325)
    )
    table = {r["signal"]: (r["rank"], r["score"]) for r in rows}
    assert table["BM25 (keywords)"] == ("2", "7.250")
    assert table["text vector"] == ("—", "—")
    assert table["image vector"] == ("—", "—")
    assert table["fused (RRF)"] == ("1", "0.0325")
    assert table["rerank"] == ("—", "—")


def test_latency_rows_follow_the_pipeline_order() -> None:
    rows = render.latency_rows({"total": 90.0, "bm25": 3.0, "encode": 12.345, "check": 1.0})
    assert [r["stage"] for r in rows] == ["encode", "BM25", "check citations", "total"]
    assert rows[0]["ms"] == 12.3


def test_job_view_names_the_stage_and_the_failure() -> None:
    running = JobRecord(
        id=1, doc_id="d", kind="ingest", status="running", stage="embedding", progress=0.5
    )
    assert render.job_view(running).label == "embedding (50%)"
    assert render.job_view(running).fraction == 0.5
    failed = JobRecord(id=2, doc_id="d", kind="ingest", status="failed", error="the PDF is damaged")
    view = render.job_view(failed)
    assert view.failed and view.label == "failed: the PDF is damaged"
    assert (
        render.job_view(JobRecord(id=3, doc_id="d", kind="ingest", status="done")).label == "ready"
    )


def test_md_escape_makes_file_names_inert() -> None:
    assert render.md_escape("**bold** [x](y).pdf") == "\\*\\*bold\\*\\* \\[x\\]\\(y\\)\\.pdf"
