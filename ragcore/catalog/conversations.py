"""Conversations and their turns as catalog rows; ragcore.conversations gives them their meaning."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from typing import Any

from ragcore.catalog.database import CatalogDatabase
from ragcore.errors import RagError

# A title is a line in the sidebar: longer ones are cut when stored.
MAX_TITLE_CHARS = 120


class ConversationNotFound(RagError, LookupError):
    """No conversation with that id belongs to this session (never made, or deleted)."""


@dataclass(frozen=True)
class Conversation:
    """One conversation of a browser session; ``title`` is "" until its first question."""

    id: int
    session_id: str
    title: str
    created_at: float
    updated_at: float
    user_id: str | None = None  # no accounts yet: always None for now

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Conversation:
        # Every field is a column of the same name, stored as is.
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class TurnRow:
    """A stored turn as plain values: the JSON columns parsed, nothing interpreted."""

    question: str
    standalone_question: str | None = None
    answer_text: str = ""
    mode: str | None = None  # None: no answer (an error, or stopped before the model wrote)
    sources: list[dict[str, Any]] = field(default_factory=list)
    citations: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    llm: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    stopped: bool = False
    draft: str = ""
    edited: bool = False
    feedback: int | None = None  # 1 thumbs up, -1 thumbs down
    position: int = -1  # set by the catalog
    created_at: float = 0.0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TurnRow:
        return cls(
            question=row["question"],
            standalone_question=row["standalone_question"],
            answer_text=row["answer_text"],
            mode=row["mode"],
            sources=json.loads(row["sources"]),
            citations=json.loads(row["citations"]),
            detail=json.loads(row["detail"]),
            llm=row["llm"],
            timings=json.loads(row["timings"]),
            error=row["error"],
            stopped=bool(row["stopped"]),
            draft=row["draft"],
            edited=bool(row["edited"]),
            feedback=row["feedback"],
            position=row["position"],
            created_at=row["created_at"],
        )


def short_title(title: str) -> str:
    return " ".join(title.split())[:MAX_TITLE_CHARS]


class ConversationsMixin(CatalogDatabase):
    """The conversations half of the Catalog. Every call names the session: a conversation of
    another session is not found, so one browser cannot open, rename or delete another's."""

    def create_conversation(
        self, session_id: str, title: str = "", *, user_id: str | None = None
    ) -> Conversation:
        if not session_id:
            raise ValueError("session_id must not be empty")
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
        if not title.strip():
            raise ValueError("a conversation's title must have words in it")
        with self._write() as conn:
            rows = conn.execute(
                "UPDATE conversations SET title = ?, updated_at = ? "
                "WHERE id = ? AND session_id = ? RETURNING *",
                (short_title(title), self._now(), conversation_id, session_id),
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
                (
                    conversation_id,
                    turn.question,
                    turn.standalone_question,
                    turn.answer_text,
                    turn.mode,
                    json.dumps(turn.sources),
                    json.dumps(turn.citations),
                    json.dumps(turn.detail),
                    turn.llm,
                    json.dumps(turn.timings),
                    turn.error,
                    int(turn.stopped),
                    turn.draft,
                    int(turn.edited),
                    turn.feedback,
                    now,
                    conversation_id,
                ),
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
        if feedback not in (1, -1, None):
            raise ValueError(f"feedback must be 1, -1 or None, got {feedback!r}")
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE turns SET feedback = ? WHERE conversation_id = ? AND position = ? "
                "AND conversation_id IN (SELECT id FROM conversations WHERE session_id = ?)",
                (feedback, conversation_id, position, session_id),
            )
        if cursor.rowcount == 0:
            raise ConversationNotFound(
                f"no turn {position} in conversation {conversation_id} of this session"
            )


def not_found(conversation_id: int) -> ConversationNotFound:
    return ConversationNotFound(f"no conversation {conversation_id} in this session")
