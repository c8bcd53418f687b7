"""What both catalogs (SQLite and PostgreSQL) decide the same way, apart from their SQL.

Argument checks and their messages, the refusals a caller may catch, which job a claim takes
and when one is given up on, what a model-space change requires, and the values a row is
written with. Each backend runs its own dialect's SQL around these; the contract suite
(tests/ragcore/test_catalog_contract.py) checks that they behave alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import fields
from enum import Enum
from typing import Any, TypeVar

from ragcore.catalog.records import (
    DOCUMENT_STATUSES,
    JOB_KINDS,
    JOB_STAGES,
    JOB_STATUSES,
    SPACE_STATUSES,
    DocumentRecord,
    DocumentStatus,
    JobKind,
    Row,
    SpaceRecord,
    SpaceStatus,
    TurnRow,
    check_choice,
)
from ragcore.errors import RagError, SpaceMoved
from ragcore.types import Chunk, ChunkKind

# ── refusals ─────────────────────────────────────────────────────


class DocumentNotFound(RagError, LookupError):
    """The document is not in the catalog (never added, or deleted meanwhile)."""


class SpaceChanged(SpaceMoved):
    """The model space a write was aimed at is no longer the active one (a switch happened)."""


class SpaceBusy(RagError):
    """Another re-embed is already building a space; cancel it or wait for it."""


class CollectionNotFound(RagError, LookupError):
    """No collection of that name (never made, or deleted)."""


class CollectionExists(RagError, ValueError):
    """A collection of that name already exists (names are compared ignoring case)."""


class ConversationNotFound(RagError, LookupError):
    """No conversation with that id belongs to this session (never made, or deleted)."""


def check_limit(limit: int) -> None:
    if limit <= 0:
        raise ValueError(f"limit must be > 0, got {limit}")


# ── documents and chunks ─────────────────────────────────────────

DOCUMENT_COLUMNS = tuple(f.name for f in fields(DocumentRecord))
# Columns a caller may set besides status and error; the id and timestamps belong to the catalog.
SETTABLE_FIELDS = frozenset(DOCUMENT_COLUMNS) - {
    "id",
    "status",
    "error",
    "created_at",
    "updated_at",
}
# replace_chunks counts text chunks and image chunks itself, so stats may not override them.
STATS_FIELDS = SETTABLE_FIELDS - {"chunks", "images"}
# The chunk columns a write fills, in the order of chunk_values' tuples.
CHUNK_INSERT_COLUMNS = (
    "doc_id",
    "chunk_no",
    "point_id",
    "page",
    "start",
    "end",
    "kind",
    "section",
    "image_index",
    "text",
    "embed_model",
    "embed_fingerprint",
    "location",
    "ocr_confidence",
)


def checked_fields(values: Mapping[str, object], allowed: frozenset[str]) -> dict[str, object]:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(
            f"unknown document field(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )
    # Enums (Strategy, ChunkKind) are stored as their plain value.
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items()}


def new_document_values(doc: DocumentRecord, now: float) -> dict[str, object]:
    """The columns of ``doc``'s row as first inserted, stamped ``now``."""
    values: dict[str, object] = {name: getattr(doc, name) for name in DOCUMENT_COLUMNS}
    values["created_at"] = values["updated_at"] = now
    return values


def status_updates(
    status: str, error: str | None, fields: Mapping[str, object], now: float
) -> dict[str, object]:
    """The document columns set_document_status writes, checked."""
    check_choice("document status", status, DOCUMENT_STATUSES)
    updates = checked_fields(fields, SETTABLE_FIELDS)
    return updates | {"status": str(status), "error": error, "updated_at": now}


def document_not_found(doc_id: str, *, while_indexing: bool = False) -> DocumentNotFound:
    why = " (deleted while indexing?)" if while_indexing else ""
    return DocumentNotFound(f"no document with id {doc_id!r} in the catalog{why}")


def check_chunks(doc_id: str, chunks: Sequence[Chunk]) -> None:
    """Refuse chunks of another document, and chunk numbers that repeat."""
    for chunk in chunks:
        if chunk.doc_id != doc_id:
            raise ValueError(
                f"chunk {chunk.chunk_no} belongs to document {chunk.doc_id!r}, not {doc_id!r}"
            )
    numbers = [c.chunk_no for c in chunks]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"chunk numbers repeat in the chunks of document {doc_id!r}")


def ready_updates(
    chunks: Sequence[Chunk], *, embed_model: str, stats: Mapping[str, object], now: float
) -> dict[str, object]:
    """The document columns replace_chunks writes: ``stats``, the counts, and ready."""
    updates = checked_fields(stats, STATS_FIELDS)
    return updates | {
        "chunks": sum(1 for c in chunks if c.kind == ChunkKind.TEXT),
        "images": sum(1 for c in chunks if c.kind == ChunkKind.IMAGE),
        "embed_model": embed_model,
        "status": DocumentStatus.READY.value,
        "error": None,
        "updated_at": now,
    }


def chunk_values(
    doc_id: str, chunks: Sequence[Chunk], *, embed_model: str, embed_fingerprint: str
) -> list[tuple[object, ...]]:
    """One tuple per chunk, in the order of CHUNK_INSERT_COLUMNS."""
    return [
        (
            doc_id,
            c.chunk_no,
            c.point_id,
            c.page,
            c.start,
            c.end,
            ChunkKind(c.kind).value,
            c.section,
            c.image_index,
            c.text,
            embed_model,
            embed_fingerprint,
            c.location,
            c.ocr_confidence,
        )
        for c in chunks
    ]


def tally(
    documents: Iterable[tuple[str, int]],
    chunks: Iterable[tuple[str, int]],
    jobs: Iterable[tuple[str, int]],
) -> dict[str, int]:
    """counts() from (status, n), (kind, n) and (status, n) groups: every status is a key."""
    result = {"documents": 0, "chunks": 0, "image_chunks": 0}
    result |= {f"documents_{s}": 0 for s in DOCUMENT_STATUSES}
    result |= {f"jobs_{s}": 0 for s in JOB_STATUSES}
    for status, n in documents:
        result[f"documents_{status}"] = int(n)
        result["documents"] += int(n)
    for kind, n in chunks:
        result["chunks"] += int(n)
        if kind == ChunkKind.IMAGE.value:
            result["image_chunks"] = int(n)
    for status, n in jobs:
        result[f"jobs_{status}"] = int(n)
    return result


# ── jobs ─────────────────────────────────────────────────────────

# Jobs that build a document's index: when one is given up on, the document is marked failed too,
# since no worker is left to say so.
INDEXING_KINDS = (JobKind.INGEST, JobKind.REINDEX, JobKind.REEMBED)


def check_lease(lease_seconds: float) -> None:
    if lease_seconds <= 0:
        raise ValueError(f"lease_seconds must be > 0, got {lease_seconds}")


def job_params(kind: str, params: Mapping[str, object] | None) -> dict[str, Any]:
    """``params`` as plain JSON values (keys sorted); ValueError for a bad kind or value."""
    check_choice("job kind", kind, JOB_KINDS)
    try:
        plain: dict[str, Any] = json.loads(json.dumps(dict(params or {}), sort_keys=True))
    except (TypeError, ValueError) as e:
        raise ValueError(f"job params must be plain JSON values, got {params!r}") from e
    return plain


def claim_filter(
    lease_seconds: float,
    kinds: Sequence[str] | None,
    ids: Collection[int] | None,
    max_doc_bytes: int | None,
) -> tuple[list[str], list[int] | None]:
    """claim_job's arguments checked: the kinds wanted and the job ids allowed (None: any)."""
    check_lease(lease_seconds)
    wanted = [str(k) for k in (JOB_KINDS if kinds is None else kinds)]
    for kind in wanted:
        check_choice("job kind", kind, JOB_KINDS)
    if max_doc_bytes is not None and max_doc_bytes <= 0:
        raise ValueError(f"max_doc_bytes must be > 0, got {max_doc_bytes}")
    return wanted, None if ids is None else sorted(int(i) for i in ids)


R = TypeVar("R", bound=Row)


def first_claimable(
    find: Callable[[], R | None], give_up: Callable[[R], None], max_attempts: int
) -> R | None:
    """The first job ``find`` offers that may run again, giving up on each that may not.

    Every claim counts as an attempt. A job already claimed ``max_attempts`` times whose lease
    expired again has crashed or hung its worker each time: it is failed (with its document)
    instead of being handed to yet another worker.
    """
    while True:
        row = find()
        if row is None or row["attempts"] < max_attempts:
            return row
        give_up(row)


def give_up_message(attempts: int, kind: str, stage: str) -> str:
    """Why a job whose worker crashed or hung ``attempts`` times was failed, for a person."""
    return (
        f"the worker crashed or hung {attempts} times while running this {kind} job "
        f"(last stage: {stage}), so it was given up; "
        "the file may be too large or malformed — try again or remove it"
    )


def given_up(job: Row) -> tuple[str, bool]:
    """The error a given-up job records, and whether its document is failed with it."""
    error = give_up_message(job["attempts"], job["kind"], job["stage"])
    return error, job["kind"] in INDEXING_KINDS


def check_heartbeat(stage: str, progress: float, lease_seconds: float) -> None:
    check_choice("job stage", stage, JOB_STAGES)
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be between 0 and 1, got {progress}")
    check_lease(lease_seconds)


# ── model spaces ─────────────────────────────────────────────────

_SPACE_FIELDS = frozenset({"status", "job_id", "note", "fingerprint"})


def space_values(space: SpaceRecord, now: float) -> tuple[object, ...]:
    """name, model_id, fingerprint, dim, distance, image_dim, created_at, updated_at."""
    return (
        space.name,
        space.model_id,
        space.fingerprint,
        space.dim,
        space.distance,
        space.image_dim,
        now,
        now,
    )


def check_begin(space: SpaceRecord, active: Row | None, building: Row | None) -> None:
    """begin_space's refusals, given the active space's row and the one being built, if any."""
    if active is not None and active["name"] == space.name:
        raise ValueError(f"{space.model_id} already answers questions (space {space.name!r})")
    if building is not None and building["name"] != space.name:
        raise SpaceBusy(
            f"a re-embed with {building['model_id']} is already running "
            f"(space {building['name']!r}); "
            "cancel it first with `python -m ingest reembed --cancel`"
        )


def space_updates(values: Mapping[str, object], now: float) -> dict[str, object]:
    """update_space's columns, checked: only status, job_id, note and fingerprint."""
    unknown = sorted(set(values) - _SPACE_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown space field(s) {', '.join(unknown)}; known: {sorted(_SPACE_FIELDS)}"
        )
    updates = dict(values)
    if "status" in updates:
        check_choice("space status", str(updates["status"]), SPACE_STATUSES)
        updates["status"] = str(updates["status"])
    return updates | {"updated_at": now}


def check_still_active(space: str, status: str | None) -> None:
    """Refuse a write aimed at ``space`` when its status (None: gone) is no longer active."""
    if status != SpaceStatus.ACTIVE:
        state = "unknown" if status is None else status
        raise SpaceChanged(
            f"the vectors were written to the model space {space!r}, which is {state} now "
            "(the embedding model was switched meanwhile); the document must be embedded again"
        )


def switch_target(name: str, row: R | None) -> R:
    """The row of the space ``name`` (None: no such space) if it is being built, else refuse."""
    if row is None or row["status"] != SpaceStatus.BUILDING:
        state = "unknown" if row is None else row["status"]
        raise SpaceChanged(f"the space {name!r} is {state}, not being built: nothing to switch to")
    return row


# ── collections ──────────────────────────────────────────────────

# A name is a line in a picker; longer ones are refused rather than cut, so two never collide.
MAX_NAME_CHARS = 80


def collection_name(name: str) -> str:
    """``name`` as stored: trimmed; ValueError for an empty or over-long one."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValueError("a collection needs a name")
    if len(cleaned) > MAX_NAME_CHARS:
        raise ValueError(
            f"a collection name has at most {MAX_NAME_CHARS} characters, got {len(cleaned)}"
        )
    return cleaned


def collection_key(name_or_id: str | int) -> str | int:
    """What get_collection looks for: the id, or the name with its spaces as stored."""
    return name_or_id if isinstance(name_or_id, int) else " ".join(name_or_id.split())


def collection_exists(name: str) -> CollectionExists:
    return CollectionExists(f"a collection named {name!r} already exists")


def no_collection_id(collection_id: int) -> CollectionNotFound:
    return CollectionNotFound(f"no collection with id {collection_id}")


# ── conversations ────────────────────────────────────────────────

# A title is a line in the sidebar: longer ones are cut when stored.
MAX_TITLE_CHARS = 120


def short_title(title: str) -> str:
    return " ".join(title.split())[:MAX_TITLE_CHARS]


def check_session(session_id: str) -> None:
    if not session_id:
        raise ValueError("session_id must not be empty")


def new_title(title: str) -> str:
    """A rename's title as stored; ValueError for a blank one."""
    if not title.strip():
        raise ValueError("a conversation's title must have words in it")
    return short_title(title)


def check_feedback(feedback: int | None) -> None:
    if feedback not in (1, -1, None):
        raise ValueError(f"feedback must be 1, -1 or None, got {feedback!r}")


def not_found(conversation_id: int) -> ConversationNotFound:
    return ConversationNotFound(f"no conversation {conversation_id} in this session")


def no_turn(conversation_id: int, position: int) -> ConversationNotFound:
    return ConversationNotFound(
        f"no turn {position} in conversation {conversation_id} of this session"
    )


def turn_values(
    turn: TurnRow, conversation_id: int, now: float, as_json: Callable[[Any], object]
) -> tuple[object, ...]:
    """append_turn's values after the position; ``as_json`` wraps a JSON column's value."""
    return (
        turn.question,
        turn.standalone_question,
        turn.answer_text,
        turn.mode,
        as_json(turn.sources),
        as_json(turn.citations),
        as_json(turn.detail),
        turn.llm,
        as_json(turn.timings),
        turn.error,
        bool(turn.stopped),
        turn.draft,
        bool(turn.edited),
        turn.feedback,
        now,
        conversation_id,
    )
