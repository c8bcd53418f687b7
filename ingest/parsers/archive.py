"""Office files are ZIP archives: check one's directory against the limits before any parser unpacks it."""

from __future__ import annotations

import io
import struct
import zipfile

from ingest.parsers.common import ParseLimits, human_size
from ingest.parsers.detect import kind_name, main_content_type
from ragcore.errors import CorruptFile, FileTooLarge, UnsupportedFile

_END_OF_DIRECTORY = b"PK\x05\x06"
# Signature, disk numbers, entries on this disk, entries in all (then sizes and a comment).
_END_RECORD = struct.Struct("<4sHHHH")
_MAX_COMMENT = 0xFFFF
_MAX_CONTENT_TYPES_BYTES = 1024 * 1024


def check_package(data: bytes, *, name: str, mime: str, limits: ParseLimits) -> str:
    """The Office type the archive really holds, once its directory is within ``limits``.

    The entry count is read from the end-of-directory record before Python builds the
    directory, and the unpacked size is the sum of the sizes the directory declares (the
    ``zipfile`` reader stops at the declared size and fails on a lie), so a zip bomb is
    refused in milliseconds. Raises FileTooLarge over a limit, CorruptFile for a damaged
    archive, UnsupportedFile for a ZIP that holds no Office document.

    >>> check_package(docx_bytes, name="a.docx", mime=DOCX, limits=ParseLimits())
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document'
    """
    what = kind_name(mime)
    entries = _declared_entries(data, name)
    if entries > limits.max_archive_entries:
        raise FileTooLarge(
            f"{name} is {what} made of {entries:,} parts, more than the limit of "
            f"{limits.max_archive_entries:,}; it was not ingested."
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CorruptFile(
            f"{name} could not be read: it is named like {what}, but its ZIP structure is "
            f"damaged ({exc}); it may be truncated."
        ) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_archive_entries:
            raise FileTooLarge(
                f"{name} is {what} made of {len(infos):,} parts, more than the limit of "
                f"{limits.max_archive_entries:,}; it was not ingested."
            )
        unpacked = sum(i.file_size for i in infos)
        if unpacked > limits.max_unpacked_bytes:
            raise FileTooLarge(
                f"{name} unpacks to {human_size(unpacked)} (it is {human_size(len(data))} "
                f"packed), more than the limit of {human_size(limits.max_unpacked_bytes)} for "
                "an Office file; it may be a zip bomb, and it was not ingested."
            )
        try:
            info = archive.getinfo("[Content_Types].xml")
        except KeyError:
            info = None
        if info is None or info.file_size > _MAX_CONTENT_TYPES_BYTES:
            raise UnsupportedFile(
                f"{name} is named like {what}, but it is a ZIP archive without the parts of "
                "an Office document; it was not ingested."
            )
        actual = main_content_type(archive.read(info))
    if actual is None:
        raise UnsupportedFile(
            f"{name} is named like {what}, but the ZIP archive holds no Word document, "
            "PowerPoint presentation or Excel workbook; it was not ingested."
        )
    return actual


def _declared_entries(data: bytes, name: str) -> int:
    """How many entries the end-of-central-directory record declares."""
    at = data.rfind(_END_OF_DIRECTORY, max(0, len(data) - _MAX_COMMENT - _END_RECORD.size - 18))
    if at < 0 or at + _END_RECORD.size > len(data):
        raise CorruptFile(
            f"{name} could not be read: its ZIP directory is missing (the file is truncated "
            "or damaged)."
        )
    # 0xFFFF stands for "65,535 or more, see the ZIP64 record": over the default limit anyway,
    # and a higher limit is checked against the directory itself.
    return int(_END_RECORD.unpack_from(data, at)[4])
