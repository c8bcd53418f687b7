"""The Chat page: a question streams an answer whose citations open source cards with evidence."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ragcore import library
from ragcore.generation.llm import ChatLLM
from ragcore.runtime import LLMChoice, Runtime, chunking_params
from ragcore.testing.documents import make_text_pdf
from ragcore.testing.llm_server import ScriptedLLMServer

PUMP_PAGES = [
    "Contents and warranty terms.",
    "Maintenance: the pump needs fresh oil every 200 hours of running time.",
]


@pytest.fixture
def library_ready(runtime: Runtime, ingest_all: Callable[[], None], tmp_path: Path) -> None:
    params = chunking_params(runtime.settings)
    pdf = make_text_pdf(tmp_path / "pump manual.pdf", PUMP_PAGES, image_on_page=2)
    library.add_file(runtime.catalog, runtime.settings.uploads_dir, pdf, params)
    html_doc = tmp_path / "evil.md"
    html_doc.write_text("# Widgets\n\nThe widget <script>alert('x')</script> glows <b>green</b>.\n")
    library.add_file(runtime.catalog, runtime.settings.uploads_dir, html_doc, params)
    ingest_all()


def _ask(at: AppTest, question: str) -> None:
    at.switch_page("views/chat.py").run()
    assert not at.exception
    at.chat_input[0].set_value(question).run()
    assert not at.exception


def _answer_html(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "-src-" in m.value and "<a href" in m.value)


def test_question_gets_a_cited_answer_with_source_cards(app: AppTest, library_ready: None) -> None:
    app.run()
    _ask(app, "How often does the pump need oil?")

    answer = _answer_html(app)
    assert "200 hours" in answer
    assert 'href="#t1-src-1"' in answer  # [1] links to the first source card
    assert "Extractive answer" in " ".join(c.value for c in app.caption)

    cards = [e.label for e in app.expander if e.label.startswith("\\[")]
    assert any("pump manual\\.pdf — page 2" in label and "cited" in label for label in cards)
    passages = [m.value for m in app.markdown if 'class="passage"' in m.value]
    assert any("<mark>pump</mark>" in p and "<mark>oil</mark>" in p for p in passages)
    evidence = app.table[0].value
    assert list(evidence["signal"])[:3] == ["BM25 (keywords)", "text vector", "image vector"]
    assert evidence.iloc[0]["rank"] != "—"  # "pump" and "oil" are keywords of the passage
    assert any(e.label == "What the model saw" for e in app.expander)
    assert any('<source id="1" file="pump manual.pdf" page="2">' in c.value for c in app.code)
    assert any(e.label.startswith("Latency:") for e in app.expander)
    # The figure on page 2 is a source too, and its card shows the thumbnail.
    assert any("page 2 — image" in label for label in cards)
    card = next(e for e in app.expander if "page 2 — image" in e.label)
    assert [c.type for c in card.children.values()] == ["caption", "image", "markdown", "table"]
    assert len(app.get("image")) == 1

    # The conversation is kept: a second question shows both answers.
    app.chat_input[0].set_value("What are the warranty terms?").run()
    assert len([m for m in app.chat_message if m.name == "assistant"]) == 2


def test_document_html_is_shown_escaped(app: AppTest, library_ready: None) -> None:
    app.run()
    _ask(app, "What does the widget script do?")
    passages = [m.value for m in app.markdown if 'class="passage"' in m.value]
    widget = next(p for p in passages if "glows" in p)
    assert "<script>" not in widget and "<b>" not in widget
    assert "&lt;<mark>script</mark>&gt;alert(&#x27;x&#x27;)" in widget
    assert "&lt;b&gt;green&lt;/b&gt;" in widget


def test_unsupported_citation_is_marked(
    app: AppTest, library_ready: None, use_llm: Callable[[LLMChoice], None]
) -> None:
    reply = (
        "The pump needs fresh oil every 200 hours [1]. Unicorns repair turbines on Tuesdays [1]."
    )
    with ScriptedLLMServer(reply) as server:
        use_llm(LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted test model"))
        app.run()
        _ask(app, "How often does the pump need oil?")
    answer = _answer_html(app)
    assert "every 200 hours" in answer
    assert "[1&#8202;⚠]" in answer  # the claim [1] does not back is flagged in place
    warning = " ".join(w.value for w in app.warning)
    assert "Unicorns repair turbines on Tuesdays" in warning
    assert any("not supported" in e.label for e in app.expander)


def test_not_found_shows_the_closest_passages(app: AppTest, library_ready: None) -> None:
    app.run()
    _ask(app, "Quantum chromodynamics lattice gauge?")
    texts = " ".join(m.value for m in app.markdown)
    assert "could not find" in texts
    assert any("closest passages" in c.value for c in app.caption)
    assert not any(e.label == "What the model saw" for e in app.expander)


def test_question_without_words_gets_asked_for_words(app: AppTest, library_ready: None) -> None:
    app.run()
    _ask(app, "🙂🙂 ?!")
    texts = " ".join(m.value for m in app.markdown)
    assert "ask a question with words in it" in texts
    assert not any(e.label.startswith("\\[") for e in app.expander)  # no source cards
    assert not any("closest passages" in c.value for c in app.caption)


def test_failed_llm_is_named_masked_and_the_answer_is_extractive(
    app: AppTest, library_ready: None, use_llm: Callable[[LLMChoice], None]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = ChatLLM(f"http://u:PASSWORD456@127.0.0.1:{port}/v1", "m", None, max_retries=0)
    use_llm(LLMChoice(llm, f"LLM: {llm.describe()}"))
    app.run()
    _ask(app, "How often does the pump need oil?")
    answer = _answer_html(app)
    assert "could not be used" in answer and "extractive answer" in answer
    assert "200 hours" in answer
    captions = " ".join(c.value for c in app.caption)
    assert "the language model failed" in captions
    shown = " ".join(str(e.value) for e in (*app.markdown, *app.caption))
    assert "PASSWORD456" not in shown
