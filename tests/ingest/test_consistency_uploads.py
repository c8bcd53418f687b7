"""`ingest check` finds uploaded files that no document reads, and `--repair` removes them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ingest.consistency import UPLOAD_GRACE_SECONDS, check_library, repair_library
from ragcore import library
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

PARAMS = ChunkingParams(Strategy.FIXED, 30, 3)
STRAY_ID = "ab" + "0" * 62


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_uploads_without_a_document_are_found_and_removed(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data", image_model="", parse_sandbox=False)
    try:
        uploads = rt.settings.uploads_dir
        kept = library.add_bytes(rt.catalog, uploads, "kept.txt", [b"Kept words."], PARAMS)
        kept_path = Path(kept.document.path)
        stray = uploads / STRAY_ID[:2] / f"{STRAY_ID}.txt"  # its add failed after the copy
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"left behind")
        partial = uploads / ".upload-k1ll3d"  # a copy cut short by a kill
        partial.write_bytes(b"half")
        fresh = uploads / ".upload-n0w"  # a copy streaming right now
        fresh.write_bytes(b"in flight")
        for path in (kept_path, stray, partial):
            _age(path, UPLOAD_GRACE_SECONDS + 60)

        report = check_library(rt.catalog, rt.store, uploads_dir=uploads)
        (problem,) = report.problems
        assert (problem.kind, problem.count) == ("uploads_without_document", 2)
        assert STRAY_ID[:12] in problem.detail and "uploaded files" in problem.detail
        # Without the folder to look at (older callers), nothing changes.
        assert check_library(rt.catalog, rt.store).clean

        done = repair_library(
            rt.catalog, rt.store, report, default_params=PARAMS, uploads_dir=uploads
        )
        assert any("deleted 2 uploaded files that no document" in d for d in done), done
        assert not stray.exists() and not partial.exists()
        assert kept_path.exists() and fresh.exists()
        assert check_library(rt.catalog, rt.store, uploads_dir=uploads).clean
    finally:
        rt.close()


def test_a_just_stored_upload_is_not_called_stray(tmp_path: Path) -> None:
    """An add stores its copy a moment before the catalog lists it."""
    rt = make_runtime(tmp_path / "data", image_model="", parse_sandbox=False)
    try:
        uploads = rt.settings.uploads_dir
        young = uploads / STRAY_ID[:2] / f"{STRAY_ID}.pdf"
        young.parent.mkdir(parents=True)
        young.write_bytes(b"%PDF")
        assert check_library(rt.catalog, rt.store, uploads_dir=uploads).clean
        later = time.time() + UPLOAD_GRACE_SECONDS + 1
        report = check_library(rt.catalog, rt.store, uploads_dir=uploads, now=later)
        assert [p.kind for p in report.problems] == ["uploads_without_document"]
    finally:
        rt.close()
