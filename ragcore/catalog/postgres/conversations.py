"""Conversations and their turns in the PostgreSQL catalog, kept per browser session."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from ragcore.catalog.postgres.database import PostgresDatabase
from ragcore.catalog.records import Conversation, TurnRow
from ragcore.catalog.rules import (
    check_feedback,
    check_session,
    new_title,
    no_turn,
    not_found,
    short_title,
    turn_values,
)


class ConversationsMixin(PostgresDatabase):
    """The conversations half of the PostgresCatalog. Every call names the session: a
    conversation of another session is not found, as in the SQLite catalog."""

    def create_conversation(
        self, session_id: str, title: str = "", *, user_id: str | None = None
    ) -> Conversation:
        check_session(session_id)
        with self._write() as cur:
            now = self._now()
            row = cur.execute(
                "INSERT INTO conversations (session_id, user_id, title, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING *",
                (session_id, user_id, short_title(title), now, now),
            ).fetchone()
        assert row is not None
        return Conversation.from_row(row)

    def conversations(self, session_id: str) -> list[Conversation]:
        """The session's conversations, the most recently used first."""
        with self._read() as cur:
            cur.execute(
                "SELECT * FROM conversations WHERE session_id = %s "
                "ORDER BY updated_at DESC, id DESC",
                (session_id,),
            )
            return [Conversation.from_row(r) for r in cur.fetchall()]

    def get_conversation(self, session_id: str, conversation_id: int) -> Conversation:
        with self._read() as cur:
            row = cur.execute(
                "SELECT * FROM conversations WHERE id = %s AND session_id = %s",
                (conversation_id, session_id),
            ).fetchone()
        if row is None:
            raise not_found(conversation_id)
        return Conversation.from_row(row)

    def rename_conversation(
        self, session_id: str, conversation_id: int, title: str
    ) -> Conversation:
        title = new_title(title)
        with self._write() as cur:
            row = cur.execute(
                "UPDATE conversations SET title = %s, updated_at = %s "
                "WHERE id = %s AND session_id = %s RETURNING *",
                (title, self._now(), conversation_id, session_id),
            ).fetchone()
        if row is None:
            raise not_found(conversation_id)
        return Conversation.from_row(row)

    def delete_conversation(self, session_id: str, conversation_id: int) -> bool:
        """Delete it with its turns; False when the session has no such conversation."""
        with self._write() as cur:
            cur.execute(
                "DELETE FROM conversations WHERE id = %s AND session_id = %s",
                (conversation_id, session_id),
            )
            return cur.rowcount > 0

    def append_turn(self, session_id: str, conversation_id: int, turn: TurnRow) -> TurnRow:
        """Store ``turn`` after the conversation's last; an untitled conversation takes its
        first question as title. Returns the turn with its position."""
        with self._write() as cur:
            now = self._now()
            # The UPDATE locks the conversation's row: two turns appended at once take turns,
            # and each gets its own position.
            cur.execute(
                "UPDATE conversations SET updated_at = %s, "
                "title = CASE WHEN title = '' THEN %s ELSE title END "
                "WHERE id = %s AND session_id = %s",
                (now, short_title(turn.question), conversation_id, session_id),
            )
            if cur.rowcount == 0:
                raise not_found(conversation_id)
            row = cur.execute(
                "INSERT INTO turns (conversation_id, position, question, standalone_question, "
                "answer_text, mode, sources, citations, detail, llm, timings, error, stopped, "
                "draft, edited, feedback, created_at) "
                "SELECT %s, COALESCE(MAX(position) + 1, 0), %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s FROM turns WHERE conversation_id = %s RETURNING *",
                (conversation_id, *turn_values(turn, conversation_id, now, Jsonb)),
            ).fetchone()
        assert row is not None
        return TurnRow.from_row(row)

    def turns(self, session_id: str, conversation_id: int) -> list[TurnRow]:
        with self._read(snapshot=True) as cur:
            owned = cur.execute(
                "SELECT 1 FROM conversations WHERE id = %s AND session_id = %s",
                (conversation_id, session_id),
            ).fetchone()
            cur.execute(
                "SELECT * FROM turns WHERE conversation_id = %s ORDER BY position",
                (conversation_id,),
            )
            found = cur.fetchall()
        if owned is None:
            raise not_found(conversation_id)
        return [TurnRow.from_row(r) for r in found]

    def set_turn_feedback(
        self, session_id: str, conversation_id: int, position: int, feedback: int | None
    ) -> None:
        """Thumbs up (1), down (-1), or neither (None) for one turn."""
        check_feedback(feedback)
        with self._write() as cur:
            cur.execute(
                "UPDATE turns SET feedback = %s WHERE conversation_id = %s AND position = %s "
                "AND conversation_id IN (SELECT id FROM conversations WHERE session_id = %s)",
                (feedback, conversation_id, position, session_id),
            )
            if cur.rowcount == 0:
                raise no_turn(conversation_id, position)
