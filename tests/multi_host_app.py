"""One "app host" for the multi-host test: the app's runtime, driven by JSON lines on stdin.

    RAG_DATA_DIR=... RAG_CATALOG_URL=postgresql://... RAG_STORE=vectorai RAG_VECTORAI_URL=...
    python -m tests.multi_host_app

It builds its Runtime from its own environment as the app does (``Settings()`` → the catalog
and file store the settings name → the store), with the text model the test workers use (the
hashing fake of tests/robustness/worker_proc.py, so the vectors agree without weights), and
does what a person does through the app's pages, one JSON object a line:

- ``{"op": "upload", "name": "notes.txt", "path": "/tmp/notes.txt"}``: the Library page's upload
  (``library.add_bytes`` into ``rt.files``, chunked with the settings' defaults);
- ``{"op": "progress"}``: what the Library's progress panel reads (the jobs in flight) and the
  documents table;
- ``{"op": "search", "question": "..."}``: the Retriever's hits (point ids, files, scores);
- ``{"op": "ask", "question": "..."}``: the Chat page's answer with no language model
  (extractive);
- ``{"op": "status"}``: the System page's catalog line.

Each reply is one JSON line on stdout: the result, or ``{"error": "..."}`` (the host keeps
serving). It exits when stdin closes.

Streamlit is not involved: a real app process is started by the test only to show it comes up
healthy on the same servers; driving uploads and questions through pipes keeps the simulation
fast and deterministic on a loaded machine.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ragcore import library
from ragcore.files import read_blocks
from ragcore.models.loader import Models
from ragcore.retrieval import Retriever
from ragcore.runtime import LLMChoice, Runtime, build_answerer, chunking_params, open_catalog
from ragcore.settings import Settings
from ragcore.testing.embedders import HashingEmbedder
from tests.robustness.worker_proc import DIM

# As many jobs as the Library's progress panel lists (app/views/library.py's SHOWN_JOBS).
SHOWN_JOBS = 20
NO_LLM = LLMChoice(None, "LLM: none (multi-host test); answers are extractive")


def build(settings: Settings) -> Runtime:
    """The app's runtime (app/resources.py: build_runtime, then the store opened at once)."""
    models = Models(
        text_model=HashingEmbedder(dim=DIM),
        image_model=None,
        reranker_model=None,
        cache_dir=settings.models_dir,
    )
    rt = Runtime(settings=settings, catalog=open_catalog(settings), models=models)
    _ = rt.store
    return rt


def upload(rt: Runtime, name: str, path: str) -> dict[str, Any]:
    limit = int(rt.settings.max_file_mb * 1024 * 1024)
    added = library.add_bytes(
        rt.catalog,
        rt.files,
        name,
        read_blocks(Path(path)),
        chunking_params(rt.settings),
        max_bytes=limit,
    )
    return {
        "doc_id": added.document.id,
        "key": added.document.path,
        "job_id": added.job.id if added.job is not None else None,
        "duplicate": added.duplicate,
    }


def progress(rt: Runtime) -> dict[str, Any]:
    active = rt.catalog.jobs(active_only=True, limit=SHOWN_JOBS)
    docs = rt.catalog.list_documents()
    names = {d.id: d.name for d in docs}
    return {
        "jobs": [
            {
                "id": j.id,
                "doc_id": j.doc_id,
                "name": library.job_file_name(j, names),
                "status": str(j.status),
                "stage": str(j.stage),
                "progress": j.progress,
                "worker_id": j.worker_id,
                "attempts": j.attempts,
            }
            for j in active
        ],
        "documents": [
            {"id": d.id, "name": d.name, "status": str(d.status), "chunks": d.chunks} for d in docs
        ],
    }


def _config(rt: Runtime) -> Any:
    # No reranker model in this host (none is loaded in the test), as the chat's toggle off.
    return replace(rt.settings.retrieval, rerank=False)


def search(rt: Runtime, question: str) -> dict[str, Any]:
    result = Retriever(rt.catalog, rt.store, rt.models, spaces=rt.spaces).run(question, _config(rt))
    return {
        "hits": [
            {
                "point_id": h.point_id,
                "doc_id": h.doc_id,
                "file": h.file_name,
                "score": h.score,
                "evidence": asdict(h.evidence),
            }
            for h in result.hits
        ],
        "notes": list(result.notes),
    }


def ask(rt: Runtime, question: str) -> dict[str, Any]:
    answer = build_answerer(rt, NO_LLM).start(question, config=_config(rt)).result()
    return {
        "mode": str(answer.mode),
        "text": answer.text,
        "sources": [h.point_id for h in answer.sources],
    }


def serve(rt: Runtime, line: str) -> dict[str, Any]:
    request = json.loads(line)
    op = request.get("op")
    if op == "upload":
        return upload(rt, request["name"], request["path"])
    if op == "progress":
        return progress(rt)
    if op == "search":
        return search(rt, request["question"])
    if op == "ask":
        return ask(rt, request["question"])
    if op == "status":
        return {"catalog": rt.catalog.status().describe(), "files": rt.files.kind}
    raise ValueError(f"unknown op {op!r}; use upload, progress, search, ask or status")


def main() -> int:
    rt = build(Settings())
    try:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                reply = serve(rt, line)
            except Exception as exc:  # reported to the test, which decides; the host stays up
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)
    finally:
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
