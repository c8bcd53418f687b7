"""Probes of issue #12 as a person meets them: a damaged catalog or a full disk, through the CLIs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.service import build_worker
from ragcore import library
from ragcore.testing.runtime import make_runtime
from ragcore.types import ChunkingParams, Strategy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REPAIR = "python -m ingest check --repair"
TEXTS = {
    f"keeper{n}.md": f"# Keeper {n}\n\n" + f"Lighthouse {n} logged fog signals every hour. " * 30
    for n in range(6)
}


def build_library(data: Path) -> Path:
    """A small library, ingested in this process with the fake embedder (and backed up)."""
    rt = make_runtime(data, parse_sandbox=False)
    try:
        for name, text in TEXTS.items():
            library.add_bytes(
                rt.catalog,
                rt.settings.uploads_dir,
                name,
                [text.encode()],
                ChunkingParams(Strategy.FIXED, 20, 2),
            )
        build_worker(rt).run_until_idle()
    finally:
        rt.close()
    (data.parent / "new.md").write_text("# New\n\nA file added to a damaged library.\n")
    return data / "catalog.sqlite3"


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(data), RAG_LOCAL_LLM="false", HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def overwrite_middle(path: Path) -> None:
    middle = path.stat().st_size // 2 // 4096 * 4096
    with path.open("r+b") as handle:
        handle.seek(middle)
        handle.write(random.Random(0).randbytes(4096))


COMMANDS = {
    "status": ("ingest", "status"),
    "check": ("ingest", "check"),
    "add": ("ingest", "add", "{new}"),
    "add --wait": ("ingest", "add", "{new}", "--wait"),
    "worker --once": ("ingest", "worker", "--once"),
    "search": ("ragcore", "search", "fog signals"),
}


def command(name: str, data: Path) -> list[str]:
    return [a.format(new=data.parent / "new.md") for a in COMMANDS[name]]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_truncated_catalog_gets_a_message_and_what_to_do(tmp_path: Path, name: str) -> None:
    catalog = build_library(tmp_path / "data")
    os.truncate(catalog, catalog.stat().st_size // 2)
    proc = run(tmp_path / "data", *command(name, tmp_path / "data"))
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0, said
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "is damaged" in said and REPAIR in said


@pytest.mark.parametrize("name", ["add", "search", "status"])
def test_an_overwritten_block_is_found_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    catalog = build_library(tmp_path / "data")
    overwrite_middle(catalog)
    before = digest(catalog)
    proc = run(tmp_path / "data", *command(name, tmp_path / "data"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "is damaged" in proc.stderr and REPAIR in proc.stderr
    assert digest(catalog) == before
    assert not Path(f"{catalog}-wal").exists() or Path(f"{catalog}-wal").stat().st_size == 0


def test_check_repair_restores_the_backup_and_the_library_works_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    catalog = build_library(data)
    os.truncate(catalog, catalog.stat().st_size // 2)
    damaged = catalog.read_bytes()
    repair = run(data, "ingest", "check", "--repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "restored the catalog from the backup" in repair.stdout
    assert "consistent" in repair.stdout
    kept = list(data.glob("catalog.sqlite3.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged  # set aside, never deleted
    status = run(data, "ingest", "status", "--json")
    assert status.returncode == 0, status.stderr
    docs = json.loads(status.stdout)["documents"]
    assert sorted(d["name"] for d in docs) == sorted(TEXTS)
    assert {d["status"] for d in docs} == {"ready"}


@contextlib.contextmanager
def small_tmpfs(size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="docqa-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)
        folder.rmdir()


def fill_disk(folder: Path) -> None:
    with contextlib.suppress(OSError), (folder / "filler").open("wb", buffering=0) as handle:
        while True:
            handle.write(b"\0" * 4096)


@pytest.mark.parametrize("name", ["status", "add", "check"])
def test_a_full_disk_gets_a_message_and_what_to_do(tmp_path: Path, name: str) -> None:
    # Room for the library with its store's write-ahead log (which grows to a few MB before a
    # checkpoint); fill_disk then takes whatever is left, so the size does not matter beyond.
    with small_tmpfs("16m") as folder:
        data = folder / "data"
        build_library(data)
        (tmp_path / "new.md").write_text("# New\n\nA file added to a full disk.\n")
        fill_disk(folder)
        args = [a.format(new=tmp_path / "new.md") for a in COMMANDS[name]]
        proc = run(data, *args)
        said = proc.stdout + proc.stderr
        assert proc.returncode != 0, said
        assert "Traceback" not in proc.stderr, proc.stderr
        assert f"The disk holding {data}" in said and "is full" in said and REPAIR in said
