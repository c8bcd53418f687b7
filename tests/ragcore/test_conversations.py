"""Conversations in the catalog: stored with their answers, reloaded as shown, exported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ragcore import conversations
from ragcore.catalog import Catalog, ConversationNotFound
from ragcore.conversations import Feedback, Turn
from tests.ragcore.sample_answer import OIL, sample_answer

SESSION = "session-a"


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    return tmp_path / "catalog.sqlite3"


def test_an_answer_without_excerpts_reloads_reading_the_same_spans(catalog_path: Path) -> None:
    answer = replace(sample_answer(), excerpts=(), quotes=())
    with Catalog(catalog_path) as catalog:
        chat = conversations.create(catalog, SESSION)
        conversations.append(catalog, SESSION, chat.id, Turn(answer.question, answer))
        _, [turn] = conversations.load(catalog, SESSION, chat.id)
    assert turn.answer is not None
    for number in (1, 2):
        assert turn.answer.excerpt_spans(number) == answer.excerpt_spans(number)


def test_stops_edits_and_feedback_are_kept(catalog_path: Path) -> None:
    with Catalog(catalog_path) as catalog:
        chat = conversations.create(catalog, SESSION, "Pump")
        stopped = Turn("q", stopped=True, draft="Every 2", standalone="pump oil interval")
        stored = conversations.append(catalog, SESSION, chat.id, stopped)
        conversations.set_feedback(catalog, SESSION, chat.id, stored.position, Feedback.DOWN)
        _, [turn] = conversations.load(catalog, SESSION, chat.id)
        assert turn == Turn(
            "q",
            stopped=True,
            draft="Every 2",
            standalone="pump oil interval",
            feedback=Feedback.DOWN,
            position=0,
        )
        conversations.set_feedback(catalog, SESSION, chat.id, 0, None)
        assert conversations.load(catalog, SESSION, chat.id)[1][0].feedback is None
        assert conversations.load(catalog, SESSION, chat.id)[0].title == "Pump"
        with pytest.raises(ConversationNotFound):
            conversations.set_feedback(catalog, SESSION, chat.id, 5, Feedback.UP)


def test_rename_delete_and_sessions_keep_to_their_own(catalog_path: Path) -> None:
    with Catalog(catalog_path) as catalog:
        older = conversations.create(catalog, SESSION, "first")
        newer = conversations.create(catalog, SESSION, "second")
        theirs = conversations.create(catalog, "session-b", "theirs")
        conversations.append(catalog, SESSION, newer.id, Turn("q"))

        renamed = conversations.rename(catalog, SESSION, older.id, "  Pump   maintenance ")
        assert renamed.title == "Pump maintenance"
        # Renaming counts as use: the most recently used comes first.
        assert [c.id for c in conversations.list_for(catalog, SESSION)] == [older.id, newer.id]
        with pytest.raises(ValueError, match="words"):
            conversations.rename(catalog, SESSION, older.id, "   ")

        # Another session can neither see, rename nor delete them.
        assert [c.id for c in conversations.list_for(catalog, "session-b")] == [theirs.id]
        with pytest.raises(ConversationNotFound):
            conversations.rename(catalog, "session-b", older.id, "mine now")
        with pytest.raises(ConversationNotFound):
            conversations.load(catalog, "session-b", newer.id)
        assert not conversations.delete(catalog, "session-b", newer.id)

        assert conversations.delete(catalog, SESSION, newer.id)
        assert [c.id for c in conversations.list_for(catalog, SESSION)] == [older.id]
        with pytest.raises(ConversationNotFound):
            conversations.load(catalog, SESSION, newer.id)
        with pytest.raises(ConversationNotFound):
            conversations.append(catalog, SESSION, newer.id, Turn("q"))
        # Its turns went with it.
        assert catalog._open_connection().execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 0


def test_export_resolves_every_citation_to_file_location_and_quote(catalog_path: Path) -> None:
    answer = sample_answer()
    with Catalog(catalog_path) as catalog:
        chat = conversations.create(catalog, SESSION)
        conversations.append(catalog, SESSION, chat.id, Turn(answer.question, answer))
        conversations.append(catalog, SESSION, chat.id, Turn("q2", error="too long"))
        chat, turns = conversations.load(catalog, SESSION, chat.id)
    markdown = conversations.export_markdown(chat, turns)
    assert markdown.startswith(f"# {answer.question}\n")
    assert f"## 1. {answer.question}" in markdown
    assert "Every 200 hours [1]." in markdown
    assert "**[1] manual.pdf, page 2, Maintenance**" in markdown
    assert f"> {OIL}" in markdown  # the verified quote, not the whole passage
    assert "Contents and warranty" not in markdown
    assert "notes.pdf" not in markdown  # shown to the model, but not cited
    assert "model: tiny-model" in markdown
    assert "## 2. q2" in markdown and "_No answer: too long_" in markdown
    assert "document deleted" not in markdown


def test_a_deleted_document_leaves_the_answer_readable(catalog_path: Path) -> None:
    """Turns keep their sources' text: no document row is needed to show or export them."""
    answer = sample_answer()
    with Catalog(catalog_path) as catalog:
        assert catalog.get_document("manual") is None  # never in this library at all
        chat = conversations.create(catalog, SESSION)
        conversations.append(catalog, SESSION, chat.id, Turn(answer.question, answer))
        chat, [turn] = conversations.load(catalog, SESSION, chat.id)
    assert turn.answer is not None and turn.answer.sources[0].text == answer.sources[0].text
    markdown = conversations.export_markdown(chat, [turn], deleted={"manual"})
    assert "**[1] manual.pdf, page 2, Maintenance (document deleted)**" in markdown
    assert f"> {OIL}" in markdown


def test_export_without_quotes_gives_what_the_model_read() -> None:
    answer = replace(sample_answer(), quotes=(), excerpts=())
    chat = conversations.Conversation(1, SESSION, "Pump", 0.0, 0.0)
    markdown = conversations.export_markdown(chat, [Turn(answer.question, answer)])
    assert f"> Contents and warranty terms. {OIL}" in markdown


def test_the_collection_searched_is_kept_with_each_turn_and_exported(catalog_path: Path) -> None:
    papers = conversations.SearchedIn(7, "Papers")
    with Catalog(catalog_path) as catalog:
        chat = conversations.create(catalog, SESSION)
        for turn in (
            Turn("How often?", answer=sample_answer(), collection=papers),
            Turn("Too long", error="refused", collection=papers),  # kept without an answer too
            Turn("And everywhere?", answer=sample_answer()),
        ):
            conversations.append(catalog, SESSION, chat.id, turn)
    with Catalog(catalog_path) as catalog:
        chat, turns = conversations.load(catalog, SESSION, chat.id)
    assert [t.collection for t in turns] == [papers, papers, None]
    assert turns[0].answer == sample_answer()  # the scope is kept beside the answer, not in it
    exported = conversations.export_markdown(chat, turns, now=0)
    assert exported.count("_Searched in the collection Papers._") == 2
