"""Conversations and their turns as catalog rows; ragcore.conversations gives them their meaning."""

from __future__ import annotations

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.records import Conversation, TurnRow
from ragcore.catalog.rules import ConversationNotFound
from ragcore.catalog.steps import ConversationSteps

# The records and refusal are shared with the PostgreSQL catalog; still importable from here.
__all__ = ["Conversation", "ConversationNotFound", "ConversationsMixin", "TurnRow"]


class ConversationsMixin(CatalogDatabase, ConversationSteps):
    """The conversations half of the Catalog: its SQL; the steps are ConversationSteps'."""

    _NEW_CONVERSATION = (
        "INSERT INTO conversations (session_id, user_id, title, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) RETURNING *"
    )
    _SESSION_CONVERSATIONS = (
        "SELECT * FROM conversations WHERE session_id = ? ORDER BY updated_at DESC, id DESC"
    )
    _CONVERSATION = "SELECT * FROM conversations WHERE id = ? AND session_id = ?"
    _RENAME = (
        "UPDATE conversations SET title = ?, updated_at = ? "
        "WHERE id = ? AND session_id = ? RETURNING *"
    )
    _DELETE = "DELETE FROM conversations WHERE id = ? AND session_id = ?"
    _TOUCH = (
        "UPDATE conversations SET updated_at = ?, "
        "title = CASE WHEN title = '' THEN ? ELSE title END "
        "WHERE id = ? AND session_id = ?"
    )
    _NEW_TURN = (
        "INSERT INTO turns (conversation_id, position, question, standalone_question, "
        "answer_text, mode, sources, citations, detail, llm, timings, error, stopped, "
        "draft, edited, feedback, created_at) "
        "SELECT ?, COALESCE(MAX(position) + 1, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ? FROM turns WHERE conversation_id = ? RETURNING *"
    )
    _TURNS = "SELECT * FROM turns WHERE conversation_id = ? ORDER BY position"
    _FEEDBACK = (
        "UPDATE turns SET feedback = ? WHERE conversation_id = ? AND position = ? "
        "AND conversation_id IN (SELECT id FROM conversations WHERE session_id = ?)"
    )
