"""Errors a person can read: the UI and CLIs show their message as is."""


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


class ModelUnavailable(RagError):
    """A model cannot be loaded here; the feature that needs it is turned off."""


class LLMUnavailable(RagError):
    """No language model endpoint answered; answers fall back to extractive."""


class EvaluationError(RagError):
    """An evaluation cannot run: not BEIR data, no language model for questions, another running."""
