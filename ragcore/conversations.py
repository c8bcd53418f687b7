"""Conversations that persist: each question with its answer, sources and checks, kept in the catalog.

A turn is stored with everything its answer showed (the sources with their evidence, the spans
the model read, the verified quotes, the citation report, the model and the timings), so it reads
the same after a restart, and after the documents it cites are deleted.

Example::

    chat = conversations.create(catalog, session_id)
    turn = conversations.append(catalog, session_id, chat.id, Turn(question, answer=answer))
    conversations.set_feedback(catalog, session_id, chat.id, turn.position, Feedback.UP)
    chat, turns = conversations.load(catalog, session_id, chat.id)
    markdown = conversations.export_markdown(chat, turns, deleted={"sha-of-a-deleted-doc"})
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, fields, replace
from enum import IntEnum
from typing import Any

from ragcore.answering import Answer, VerifiedQuote
from ragcore.catalog import Conversation, ConversationNotFound, TurnRow
from ragcore.catalog.backend import CatalogBackend
from ragcore.generation.citations import Citation
from ragcore.types import AnswerMode, ChunkKind, Evidence, Hit

UNTITLED = "New conversation"
# How much of a passage the export quotes when the model's own quotes are not there.
EXPORT_PASSAGE_CHARS = 600

__all__ = [
    "UNTITLED",
    "Conversation",
    "ConversationNotFound",
    "Feedback",
    "SearchedIn",
    "Turn",
    "answer_markdown",
    "append",
    "create",
    "delete",
    "export_markdown",
    "list_for",
    "load",
    "rename",
    "set_feedback",
    "title_of",
]


class Feedback(IntEnum):
    """A person's thumbs on an answer, stored as the integer."""

    DOWN = -1
    UP = 1


@dataclass(frozen=True)
class SearchedIn:
    """The collection a question was scoped to, by id and by its name at the time: the
    collection may be renamed or deleted later, and the turn still says where it searched."""

    id: int
    name: str


@dataclass(frozen=True)
class Turn:
    """One question and what came back: an ``answer``, an ``error``, or a stop.

    ``standalone`` is the edited search when the person asked again with one; ``draft`` is
    what the model had written when a stop left no answer; ``collection`` the collection the
    search was scoped to (None: every document). ``position`` is set once stored.
    """

    question: str
    answer: Answer | None = None
    error: str | None = None
    stopped: bool = False
    draft: str = ""
    standalone: str | None = None
    feedback: Feedback | None = None
    collection: SearchedIn | None = None
    position: int = -1

    @property
    def edited(self) -> bool:
        return self.standalone is not None

    @property
    def text(self) -> str:
        """The answer's text, "" when there is none."""
        return self.answer.text if self.answer is not None else ""


def title_of(conversation: Conversation) -> str:
    return conversation.title or UNTITLED


def create(catalog: CatalogBackend, session_id: str, title: str = "") -> Conversation:
    return catalog.create_conversation(session_id, title)


def list_for(catalog: CatalogBackend, session_id: str) -> list[Conversation]:
    """The session's conversations, the most recently used first."""
    return catalog.conversations(session_id)


def rename(
    catalog: CatalogBackend, session_id: str, conversation_id: int, title: str
) -> Conversation:
    return catalog.rename_conversation(session_id, conversation_id, title)


def delete(catalog: CatalogBackend, session_id: str, conversation_id: int) -> bool:
    return catalog.delete_conversation(session_id, conversation_id)


def append(catalog: CatalogBackend, session_id: str, conversation_id: int, turn: Turn) -> Turn:
    """Store ``turn`` last in the conversation; returns it with its position."""
    row = catalog.append_turn(session_id, conversation_id, turn_row(turn))
    return replace(turn, position=row.position)


def load(
    catalog: CatalogBackend, session_id: str, conversation_id: int
) -> tuple[Conversation, tuple[Turn, ...]]:
    """The conversation and its turns in order; ConversationNotFound if not this session's."""
    conversation = catalog.get_conversation(session_id, conversation_id)
    rows = catalog.turns(session_id, conversation_id)
    return conversation, tuple(turn_from_row(r) for r in rows)


def set_feedback(
    catalog: CatalogBackend,
    session_id: str,
    conversation_id: int,
    position: int,
    feedback: Feedback | None,
) -> None:
    value = None if feedback is None else int(feedback)
    catalog.set_turn_feedback(session_id, conversation_id, position, value)


# --- stored form -----------------------------------------------------------------------------


def _hit_dict(hit: Hit) -> dict[str, Any]:
    data = asdict(hit)
    data["kind"] = str(hit.kind)
    data["where"] = hit.where  # for a reader of the raw row; rebuilt from the fields on load
    return data


def _hit(data: dict[str, Any]) -> Hit:
    known = {f.name for f in fields(Hit)}
    values = {k: v for k, v in data.items() if k in known}
    evidence_known = {f.name for f in fields(Evidence)}
    evidence = {k: v for k, v in (data.get("evidence") or {}).items() if k in evidence_known}
    return Hit(**values | {"kind": ChunkKind(data["kind"]), "evidence": Evidence(**evidence)})


def turn_row(turn: Turn) -> TurnRow:
    """The turn as the catalog stores it."""
    answer = turn.answer
    base = TurnRow(
        question=turn.question,
        standalone_question=turn.standalone,
        error=turn.error,
        stopped=turn.stopped,
        draft=turn.draft,
        edited=turn.edited,
        feedback=None if turn.feedback is None else int(turn.feedback),
        # Kept with every turn, answered or not: the scope is part of what was asked.
        detail={} if turn.collection is None else {"collection": asdict(turn.collection)},
    )
    if answer is None:
        return base
    sources = []
    for number, hit in enumerate(answer.sources, start=1):
        quotes = [
            asdict(q) | {"order": i} for i, q in enumerate(answer.quotes) if q.number == number
        ]
        sources.append(
            _hit_dict(hit)
            | {
                "n": number,
                "excerpt": [list(span) for span in answer.excerpt_spans(number)],
                "quotes": quotes,
            }
        )
    citations = {
        "citations": [asdict(c) for c in answer.citations],
        "removed": list(answer.removed_citations),
        "unsupported_sentences": list(answer.unsupported_sentences),
    }
    detail = {
        "question": answer.question,
        "notes": list(answer.notes),
        "closest": [_hit_dict(h) for h in answer.closest],
        "prompt_sources": answer.prompt_sources,
        "model_text": answer.model_text,
        "verdict": answer.verdict,
        "declined": answer.declined,
    }
    return replace(
        base,
        standalone_question=answer.standalone_question,
        answer_text=answer.text,
        mode=str(answer.mode),
        sources=sources,
        citations=citations,
        detail=base.detail | detail,
        llm=answer.llm,
        timings=dict(answer.timings),
    )


def turn_from_row(row: TurnRow) -> Turn:
    """The turn as it was shown, its answer rebuilt from the stored row."""
    return Turn(
        question=row.question,
        answer=_answer(row),
        error=row.error,
        stopped=row.stopped,
        draft=row.draft,
        # An answer records what was searched for; the edit is kept only when there was one.
        standalone=row.standalone_question if row.edited else None,
        feedback=None if row.feedback is None else Feedback(row.feedback),
        collection=_searched_in(row.detail.get("collection")),
        position=row.position,
    )


def _searched_in(stored: object) -> SearchedIn | None:
    """The stored scope, or None (every document, or a turn kept before scopes were)."""
    if not isinstance(stored, dict):
        return None
    collection_id, name = stored.get("id"), stored.get("name")
    if not isinstance(collection_id, int) or not isinstance(name, str):
        return None
    return SearchedIn(collection_id, name)


def _answer(row: TurnRow) -> Answer | None:
    if row.mode is None:
        return None
    detail = row.detail
    quotes: list[tuple[int, VerifiedQuote]] = []
    for source in row.sources:
        for q in source.get("quotes", ()):
            known = {f.name for f in fields(VerifiedQuote)}
            quotes.append((q.get("order", 0), VerifiedQuote(**{k: q[k] for k in known})))
    quotes.sort(key=lambda pair: pair[0])
    report = row.citations
    return Answer(
        question=detail.get("question", row.question),
        standalone_question=row.standalone_question or row.question,
        text=row.answer_text,
        mode=AnswerMode(row.mode),
        citations=tuple(
            Citation(**c | {"sentences": tuple(c["sentences"])})
            for c in report.get("citations", ())
        ),
        removed_citations=tuple(report.get("removed", ())),
        unsupported_sentences=tuple(report.get("unsupported_sentences", ())),
        sources=tuple(_hit(s) for s in row.sources),
        prompt_sources=detail.get("prompt_sources", ""),
        timings=dict(row.timings),
        notes=tuple(detail.get("notes", ())),
        llm=row.llm,
        closest=tuple(_hit(h) for h in detail.get("closest", ())),
        quotes=tuple(q for _, q in quotes),
        excerpts=tuple(
            tuple((int(a), int(b)) for a, b in s.get("excerpt", ())) for s in row.sources
        ),
        model_text=detail.get("model_text", ""),
        verdict=detail.get("verdict", ""),
        declined=bool(detail.get("declined", False)),
    )


# --- export ----------------------------------------------------------------------------------


def export_markdown(
    conversation: Conversation,
    turns: Sequence[Turn],
    *,
    deleted: Collection[str] = (),
    now: float | None = None,
) -> str:
    """The conversation as Markdown: each question, its answer, and every source it cites
    resolved to file, location and the passage quoted (the model's verified quotes, else the
    sentences it read). ``deleted`` are document ids no longer in the library."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() if now is None else now))
    lines = [f"# {title_of(conversation)}", "", f"_Exported {stamp}._", ""]
    for number, turn in enumerate(turns, start=1):
        lines += [f"## {number}. {_one_line(turn.question)}", ""]
        if turn.standalone is not None:
            lines += [f"_Searched for: {_one_line(turn.standalone)}_", ""]
        if turn.collection is not None:
            lines += [f"_Searched in the collection {_one_line(turn.collection.name)}._", ""]
        lines += _reply_lines(turn, deleted)
    return "\n".join(lines).rstrip() + "\n"


def _reply_lines(turn: Turn, deleted: Collection[str]) -> list[str]:
    answer = turn.answer
    lines: list[str] = []
    if turn.stopped:
        lines += ["_Stopped before the answer was finished._", ""]
    if answer is None:
        if turn.error:
            lines += [f"_No answer: {turn.error}_", ""]
        if turn.draft:
            lines += ["_The model's unchecked draft:_", "", _quoted(turn.draft), ""]
        return lines
    lines += [answer.text.strip() or "_No answer text._", ""]
    said = f"Answer mode: {answer.mode}"
    if answer.llm:
        said += f"; model: {answer.llm}"
    if answer.verdict:
        said += f"; {answer.verdict}"
    lines += [f"_{said}._", ""]
    if turn.feedback is not None:
        lines += ["Feedback: " + ("👍" if turn.feedback == Feedback.UP else "👎"), ""]
    return lines + _sources_lines(answer, deleted)


def answer_markdown(answer: Answer, *, deleted: Collection[str] = ()) -> str:
    """One answer as Markdown to copy: its text, then each cited source with the passage."""
    lines = [answer.text.strip() or "_No answer text._", ""]
    return "\n".join(lines + _sources_lines(answer, deleted)).rstrip() + "\n"


def _sources_lines(answer: Answer, deleted: Collection[str]) -> list[str]:
    lines: list[str] = []
    cited = {c.number: c for c in answer.citations}
    if cited:
        lines += ["### Sources cited", ""]
    for number in sorted(cited):
        if not 1 <= number <= len(answer.sources):
            continue
        hit = answer.sources[number - 1]
        citation = cited[number]
        where = f"[{number}] {hit.file_name}, {hit.where}"
        if hit.doc_id in deleted:
            where += " (document deleted)"
        if not citation.supported:
            where += f" (only {citation.support:.0%} of the citing sentence's words are here)"
        lines += [f"- **{where}**", "", _quoted(_passage(answer, number, hit)), ""]
    return lines


def _passage(answer: Answer, number: int, hit: Hit) -> str:
    """What the answer rests on in source ``number``: its verified quotes, else what the model
    read of it, cut to EXPORT_PASSAGE_CHARS."""
    quoted = [q.text for q in answer.quotes if q.number == number]
    if quoted:
        return " … ".join(dict.fromkeys(quoted))
    read = " … ".join(hit.text[a:b].strip() for a, b in answer.excerpt_spans(number))
    text = read or hit.text
    return text if len(text) <= EXPORT_PASSAGE_CHARS else text[:EXPORT_PASSAGE_CHARS] + "…"


def _quoted(text: str) -> str:
    return "\n".join("> " + line if line.strip() else ">" for line in text.strip().splitlines())


def _one_line(text: str) -> str:
    return " ".join(text.split())
