"""The Chat page: a question streams an answer whose citations open source cards with evidence."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
from streamlit.testing.v1 import AppTest

from app import render
from app.views import chat
from ragcore import library
from ragcore.answering import MAX_QUESTION_CHARS, Answer, Answerer
from ragcore.conversations import Turn
from ragcore.generation.llm import ChatLLM
from ragcore.generation.queue import GenerationQueue
from ragcore.retrieval import Retriever
from ragcore.runtime import LLMChoice, Runtime, chunking_params
from ragcore.scope import Scope
from ragcore.testing.documents import make_text_pdf
from ragcore.testing.llm_server import ScriptedLLMServer
from ragcore.types import AnswerMode, Fusion

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
    """The last answer's headline."""
    answers = [m.value for m in at.markdown if m.value.startswith('<div class="answer">')]
    return answers[-1]


OIL = "the pump needs fresh oil every 200 hours of running time"


def _source_number(messages: list[dict[str, Any]], words: str) -> int:
    """The number of the source, among those the model was given, holding ``words``."""
    sources = re.findall(r'<source id="(\d+)"[^>]*>(.*?)</source>', messages[-1]["content"])
    return next(int(n) for n, text in sources if words.lower() in text.lower())


def _quoting(quote: str, answer: str) -> Callable[[list[dict[str, Any]]], str]:
    """A scripted reply in the quote-then-answer form, quoting ``quote`` from the source that
    holds the oil sentence; ``{n}`` in ``answer`` becomes that source's number."""

    def reply(messages: list[dict[str, Any]]) -> str:
        n = _source_number(messages, OIL)
        return f'Quote [{n}]: "{quote}"\nAnswer: {answer.format(n=n)}'

    return reply


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
    assert any('<file name="pump manual.pdf">\n<source id="1">' in c.value for c in app.code)
    assert any(e.label.startswith("Latency:") for e in app.expander)
    # The figure on page 2 is a source too, and its card shows the thumbnail.
    assert any("page 2 — image" in label for label in cards)
    card = next(e for e in app.expander if "page 2 — image" in e.label)
    assert [c.type for c in card.children.values()] == ["caption", "image", "markdown", "table"]
    assert len(app.get("image")) == 1

    # The conversation is kept: a second question shows both answers.
    app.chat_input[0].set_value("What are the warranty terms?").run()
    assert len([m for m in app.chat_message if m.name == "assistant"]) == 2


def test_source_cards_name_rows_and_sections_instead_of_pages(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None], tmp_path: Path
) -> None:
    """A spreadsheet row is cited by its rows, a Markdown passage by its section: no "page 1"."""
    params = chunking_params(runtime.settings)
    prices = tmp_path / "prices.csv"
    prices.write_text("item,price\nbolt,3\nturbine blade,1250\nwasher,1\n")
    notes = tmp_path / "notes.md"
    notes.write_text("# Turbines\n\n## Blades\n\nA turbine blade is inspected yearly.\n")
    for path in (prices, notes):
        library.add_file(runtime.catalog, runtime.settings.uploads_dir, path, params)
    ingest_all()
    app.run()
    _ask(app, "What does a turbine blade cost?")

    cards = {e.label: e for e in app.expander if e.label.startswith("\\[")}
    csv_card = next(e for label, e in cards.items() if "prices\\.csv" in label)
    md_card = next(e for label, e in cards.items() if "notes\\.md" in label)
    csv_caption = csv_card.caption[0].value
    assert csv_caption.startswith("**prices\\.csv** · rows ") and "page" not in csv_caption
    assert md_card.caption[0].value.startswith("**notes\\.md** · Turbines")
    assert "page" not in md_card.label


def test_document_html_is_shown_escaped(app: AppTest, library_ready: None) -> None:
    app.run()
    _ask(app, "What does the widget script do?")
    passages = [m.value for m in app.markdown if 'class="passage"' in m.value]
    widget = next(p for p in passages if "glows" in p)
    assert "<script>" not in widget and "<b>" not in widget
    assert "&lt;<mark>script</mark>&gt;alert(&#x27;x&#x27;)" in widget
    assert "&lt;b&gt;green&lt;/b&gt;" in widget


def test_verified_answer_shows_its_quote_where_it_was_found(
    app: AppTest, library_ready: None, use_llm: Callable[[LLMChoice], None]
) -> None:
    reply = _quoting(OIL, "The pump needs fresh oil every 200 hours [{n}].")
    with ScriptedLLMServer(reply) as server:
        use_llm(LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted test model"))
        app.run()
        _ask(app, "How often does the pump need oil?")
    n = _source_number(server.requests[-1].messages, OIL)
    answer = _answer_html(app)
    assert "every 200 hours" in answer and f'href="#t1-src-{n}"' in answer
    quotes = [m.value for m in app.markdown if 'class="verified-quote"' in m.value]
    assert len(quotes) == 1 and f'“{OIL}” <a href="#t1-src-{n}"' in quotes[0]
    captions = " ".join(c.value for c in app.caption)
    assert "Quoted from pump manual\\.pdf, page 2 — found on the page (exact)" in captions
    assert "Written by" in captions
    assert not any("unverified" in e.label for e in app.expander)
    # The card of the quoted source marks the quoted words, and says what the model read.
    card = next(e for e in app.expander if e.label.startswith(f"\\[{n}\\]"))
    assert "quoted" in card.label
    assert any("The model read" in c.value for c in card.caption)
    passage = next(m.value for m in card.markdown if 'class="passage"' in m.value)
    assert f'<mark class="quote" style="{render.QUOTE_STYLE}">' in passage
    assert "fresh <mark>oil</mark> every 200 hours of running time</mark>" in passage
    # Latency: the first token and the prompt's size are in the title.
    latency = next(e.label for e in app.expander if e.label.startswith("Latency:"))
    assert "first token" in latency and "in all" in latency and "prompt tokens" in latency
    # Once the answer is in, the stage line, the draft and the Stop button are gone.
    assert not any(b.label == "Stop" for b in app.button)
    assert not any('class="draft"' in m.value for m in app.markdown)
    assert not any(c.value.startswith(("Searching", "Reading", "Writing")) for c in app.caption)


def test_unsupported_citation_is_marked(
    app: AppTest, library_ready: None, use_llm: Callable[[LLMChoice], None]
) -> None:
    # The answer rests on its quote, but one of its sentences says more than the source.
    reply = _quoting(
        OIL,
        "The pump needs fresh oil every 200 hours of running time [{n}]. "
        "Unicorns repair the pump [{n}].",
    )
    with ScriptedLLMServer(reply) as server:
        use_llm(LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted test model"))
        app.run()
        _ask(app, "How often does the pump need oil?")
    answer = _answer_html(app)
    assert "every 200 hours" in answer
    assert "&#8202;⚠]" in answer  # the claim its source does not back is flagged in place
    warning = " ".join(w.value for w in app.warning)
    assert "Unicorns repair the pump" in warning
    assert any("not supported" in e.label for e in app.expander)


def _unverified(at: AppTest) -> Any:
    return next(e for e in at.expander if e.label.startswith("The model's reply"))


def test_unverified_answer_is_collapsed_under_the_documents_own_words(
    app: AppTest, library_ready: None, use_llm: Callable[[LLMChoice], None]
) -> None:
    # The quote is on the page and answers the question (a quote that matches the question
    # loosely is "not found"), but the answer gives a number the quote does not hold.
    reply = _quoting(OIL, "Every 50 hours [{n}].")
    with ScriptedLLMServer(reply) as server:
        use_llm(LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted test model"))
        app.run()
        _ask(app, "How often does the pump need fresh oil, in hours of running time?")
    headline = _answer_html(app)  # the documents' own sentence, not the model's
    assert "50 hours" not in headline and "every 200 hours of running time" in headline
    message = [m for m in app.chat_message if m.name == "assistant"][-1]
    captions = " ".join(c.value for c in message.caption)
    assert (
        "An extract from your documents, not the model's words: it gives a number its sources "
        "do not contain" in captions
    )
    unverified = _unverified(app)
    assert unverified.label == (
        "The model's reply — unverified \\(it gives a number its sources do not contain\\)"
    )
    assert not unverified.proto.expanded
    shown = " ".join(m.value for m in unverified.markdown)
    assert "Every 50 hours" in shown and 'class="model-reply"' in shown
    assert not any('class="verified-quote"' in m.value for m in app.markdown)


def test_made_up_quote_leaves_not_found_with_the_reply_collapsed(
    app: AppTest, library_ready: None, use_llm: Callable[[LLMChoice], None]
) -> None:
    # The "quote" is on no page; the test embedder finds no strong sentence to show instead.
    reply = _quoting("The pump needs oil every 50 hours", "Every 50 hours [{n}].")
    with ScriptedLLMServer(reply) as server:
        use_llm(LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted test model"))
        app.run()
        _ask(app, "How often does the pump need oil?")
    headline = _answer_html(app)
    assert "could not find this in your documents" in headline and "50 hours" not in headline
    assert any("closest passages" in c.value for c in app.caption)
    unverified = _unverified(app)
    assert "its quote is not on the cited page" in unverified.label
    assert not unverified.proto.expanded
    assert "Every 50 hours" in " ".join(m.value for m in unverified.markdown)
    assert any(e.label == "What the model saw" for e in app.expander)


def test_rewritten_question_is_shown_and_can_be_edited(
    app: AppTest, library_ready: None, use_llm: Callable[[LLMChoice], None]
) -> None:
    def script(messages: list[dict[str, Any]]) -> str:
        if "Follow-up question:" in messages[-1]["content"]:
            return "How often does the pump need fresh oil?"
        return _quoting(OIL, "Every 200 hours [{n}].")(messages)

    with ScriptedLLMServer(script) as server:
        use_llm(LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted test model"))
        app.run()
        _ask(app, "What are the warranty terms?")
        app.chat_input[0].set_value("And how often does it need it?").run()
        assert not app.exception
        captions = [c.value for c in app.caption]
        assert "Searched for: **How often does the pump need fresh oil?**" in captions
        asked = len(server.requests)

        edit = app.text_input(key="t2-edit-q")  # the second answer's
        assert edit.value == "How often does the pump need fresh oil?"
        edit.set_value("When is the pump oil changed?")
        next(b for b in app.button if b.label == "Ask again").click().run()
        assert not app.exception
        again = server.requests[asked:]
    # One request: the answer. No rewrite was asked for; the edited question was searched.
    assert len(again) == 1
    assert "Follow-up question:" not in again[0].messages[-1]["content"]
    assert "Question: When is the pump oil changed?" in again[0].messages[-1]["content"]
    assistants = [m for m in app.chat_message if m.name == "assistant"]
    assert len(assistants) == 3
    last = " ".join(c.value for c in assistants[-1].caption)
    assert "Searched for: **When is the pump oil changed?**" in last
    users = [m for m in app.chat_message if m.name == "user"]
    assert "edited search" in " ".join(c.value for c in users[-1].caption)


def test_over_long_question_gets_a_message_and_no_search(
    app: AppTest, library_ready: None, use_llm: Callable[[LLMChoice], None]
) -> None:
    question = "Why does the pump need oil? " + "Here is more context. " * 60
    assert len(question) > MAX_QUESTION_CHARS
    with ScriptedLLMServer(_quoting(OIL, "Every 200 hours [{n}].")) as server:
        use_llm(LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted test model"))
        app.run()
        _ask(app, question)
        assert not server.requests  # nothing was searched or asked
    errors = " ".join(e.value for e in app.error)
    assert f"{len(question.strip()):,} characters long" in errors
    assert f"at most {MAX_QUESTION_CHARS:,}" in errors
    assert not any(e.label.startswith("\\[") for e in app.expander)  # no source cards
    # The question is shown cut, the rest collapsed.
    rest = next(e for e in app.expander if e.label.startswith("The rest of the question"))
    assert "Here is more context" in rest.markdown[0].value
    user = next(m for m in app.chat_message if m.name == "user")
    assert len(user.markdown[0].value) < 400

    # A question of the right size afterwards is answered as usual, with no history of it.
    app.chat_input[0].set_value("How often does the pump need oil?").run()
    assert not app.exception and "200 hours" in _answer_html(app)


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


# Stop. AppTest cannot click while a run is streaming, so these drive the view's helpers over
# a real Answerer and scripted server, raising the exceptions Streamlit raises at the script's
# next Streamlit call when the person clicks Stop (a rerun) or leaves (a stop).
QUESTION = "How often does the pump need oil?"
LONG_REPLY = f'Quote [1]: "{OIL}"\nAnswer: ' + "oil " * 300
OPTIONS = {"scope": Scope(), "fusion": Fusion.RRF, "rerank": False, "top_k": 5}


@pytest.fixture
def ready_runtime(runtime: Runtime, library_ready: None) -> Iterator[Runtime]:
    yield runtime
    runtime.close()


def _answerer(rt: Runtime, server: ScriptedLLMServer, line: GenerationQueue | None = None) -> Any:
    llm = ChatLLM(server.base_url, server.model, None)
    return Answerer(
        Retriever(rt.catalog, rt.store, rt.models), llm, embedder=rt.models.text, queue=line
    )


def test_stop_mid_answer_cancels_the_request_and_keeps_what_was_written(
    ready_runtime: Runtime,
) -> None:
    stages: list[str] = []

    def on_text(text: str) -> None:
        if len(text) > 60:
            raise RerunException(RerunData())

    with ScriptedLLMServer(LONG_REPLY, delay=0.01) as server:
        stream = _answerer(ready_runtime, server).start(
            QUESTION, config=ready_runtime.settings.retrieval
        )
        pump = chat.ReplyPump(stream)
        with pytest.raises(RerunException):
            pump.run(on_stage=lambda status, _s: stages.append(status), on_text=on_text)
        asked_to_stop = time.monotonic()
        partial = pump.stop(wait_seconds=5.0)
        stopped_after = time.monotonic() - asked_to_stop
    # The rest of the reply takes over 3 s to stream; the thread ended at the next piece.
    assert stopped_after < 1.5
    assert partial is not None
    assert "stopped by the person before the model finished" in partial.notes
    assert 60 < len(pump.text) < len(LONG_REPLY)
    assert stages[0].startswith("reading")
    assert "writing" in stages


def test_stop_while_waiting_in_line_never_asks_the_model(ready_runtime: Runtime) -> None:
    line = GenerationQueue(poll_seconds=0.05)
    stages: list[str] = []

    def on_stage(status: str, _seconds: float) -> None:
        stages.append(status)
        if len(stages) == 3:
            raise StopException()

    with ScriptedLLMServer(LONG_REPLY) as server:
        stream = _answerer(ready_runtime, server, line).start(
            QUESTION, config=ready_runtime.settings.retrieval
        )
        with line.turn():  # another conversation's answer is being written
            pump = chat.ReplyPump(stream)
            with pytest.raises(StopException):
                pump.run(on_stage=on_stage, on_text=lambda _t: None, poll_seconds=0.05)
            partial = pump.stop()
            assert line.waiting == 1  # this answer left the line; the other one is served
        posts = [r for r in server.requests if r.method == "POST"]
    # The wait was said, then said again while nothing changed: those are the calls where
    # Streamlit raises a Stop, so one is heard while waiting.
    assert stages == ["waiting: 1 answer ahead of this one"] * 3
    assert not posts  # the model was never asked
    assert (
        partial is not None and "stopped by the person before the model finished" in partial.notes
    )


class _Placeholder:
    """Stands in for st.empty(): records what is drawn and raises StopException at the first
    stage line ``stop_at`` accepts, as Streamlit does at the next call after a Stop click."""

    def __init__(self, stop_at: Callable[[str], bool]) -> None:
        self.stop_at = stop_at
        self.lines: list[str] = []

    def caption(self, text: str) -> None:
        self.lines.append(text)
        if self.stop_at(text):
            raise StopException()

    def markdown(self, *_args: object, **_kwargs: object) -> None:
        pass

    def button(self, *_args: object, **_kwargs: object) -> bool:
        return False

    def empty(self) -> None:
        pass


def test_ask_saves_a_stopped_turn_and_the_page_shows_it(
    app: AppTest,
    runtime: Runtime,
    library_ready: None,
    use_llm: Callable[[LLMChoice], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    placeholder = _Placeholder(lambda line: line.startswith("Writing"))
    monkeypatch.setattr(chat.st, "empty", lambda: placeholder)
    saved: list[Turn] = []
    with ScriptedLLMServer(LONG_REPLY, delay=0.01) as server:
        use_llm(LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted test model"))
        with pytest.raises(StopException):
            chat.ask(runtime, QUESTION, OPTIONS, [], save=saved.append)
    monkeypatch.undo()
    assert placeholder.lines[0] == "Searching your documents…"
    assert any(line.startswith("Reading") for line in placeholder.lines)
    [turn] = saved
    assert turn.stopped and turn.error is None and turn.question == QUESTION
    assert turn.answer is not None
    assert "stopped by the person before the model finished" in turn.answer.notes
    assert chat.history_of([turn]) == []  # a stopped answer is no context

    # The next run shows the stopped turn as stopped, its partial reply unverified.
    app.session_state["chat"] = [turn]
    app.run()
    app.switch_page("views/chat.py").run()
    assert not app.exception
    captions = " ".join(c.value for c in app.caption)
    assert "Stopped before the answer was finished." in captions
    assert "declined" not in captions
    # Stopped at its first words, the reply holds no answer: not found, and what the model had
    # written is kept, collapsed, with why.
    assert turn.answer.model_text
    assert "stopped before the model finished" in _unverified(app).label


def test_history_keeps_answered_turns_only() -> None:
    def answered(question: str, text: str) -> Answer:
        return Answer(question, question, text, AnswerMode.EXTRACTIVE, (), (), (), (), "", {})

    turns = [
        Turn("q1", answered("q1", "a1")),
        Turn("q2" * 900, error="too long"),
        Turn("q3", answered("q3", "partial"), stopped=True),
        Turn("q4", answered("q4", "a4")),
    ]
    assert chat.history_of(turns) == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q4"),
        ("assistant", "a4"),
    ]
