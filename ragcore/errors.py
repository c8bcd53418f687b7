"""Errors a person can read: the UI and CLIs show their message as is."""

from __future__ import annotations

import errno
import sqlite3


class RagError(Exception):
    """Base of every error this project raises on purpose."""


class IngestError(RagError):
    """A document could not be ingested; the message says why in plain words."""


class UnsupportedFile(IngestError):
    """The file's type is not one we read, or its content does not match its name."""


class CorruptFile(IngestError):
    """The file claims a type we read but cannot be parsed."""


class EncryptedFile(IngestError):
    """The document is password-protected and cannot be opened without the password."""


class FileTooLarge(IngestError):
    """The file, or something inside it, exceeds a configured limit."""


class StoreUnavailable(RagError):
    """The vector store cannot be reached or opened (held by another process, server down)."""


class CapacityExceeded(RagError):
    """The vector store has no room for what we want to write (e.g. the free-tier limit)."""


class SchemaMismatch(RagError):
    """An existing collection or index was built with other vector sizes or another model."""


class CollectionMissing(StoreUnavailable):
    """The collection was dropped while in use (a model switch retires the old space's)."""


class SpaceMoved(RagError):
    """The model space a question or an ingestion pinned stopped being the active one meanwhile
    (a re-embed switched): the one failure worth redoing the work for, on the new space."""


class ModelUnavailable(RagError):
    """A model cannot be loaded here; the feature that needs it is turned off."""


class LLMUnavailable(RagError):
    """No language model endpoint answered; answers fall back to extractive."""


class EvaluationError(RagError):
    """An evaluation cannot run: not BEIR data, no language model for questions, another running."""


class CatalogCorrupt(RagError):
    """The catalog file is damaged; nothing is written to it until `ingest check --repair` ran."""


class CatalogUnavailable(RagError):
    """The catalog's database server cannot be reached (down, restarting, connection lost);
    the work in hand failed and can be retried once it is back."""


class DiskFull(RagError):
    """The disk holding the data folder has no space left, so a write was refused."""


class SourceUnavailable(RagError):
    """A cited source cannot be shown; the subclass says why (``python -m ragcore source``)."""


class SourceNotFound(SourceUnavailable):
    """No passage has that id: a mistyped id, or its document was re-indexed since."""


class DocumentDeleted(SourceUnavailable):
    """The passage's document was deleted from the library (an old answer may still cite it)."""


class NoPageToRender(SourceUnavailable):
    """The source has no page image (a Word, HTML, text or spreadsheet passage)."""


def disk_full_error(folder: object) -> DiskFull:
    """The one wording of a full disk, for every place that can run into one."""
    return DiskFull(
        f"The disk holding {folder} is full, so nothing more can be saved there. "
        "Free some space, then run `python -m ingest check --repair` to finish or undo "
        "what was cut short."
    )


# SQLite's primary result code for a full disk; extended codes keep it in their low byte.
_SQLITE_FULL = 13
# A WAL database opened on a full disk cannot grow its shared-memory file, even to read;
# SQLite reports that as this I/O error, not as SQLITE_FULL.
_SQLITE_IOERR_SHMSIZE = 4874


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, is a full disk (ENOSPC, SQLITE_FULL).

    Libraries wrap it differently (qdrant's local mode lets SQLite's error through, PIL an
    OSError), so the chain of causes is searched too.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull):
            return True
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        if isinstance(current, sqlite3.Error):
            code = getattr(current, "sqlite_errorcode", None) or 0
            if (
                code & 0xFF == _SQLITE_FULL
                or code == _SQLITE_IOERR_SHMSIZE
                or "disk is full" in str(current)
            ):
                return True
        current = current.__cause__ or current.__context__
    return False
