"""Turn an uploaded file into a ParsedDocument: pages of text and images, or a readable refusal."""

from __future__ import annotations

from pathlib import Path

from ingest.parsers.archive import check_package
from ingest.parsers.common import ParseLimits, human_size, short_reason
from ingest.parsers.delimited import parse_csv
from ingest.parsers.detect import (
    CSV,
    DOCX,
    HEAD_BYTES,
    HTML,
    IMAGE_TYPES,
    OFFICE_TYPES,
    PDF,
    PPTX,
    TEXT_TYPES,
    detect_type,
)
from ingest.parsers.excel import parse_xlsx
from ingest.parsers.image import parse_image
from ingest.parsers.pdf import parse_pdf
from ingest.parsers.powerpoint import parse_pptx
from ingest.parsers.text import markdown_sections, parse_text
from ingest.parsers.web import parse_html
from ingest.parsers.word import parse_docx
from ragcore.errors import CorruptFile, FileTooLarge, IngestError
from ragcore.types import ParsedDocument

__all__ = [
    "DEFAULT_LIMITS",
    "PARSER_LIBRARIES",
    "ParseLimits",
    "detect_type",
    "markdown_sections",
    "parse_file",
]

DEFAULT_LIMITS = ParseLimits()

# Libraries the Office and HTML parsers import on first use (each takes 0.2-1 s): the parse
# sandbox's fork server imports them once, so a parse in a fresh child starts warm, while a
# process that never parses such a file never pays for them.
PARSER_LIBRARIES = ("docx", "pptx", "openpyxl", "trafilatura", "markdownify", "lxml.html")


def parse_file(
    path: Path, *, name: str, doc_id: str, limits: ParseLimits = DEFAULT_LIMITS
) -> ParsedDocument:
    """Read the file at ``path``; ``name`` is what the person called it (used for its type and
    in every message). Raises only IngestError subclasses, with a message naming the file.

    >>> doc = parse_file(Path("data/ab12.bin"), name="report.pdf", doc_id="ab12")
    >>> [(p.number, len(p.text), len(p.images)) for p in doc.pages]
    [(1, 1834, 1), (2, 2210, 0)]
    """
    try:
        data = _read(path, name, limits.max_file_bytes)
        mime = detect_type(data[:HEAD_BYTES], name)
        if mime == PDF:
            return parse_pdf(data, name=name, doc_id=doc_id, limits=limits)
        if mime in TEXT_TYPES:
            return parse_text(data, name=name, doc_id=doc_id, mime=mime, limits=limits)
        if mime in IMAGE_TYPES:
            return parse_image(data, name=name, doc_id=doc_id, mime=mime, limits=limits)
        if mime in OFFICE_TYPES:
            # The archive's directory is checked before any parser unpacks it (zip bombs).
            mime = check_package(data, name=name, mime=mime, limits=limits)
            office = {DOCX: parse_docx, PPTX: parse_pptx}.get(mime, parse_xlsx)
            return office(data, name=name, doc_id=doc_id, mime=mime, limits=limits)
        if mime == HTML:
            return parse_html(data, name=name, doc_id=doc_id, mime=mime, limits=limits)
        if mime == CSV:
            return parse_csv(data, name=name, doc_id=doc_id, mime=mime, limits=limits)
        raise AssertionError(f"detect_type returned {mime!r}, which no parser handles")
    except IngestError:
        raise
    except Exception as exc:
        # Parsing libraries raise anything from KeyError to RecursionError on hostile input;
        # the person should see one clear sentence, and the cause stays chained for the logs.
        raise CorruptFile(
            f"{name} could not be read ({type(exc).__name__}: {short_reason(exc)}); "
            "it may be damaged."
        ) from exc


def _read(path: Path, name: str, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(name, size, max_bytes)
        with path.open("rb") as handle:
            # Read one byte past the limit: the file may have grown since stat().
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise CorruptFile(
            f"{name} could not be read from disk ({exc.strerror or short_reason(exc)})."
        ) from exc
    if len(data) > max_bytes:
        raise _too_large(name, len(data), max_bytes)
    return data


def _too_large(name: str, size: int, max_bytes: int) -> FileTooLarge:
    return FileTooLarge(
        f"{name} is {human_size(size)}, more than the limit of {human_size(max_bytes)} "
        "for one file; it was not ingested."
    )
