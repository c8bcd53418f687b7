"""Conversations and their turns in the PostgreSQL catalog, kept per browser session."""

from __future__ import annotations

from ragcore.catalog.postgres.database import PostgresDatabase
from ragcore.catalog.steps import ConversationSteps


class ConversationsMixin(PostgresDatabase, ConversationSteps):
    """The conversations half of the PostgresCatalog: its SQL; the steps are
    ConversationSteps', as in the SQLite catalog."""

    _NEW_CONVERSATION = (
        "INSERT INTO conversations (session_id, user_id, title, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING *"
    )
    _SESSION_CONVERSATIONS = (
        "SELECT * FROM conversations WHERE session_id = %s ORDER BY updated_at DESC, id DESC"
    )
    _CONVERSATION = "SELECT * FROM conversations WHERE id = %s AND session_id = %s"
    _RENAME = (
        "UPDATE conversations SET title = %s, updated_at = %s "
        "WHERE id = %s AND session_id = %s RETURNING *"
    )
    _DELETE = "DELETE FROM conversations WHERE id = %s AND session_id = %s"
    _TOUCH = (
        "UPDATE conversations SET updated_at = %s, "
        "title = CASE WHEN title = '' THEN %s ELSE title END "
        "WHERE id = %s AND session_id = %s"
    )
    _NEW_TURN = (
        "INSERT INTO turns (conversation_id, position, question, standalone_question, "
        "answer_text, mode, sources, citations, detail, llm, timings, error, stopped, "
        "draft, edited, feedback, created_at) "
        "SELECT %s, COALESCE(MAX(position) + 1, 0), %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s, %s, %s, %s FROM turns WHERE conversation_id = %s RETURNING *"
    )
    _TURNS = "SELECT * FROM turns WHERE conversation_id = %s ORDER BY position"
    _FEEDBACK = (
        "UPDATE turns SET feedback = %s WHERE conversation_id = %s AND position = %s "
        "AND conversation_id IN (SELECT id FROM conversations WHERE session_id = %s)"
    )
