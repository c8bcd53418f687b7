"""Collections from the command line, as a person runs them: `ingest add --collection`,
`ingest collections [create|rename|delete|add|remove|move]`, `ragcore search --collection`."""

from __future__ import annotations

import io
import json
import os
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest

import ingest.__main__ as ingest_cli
import ragcore.__main__ as ragcore_cli
from tests.test_cli import run

pytestmark = pytest.mark.integration


def cli(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m ingest|ragcore ARGS`` run in this process: the same main() and settings as a
    subprocess, without paying torch's import for each of the many calls below (the adds and
    one search still run as real processes)."""
    mains = {"ingest": ingest_cli.main, "ragcore": ragcore_cli.main}
    out, err = io.StringIO(), io.StringIO()
    env = {"RAG_DATA_DIR": str(data_dir), "RAG_LOCAL_LLM": "false", "HF_HUB_OFFLINE": "1"}
    with mock.patch.dict(os.environ, env), redirect_stdout(out), redirect_stderr(err):
        try:
            code = mains[args[0]](list(args[1:]))
        except SystemExit as exc:  # argparse, and a document id that matches nothing
            code = exc.code if isinstance(exc.code, int) else 2
    proc = subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"{args} exited {code}: {proc.stderr[-2000:]}")
    return proc


# Both files answer the question, so an unscoped search finds both; a scoped one must not.
FILES = {
    "boats.txt": "Maintenance schedule: boats need their hulls cleaned every spring season.",
    "planes.txt": "Maintenance schedule: planes need their engines inspected every spring season.",
}
QUESTION = "What does the maintenance schedule say about every spring season?"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A data dir with boats.txt in collection Sea and planes.txt in Air; file name -> id."""
    root = tmp_path_factory.mktemp("collections-cli")
    ids = {}
    for (name, text), collection in zip(FILES.items(), ("Sea", "Air"), strict=True):
        path = root / name
        path.write_text(text, encoding="utf-8")
        proc = run(
            root / "data",
            "ingest",
            "add",
            "--collection",
            collection,
            str(path),
            "--wait",
            "--json",
        )
        row = json.loads(proc.stdout.splitlines()[-1])
        assert row["status"] == "ready", row
        ids[name] = str(row["id"])
    return root / "data", ids


def _collections(data: Path) -> dict[str, set[str]]:
    """`ingest collections --json` as name -> member ids."""
    listed = json.loads(cli(data, "ingest", "collections", "--json").stdout)
    assert all(c["documents"] == len(c["doc_ids"]) for c in listed)
    return {c["name"]: set(c["doc_ids"]) for c in listed}


def _search(data: Path, *scope: str) -> list[dict[str, object]]:
    out = json.loads(cli(data, "ragcore", "search", *scope, QUESTION, "--json").stdout)
    hits: list[dict[str, object]] = out["hits"]
    return hits


def test_add_puts_each_file_in_its_collection(library: tuple[Path, dict[str, str]]) -> None:
    data, ids = library
    assert _collections(data) == {"Sea": {ids["boats.txt"]}, "Air": {ids["planes.txt"]}}
    text = cli(data, "ingest", "collections").stdout.splitlines()
    assert text == ["  Air  (1 document)", "  Sea  (1 document)"]  # by name


def test_search_in_a_collection_finds_only_its_documents(
    library: tuple[Path, dict[str, str]],
) -> None:
    data, ids = library
    everywhere = _search(data)
    assert {h["doc_id"] for h in everywhere} == set(ids.values())  # the scope is what narrows
    for collection, name in (("Sea", "boats.txt"), ("Air", "planes.txt")):
        hits = _search(data, "--collection", collection)
        assert hits, f"nothing found in {collection}"
        assert {h["doc_id"] for h in hits} == {ids[name]}, hits
        assert {h["file_name"] for h in hits} == {name}
        # Every hit names its point, e.g. for `python -m ragcore source POINT_ID`.
        assert all(isinstance(h["point_id"], str) and h["point_id"] for h in hits)
    # Names are matched ignoring case, as they are kept unique.
    assert {h["doc_id"] for h in _search(data, "--collection", "sea")} == {ids["boats.txt"]}


def test_an_unknown_collection_exits_2_naming_the_collections(
    library: tuple[Path, dict[str, str]],
) -> None:
    data, ids = library
    proc = run(data, "ragcore", "search", "--collection", "Nope", QUESTION, check=False)
    assert proc.returncode == 2
    assert "no collection named 'Nope'" in proc.stderr
    assert "collections: Air, Sea" in proc.stderr
    changed = cli(data, "ingest", "collections", "add", "Nope", ids["boats.txt"][:10], check=False)
    assert changed.returncode == 2 and "no collection named 'Nope'" in changed.stderr
    taken = cli(data, "ingest", "collections", "create", "sea", check=False)
    assert taken.returncode == 2 and "already exists" in taken.stderr
    assert _collections(data).keys() == {"Sea", "Air"}  # nothing made or changed


def test_create_rename_add_move_remove_delete(library: tuple[Path, dict[str, str]]) -> None:
    """On collections of its own, so Sea and Air stay as the other tests expect them."""
    data, ids = library
    boats, planes = ids["boats.txt"], ids["planes.txt"]

    assert cli(data, "ingest", "collections", "create", "Shelf").stdout == (
        "created collection 'Shelf'\n"
    )
    assert cli(data, "ingest", "collections", "rename", "Shelf", "Boxes").stdout == (
        "renamed 'Shelf' to 'Boxes'\n"
    )
    # Documents by id prefix, as `ingest status` shows them.
    added = cli(data, "ingest", "collections", "add", "Boxes", boats[:12], planes[:12])
    assert added.stdout == "2 document(s) added to 'Boxes'\n"
    cli(data, "ingest", "collections", "create", "Crate")
    moved = cli(data, "ingest", "collections", "move", "Boxes", "Crate", planes[:12])
    assert moved.stdout == "1 document(s) moved from 'Boxes' to 'Crate'\n"
    removed = cli(data, "ingest", "collections", "remove", "Boxes", boats[:12])
    assert removed.stdout == "1 document(s) removed from 'Boxes'\n"
    assert _collections(data) == {
        "Air": {planes},
        "Boxes": set(),
        "Crate": {planes},
        "Sea": {boats},
    }
    # The move reached the store's payloads: a search in Crate finds planes.txt alone.
    assert {h["doc_id"] for h in _search(data, "--collection", "Crate")} == {planes}
    assert _search(data, "--collection", "Boxes") == []

    deleted = cli(data, "ingest", "collections", "delete", "Crate")
    assert deleted.stdout == "deleted collection 'Crate'; its 1 document(s) stay\n"
    cli(data, "ingest", "collections", "delete", "Boxes")
    assert _collections(data) == {"Air": {planes}, "Sea": {boats}}
    status = json.loads(cli(data, "ingest", "status", "--json").stdout)
    assert {d["id"] for d in status["documents"]} == {boats, planes}  # documents stay
