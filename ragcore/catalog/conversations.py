"""Conversations and their turns as catalog rows; ragcore.conversations gives them their meaning."""

from __future__ import annotations

import json

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.records import Conversation, TurnRow
from ragcore.catalog.rules import (
    ConversationNotFound,
    check_feedback,
    check_session,
    new_title,
    no_turn,
    not_found,
    short_title,
    turn_values,
)

# The records and refusal are shared with the PostgreSQL catalog; still importable from here.
__all__ = ["Conversation", "ConversationNotFound", "ConversationsMixin", "TurnRow"]


class ConversationsMixin(CatalogDatabase):
    """The conversations half of the Catalog. Every call names the session: a conversation of
    another session is not found, so one browser cannot open, rename or delete another's."""

    def create_conversation(
        self, session_id: str, title: str = "", *, user_id: str | None = None
    ) -> Conversation:
        check_session(session_id)
        with self._write() as conn:
            now = self._now()
            row = conn.execute(
                "INSERT INTO conversations (session_id, user_id, title, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING *",
                (session_id, user_id, short_title(title), now, now),
            ).fetchall()[0]
        return Conversation.from_row(row)

    def conversations(self, session_id: str) -> list[Conversation]:
        """The session's conversations, the most recently used first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM conversations WHERE session_id = ? "
                "ORDER BY updated_at DESC, id DESC",
                (session_id,),
            ).fetchall()
        return [Conversation.from_row(r) for r in rows]

    def get_conversation(self, session_id: str, conversation_id: int) -> Conversation:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM conversations WHERE id = ? AND session_id = ?",
                (conversation_id, session_id),
            ).fetchone()
        if row is None:
            raise not_found(conversation_id)
        return Conversation.from_row(row)

    def rename_conversation(
        self, session_id: str, conversation_id: int, title: str
    ) -> Conversation:
        title = new_title(title)
        with self._write() as conn:
            rows = conn.execute(
                "UPDATE conversations SET title = ?, updated_at = ? "
                "WHERE id = ? AND session_id = ? RETURNING *",
                (title, self._now(), conversation_id, session_id),
            ).fetchall()
        if not rows:
            raise not_found(conversation_id)
        return Conversation.from_row(rows[0])

    def delete_conversation(self, session_id: str, conversation_id: int) -> bool:
        """Delete it with its turns; False when the session has no such conversation."""
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM conversations WHERE id = ? AND session_id = ?",
                (conversation_id, session_id),
            )
        return cursor.rowcount > 0

    def append_turn(self, session_id: str, conversation_id: int, turn: TurnRow) -> TurnRow:
        """Store ``turn`` after the conversation's last; an untitled conversation takes its
        first question as title. Returns the turn with its position."""
        with self._write() as conn:
            now = self._now()
            updated = conn.execute(
                "UPDATE conversations SET updated_at = ?, "
                "title = CASE WHEN title = '' THEN ? ELSE title END "
                "WHERE id = ? AND session_id = ?",
                (now, short_title(turn.question), conversation_id, session_id),
            )
            if updated.rowcount == 0:
                raise not_found(conversation_id)
            row = conn.execute(
                "INSERT INTO turns (conversation_id, position, question, standalone_question, "
                "answer_text, mode, sources, citations, detail, llm, timings, error, stopped, "
                "draft, edited, feedback, created_at) "
                "SELECT ?, COALESCE(MAX(position) + 1, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ? FROM turns WHERE conversation_id = ? RETURNING *",
                (conversation_id, *turn_values(turn, conversation_id, now, json.dumps)),
            ).fetchall()[0]
        return TurnRow.from_row(row)

    def turns(self, session_id: str, conversation_id: int) -> list[TurnRow]:
        with self._read() as conn:
            owned = conn.execute(
                "SELECT 1 FROM conversations WHERE id = ? AND session_id = ?",
                (conversation_id, session_id),
            ).fetchone()
            rows = conn.execute(
                "SELECT * FROM turns WHERE conversation_id = ? ORDER BY position",
                (conversation_id,),
            ).fetchall()
        if owned is None:
            raise not_found(conversation_id)
        return [TurnRow.from_row(r) for r in rows]

    def set_turn_feedback(
        self, session_id: str, conversation_id: int, position: int, feedback: int | None
    ) -> None:
        """Thumbs up (1), down (-1), or neither (None) for one turn."""
        check_feedback(feedback)
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE turns SET feedback = ? WHERE conversation_id = ? AND position = ? "
                "AND conversation_id IN (SELECT id FROM conversations WHERE session_id = ?)",
                (feedback, conversation_id, position, session_id),
            )
        if cursor.rowcount == 0:
            raise no_turn(conversation_id, position)
