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
    assert terms == ["essenti", "characterist", "cloud", "comput"]


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


def test_passage_html_marks_quotes_and_read_sentences_without_unescaping() -> None:
    text = "  Intro <b>x</b>. The pump needs oil every 200 hours.\nOther <i>line</i>.  "
    start = text.index("The pump")
    quote = (start, text.index(" every"))
    read = (start, text.index("\nOther"))
    out = render.passage_html(text, ["pump"], quotes=[quote], read=[read])
    assert "<b>" not in out and "<i>" not in out and "&lt;b&gt;x&lt;/b&gt;" in out
    assert out == (
        '<div class="passage" style="line-height:1.5">Intro &lt;b&gt;x&lt;/b&gt;. '
        f'<span class="read" style="{render.READ_STYLE}">'
        f'<mark class="quote" style="{render.QUOTE_STYLE}">The <mark>pump</mark> needs oil</mark>'
        " every 200 hours.</span><br>Other &lt;i&gt;line&lt;/i&gt;.</div>"
    )
    # A passage read whole is not shaded; spans outside the text are dropped.
    whole = render.passage_html("a b", [], read=[(0, 3)], quotes=[(10, 20)])
    assert whole == '<div class="passage" style="line-height:1.5">a b</div>'


def test_read_all_ignores_the_spaces_between_sentences() -> None:
    text = "One. Two.  Three."
    assert render.read_all(text, [(0, 4), (5, 9), (11, 17)])
    assert not render.read_all(text, [(0, 4), (11, 17)])
    assert render.read_all("  a  ", [(2, 3)])
    assert not render.read_all("a", [])


def test_quote_and_model_reply_are_inert() -> None:
    quote = render.quote_html("Oil <script>x</script>\n every [2] hours", 3, anchor_prefix="t5")
    assert quote.startswith('<blockquote class="verified-quote"')
    assert "<script>" not in quote and "&lt;script&gt;" in quote
    assert "“Oil &lt;script&gt;x&lt;/script&gt; every [2] hours” " in quote
    assert quote.endswith(
        '<a href="#t5-src-3" title="open source 3" '
        'style="text-decoration:none;font-weight:600">[3]</a></blockquote>'
    )
    reply = render.plain_html('Quote [1]: "<img src=x>"\nAnswer: **50** [1]', css_class="m")
    assert reply == (
        '<div class="m" style="white-space:pre-wrap">Quote [1]: &quot;&lt;img src=x&gt;&quot;'
        "<br>Answer: **50** [1]</div>"
    )


def test_quote_caption_says_exact_or_how_close() -> None:
    assert render.quote_caption("a_b.pdf", "page 4", 100.0) == (
        "Quoted from a\\_b\\.pdf, page 4 — found on the page (exact)"
    )
    assert render.quote_caption("m.pdf", "page 2", 93.6, cited=1).endswith(
        "(close match, 94%); the model named source [1]"
    )


def test_quote_caption_says_a_table_row_is_not_the_models_wording() -> None:
    caption = render.quote_caption("warn.pdf", "page 3", 0.0, row=True)
    assert caption == (
        "Quoted from warn\\.pdf, page 3 — found on the page (a table row holding its numbers, "
        "written by the model as a sentence)"
    )


def test_quote_caption_names_a_location_other_than_a_page() -> None:
    assert render.quote_caption("budget.xlsx", "sheet Q3, rows 12–40", 100.0) == (
        "Quoted from budget\\.xlsx, sheet Q3, rows 12–40 — found in the passage (exact)"
    )
    assert render.quote_caption("deck.pptx", "slide 4, Roadmap", 100.0).startswith(
        "Quoted from deck\\.pptx, slide 4, Roadmap — found in"
    )


def test_stage_text_names_each_stage_with_the_time_so_far() -> None:
    assert render.stage_text("", 0.2) == "Preparing the answer…"
    assert render.stage_text("waiting: 2 answers ahead of this one", 4.4) == (
        "Waiting for the model: 2 answers ahead of this one (another conversation's)… 4 s"
    )
    assert render.stage_text("reading 3 sources", 2.6, prompt_tokens=181.0) == (
        "Reading 3 sources (≈ 181 tokens)… 3 s"
    )
    assert render.stage_text("writing", 7).startswith("Writing — checked against")


def test_split_long_cuts_at_a_word() -> None:
    assert render.split_long("short", 10) == ("short", "")
    shown, rest = render.split_long("one two three four", 9)
    assert (shown, rest) == ("one two", " three four")
    assert render.split_long("x" * 20, 8) == ("x" * 8, "x" * 12)


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
    # Counts are not milliseconds: the prompt's size stays out of the bars.
    rows = render.latency_rows({"prompt_tokens": 180.0, "queue": 800.0, "total": 900.0})
    assert [r["stage"] for r in rows] == ["wait for the model", "total"]


def test_latency_title_gives_the_first_token_from_the_question() -> None:
    # Streaming began 1000 ms after the question (search), its first token 1100 ms later.
    timings = {
        "bm25": 20.0,
        "first_token": 1100.0,
        "generate": 2000.0,
        "check": 50.0,
        "total": 3050.0,
        "prompt_tokens": 180.0,
    }
    assert render.first_token_seconds(timings) == 2.1
    assert render.latency_title(timings) == (
        "Latency: first token 2.1 s · 3.0 s in all · ≈ 180 prompt tokens"
    )
    assert render.first_token_seconds({"total": 300.0}) is None
    assert render.latency_title({"total": 5000.0, "queue": 4200.0}) == (
        "Latency: 5.0 s in all · 4.2 s waiting for the model"
    )


def test_a_claimed_job_that_has_not_begun_shows_as_queued() -> None:
    claimed = JobRecord(id=4, doc_id="d", kind="ingest", status="running", stage="queued")
    assert render.job_view(claimed).label == "queued"


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
