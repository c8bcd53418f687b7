"""Conversations on the Chat page: kept in the catalog, found again after a reload, renamed,
deleted and exported; an answer outlives the documents it cites."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from app import browser_session, render, resources
from app.views import chat
from ragcore import conversations, library
from ragcore.conversations import Feedback
from ragcore.runtime import Runtime, chunking_params
from ragcore.testing.documents import make_text_pdf
from tests.app.conftest import APP_MAIN, EXTRACTIVE, make_runtime

SESSION = "test-session-key-0001"
QUESTION = "How often does the pump need oil?"
OIL = "the pump needs fresh oil every 200 hours of running time"


@pytest.fixture
def manual(runtime: Runtime, ingest_all: Callable[[], None], tmp_path: Path) -> str:
    """A two-page manual in the library; returns its document id."""
    pdf = make_text_pdf(
        tmp_path / "pump manual.pdf",
        ["Contents and warranty terms.", f"Maintenance: {OIL}."],
    )
    added = library.add_file(
        runtime.catalog, runtime.settings.uploads_dir, pdf, chunking_params(runtime.settings)
    )
    ingest_all()
    return added.document.id


def _open_chat(at: AppTest, **params: str) -> AppTest:
    at.query_params.update({browser_session.PARAM: SESSION} | params)
    at.run()
    at.switch_page("views/chat.py").run()
    assert not at.exception
    return at


def _ask(at: AppTest, question: str = QUESTION) -> None:
    at.chat_input[0].set_value(question).run()
    assert not at.exception


def _answers(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith('<div class="answer">')]


def _sidebar_titles(at: AppTest) -> list[str]:
    return [b.label for b in at.sidebar.button if b.key and b.key.startswith("chat_open_")]


def _only_conversation(runtime: Runtime) -> conversations.Conversation:
    [chat_] = conversations.list_for(runtime.catalog, SESSION)
    return chat_


def test_a_conversation_is_kept_and_found_again_after_a_reload(
    app: AppTest, runtime: Runtime, manual: str
) -> None:
    _open_chat(app)
    assert _sidebar_titles(app) == []  # nothing is stored before the first question
    _ask(app)
    stored = _only_conversation(runtime)
    assert stored.title == QUESTION and stored.user_id is None
    assert _sidebar_titles(app) == [render.md_escape(QUESTION)]
    # The address names the session and the conversation, so a reload finds both.
    assert app.query_params[browser_session.PARAM] == SESSION
    assert app.query_params[chat.CONVERSATION_PARAM] == str(stored.id)
    _ask(app, "What are the warranty terms?")
    assert len(_answers(app)) == 2

    # A reload: a new browser session state, the same address.
    reloaded = _open_chat(AppTest.from_file(APP_MAIN, default_timeout=30), c=str(stored.id))
    assert len(_answers(reloaded)) == 2
    assert "200 hours" in _answers(reloaded)[0]
    users = [m for m in reloaded.chat_message if m.name == "user"]
    assert [u.markdown[0].value for u in users] == [
        render.md_escape(QUESTION),
        render.md_escape("What are the warranty terms?"),
    ]
    # A follow-up in the reloaded page goes on in the same conversation.
    _ask(reloaded, "And the filter?")
    _, turns = conversations.load(runtime.catalog, SESSION, stored.id)
    assert [t.question for t in turns][-1] == "And the filter?" and len(turns) == 3

    # Only the session key in the address: the conversation is listed, and opens on a click.
    listed = _open_chat(AppTest.from_file(APP_MAIN, default_timeout=30))
    assert _answers(listed) == []
    listed.sidebar.button(key=f"chat_open_{stored.id}").click().run()
    assert len(_answers(listed)) == 3

    # Another browser (another key) sees none of it.
    other = AppTest.from_file(APP_MAIN, default_timeout=30)
    other.query_params[browser_session.PARAM] = "another-browser-key-42"
    other.run()
    other.switch_page("views/chat.py").run()
    assert _sidebar_titles(other) == [] and _answers(other) == []


def test_a_conversation_survives_an_app_restart(
    app: AppTest, runtime: Runtime, manual: str
) -> None:
    _open_chat(app)
    _ask(app)
    stored = _only_conversation(runtime)
    answered = _answers(app)
    # The app stops (its catalog and store closed) and starts again on the same data folder.
    resources.use_providers(None)
    runtime.close()
    restarted = make_runtime(runtime.settings.data_dir)
    resources.use_providers(
        resources.Providers(
            settings=lambda: restarted.settings,
            runtime=lambda _settings: restarted,
            llm=lambda _settings: EXTRACTIVE,
            background_worker=False,
        )
    )
    try:
        at = _open_chat(AppTest.from_file(APP_MAIN, default_timeout=30), c=str(stored.id))
        assert _answers(at) == answered
        assert _sidebar_titles(at) == [render.md_escape(QUESTION)]
    finally:
        resources.use_providers(None)
        restarted.close()


def test_a_new_browser_gets_a_session_key_in_its_address(app: AppTest) -> None:
    app.run()
    key = app.query_params[browser_session.PARAM]
    assert isinstance(key, str) and len(key) >= 16
    app.switch_page("views/chat.py").run()
    assert app.query_params[browser_session.PARAM] == key  # kept across pages
    app.switch_page("views/library.py").run()
    assert app.query_params[browser_session.PARAM] == key

    # A key cut short or typed by hand is not taken: the browser gets a new one.
    typed = AppTest.from_file(APP_MAIN, default_timeout=30)
    typed.query_params[browser_session.PARAM] = "abc"
    typed.run()
    assert typed.query_params[browser_session.PARAM] not in ("abc", key)
    assert len(typed.query_params[browser_session.PARAM]) >= 16


def test_new_rename_and_delete_from_the_sidebar(
    app: AppTest, runtime: Runtime, manual: str
) -> None:
    _open_chat(app)
    _ask(app)
    first = _only_conversation(runtime)

    app.sidebar.button(key="chat_new").click().run()
    assert _answers(app) == [] and chat.CONVERSATION_PARAM not in app.query_params
    _ask(app, "What are the warranty terms?")
    assert len(conversations.list_for(runtime.catalog, SESSION)) == 2
    assert len(_answers(app)) == 1  # the new conversation holds only its own question

    app.sidebar.button(key=f"chat_open_{first.id}").click().run()
    assert len(_answers(app)) == 1 and "200 hours" in _answers(app)[0]
    app.sidebar.text_input(key=f"chat_title_{first.id}").set_value("Pump oil").run()
    app.sidebar.button(key="chat_rename").click().run()
    assert not app.exception
    assert conversations.load(runtime.catalog, SESSION, first.id)[0].title == "Pump oil"
    assert "Pump oil" in _sidebar_titles(app)

    app.sidebar.button(key="chat_delete").click().run()
    assert not app.exception
    assert _answers(app) == []
    assert [c.title for c in conversations.list_for(runtime.catalog, SESSION)] == [
        "What are the warranty terms?"
    ]
    assert "Pump oil" not in _sidebar_titles(app)
    assert chat.CONVERSATION_PARAM not in app.query_params


def test_export_gives_the_conversation_as_markdown(
    app: AppTest, runtime: Runtime, manual: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered: list[dict[str, Any]] = []
    real = streamlit.download_button

    def download_button(label: str, data: Any, **kwargs: Any) -> bool:
        offered.append({"label": label, "data": data} | kwargs)
        return real(label, data, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", download_button)
    _open_chat(app)
    _ask(app)
    assert app.sidebar.get("download_button")  # the button is drawn
    markdown = offered[-1]["data"]
    assert offered[-1]["file_name"] == "How-often-does-the-pump-need-oil.md"
    assert markdown.startswith(f"# {QUESTION}\n")
    assert f"## 1. {QUESTION}" in markdown
    assert "200 hours" in markdown
    # Every citation resolved: file and location in the source line, the passage quoted.
    assert "- **[1] pump manual.pdf, page 2" in markdown
    assert "> Maintenance: the pump needs fresh oil every 200 hours" in markdown


def test_an_answer_outlives_its_deleted_document(
    app: AppTest, runtime: Runtime, manual: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _open_chat(app)
    _ask(app)
    before = _answers(app)[0]
    stored = _only_conversation(runtime)

    library.delete_document(runtime.catalog, runtime.store, manual)
    # A reload of the page after the delete.
    reloaded = _open_chat(AppTest.from_file(APP_MAIN, default_timeout=30), c=str(stored.id))
    assert _answers(reloaded) == [before]  # the same text, citations and all
    # Every card says the document is gone, and opened shows the passage as answered from.
    reloaded.session_state[render.anchor_id("t1", 1)] = True
    reloaded.run()
    assert not reloaded.exception
    cards = [e for e in reloaded.expander if e.label.startswith("\\[")]
    assert cards and all("Document deleted" in c.info[0].value for c in cards)
    passages = [m.value for m in cards[0].markdown if 'class="passage"' in m.value]
    assert any("200 hours" in p for p in passages)

    markdown = chat.export_of(
        runtime, stored, conversations.load(runtime.catalog, SESSION, stored.id)[1]
    )
    assert "(document deleted)" in markdown and "200 hours" in markdown


def test_thumbs_are_kept_with_the_turn(app: AppTest, runtime: Runtime, manual: str) -> None:
    _open_chat(app)
    _ask(app)
    stored = _only_conversation(runtime)
    [thumbs] = app.feedback
    thumbs.set_value(1).run()
    assert not app.exception
    [turn] = conversations.load(runtime.catalog, SESSION, stored.id)[1]
    assert turn.feedback == Feedback.UP

    reloaded = _open_chat(AppTest.from_file(APP_MAIN, default_timeout=30), c=str(stored.id))
    assert [f.value for f in reloaded.feedback] == [1]
    reloaded.feedback[0].set_value(0).run()
    [turn] = conversations.load(runtime.catalog, SESSION, stored.id)[1]
    assert turn.feedback == Feedback.DOWN


def test_regenerate_edit_and_copy_an_answer(app: AppTest, runtime: Runtime, manual: str) -> None:
    _open_chat(app)
    _ask(app)
    prefix = f"c{_only_conversation(runtime).id}-{chat.prefix_of(0)}"
    # Copy: the answer as Markdown, its [n] resolved to the file and the passage read.
    copied = [c.value for c in app.code if "pump manual.pdf" in c.value]
    assert copied and OIL.split()[2] in copied[0]
    # Regenerate: the same question asked again, as a new turn kept with the conversation.
    app.button(key=f"{prefix}-again").click().run()
    assert not app.exception
    stored = conversations.load(runtime.catalog, SESSION, _only_conversation(runtime).id)[1]
    assert [t.question for t in stored] == [QUESTION, QUESTION]
    assert len(_answers(app)) == 2
    # Edit: another question in the first one's place in the conversation's history.
    app.text_area(key=f"{prefix}-eq").set_value("What are the warranty terms?")
    app.button(key=f"FormSubmitter:{prefix}-edit-question-Ask").click().run()
    assert not app.exception
    stored = conversations.load(runtime.catalog, SESSION, _only_conversation(runtime).id)[1]
    assert [t.question for t in stored][-1] == "What are the warranty terms?"
    assert len(_answers(app)) == 3
