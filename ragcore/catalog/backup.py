"""Rotated backups of the catalog, taken with SQLite's online backup API and checked before kept."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ragcore.catalog.database import CatalogDatabase
from ragcore.catalog.health import quick_check_file
from ragcore.errors import RagError

log = logging.getLogger(__name__)

# catalog-20250102T030405.123456Z.sqlite3: names sort in the order the backups were taken.
_NAME = re.compile(r"^catalog-\d{8}T\d{6}\.\d{6}Z\.sqlite3$")


def timestamp(now: float) -> str:
    """A UTC time for file names, sortable as text and precise enough never to repeat."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%S.%fZ")


class CatalogBackups:
    """The newest ``keep`` sound copies of the catalog, in one folder.

    ``take`` copies the catalog, checks the copy with quick_check and keeps it only if it is
    sound, then drops the oldest beyond ``keep``: a damaged catalog never pushes a good backup
    out. ``take_if_due`` does that at most every ``min_interval`` seconds, so a worker may call
    it after every job without copying a large catalog hundreds of times in a batch.

    Example::

        backups = CatalogBackups(data_dir / "backups", keep=3)
        backups.take(catalog)
        backups.newest_sound()  # the file `ingest check --repair` restores from
    """

    def __init__(
        self,
        folder: Path,
        *,
        keep: int = 3,
        min_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1 backup, got {keep}")
        if min_interval < 0:
            raise ValueError(f"min_interval must be >= 0 seconds, got {min_interval}")
        self.folder = Path(folder)
        self.keep = keep
        self.min_interval = min_interval
        self._clock = clock
        self._last: float | None = None

    def backups(self) -> list[Path]:
        """The kept backups, newest first."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if _NAME.match(p.name) and p.is_file()]
        return sorted(found, key=lambda p: p.name, reverse=True)

    def due(self) -> bool:
        """Whether ``min_interval`` has passed since this object's last backup (or none yet)."""
        return self._last is None or self._clock() - self._last >= self.min_interval

    def take(self, catalog: CatalogDatabase) -> Path:
        """Copy the catalog into a new backup and rotate; returns the new backup's path.

        Raises CatalogCorrupt (and the catalog refuses writes from then on) when the copy is
        not sound, DiskFull when there is no room for it; the kept backups stay as they were.
        """
        now = self._clock()
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"catalog-{timestamp(now)}.sqlite3"
        partial = target.with_name(f".{target.name}.partial")
        try:
            catalog.backup_to(partial)
            problem = quick_check_file(partial)
            if problem is not None:
                catalog.quick_check()  # raises, and marks the catalog damaged, if it is
                raise RagError(
                    f"The backup copy of the catalog came out damaged although the catalog is "
                    f"sound (SQLite says: {problem}); check the disk holding {self.folder}."
                )
            # Only a complete, checked copy gets a backup's name.
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        self._last = now
        for old in self.backups()[self.keep :]:
            old.unlink(missing_ok=True)
        return target

    def take_if_due(self, catalog: CatalogDatabase) -> Path | None:
        return self.take(catalog) if self.due() else None

    def newest_sound(self) -> Path | None:
        """The newest backup that passes quick_check (a backup may have been damaged since)."""
        for path in self.backups():
            try:
                problem = quick_check_file(path)
            except sqlite3.Error as exc:
                problem = str(exc)
            if problem is None:
                return path
            log.warning(
                "the catalog backup %s is unusable (%s); trying an older one", path, problem
            )
        return None
