"""Re-embedding end to end with real models: a tiny random one and the offline MiniLM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from ingest.batch import ingest_texts
from ingest.reembed import start_reembed
from ingest.service import build_worker
from ragcore.catalog import Catalog
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.runtime import Runtime, build_runtime
from ragcore.settings import Settings
from ragcore.spaces import SpaceRouter
from ragcore.stores.embedded import EmbeddedStore
from ragcore.types import ChunkingParams, Strategy
from tests.processes import Processes
from tests.tiny_text import tiny_text_model

pytestmark = pytest.mark.integration

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
REPO = Path(__file__).resolve().parents[2]
PARAMS = ChunkingParams(Strategy.FIXED, 24, 4)
TOPICS = (
    "Pelicans scoop fish from the water with the pouch under their bill.",
    "Tidal turbines turn with the current and make power twice a day.",
    "A sourdough starter is flour and water full of wild yeast.",
    "Zero trust networks check every request as if it came from outside.",
)


def texts(n: int) -> list[tuple[str, str, str]]:
    return [
        (
            f"doc-{i:03d}",
            f"note-{i}.txt",
            f"Note {i}. " + " ".join(TOPICS[(i + k) % 4] for k in range(3)),
        )
        for i in range(n)
    ]


def settings_for(data_dir: Path, text_model: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "store": "embedded",
        "text_model": str(text_model),
        "image_model": "",
        "reranker_model": "",
        "local_llm": False,
        "parse_sandbox": False,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


def held_per_doc(store: EmbeddedStore | SpaceRouter, collection: str) -> Counter[str]:
    return Counter(str(p.payload["doc_id"]) for p in store.with_collection(collection).scroll())


def test_questions_are_answered_throughout_a_model_switch(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tiny = tiny_text_model(tmp_path_factory, "prompted")
    rt: Runtime = build_runtime(
        settings_for(tmp_path / "data", tiny, reembed_drop_grace_seconds=0.2)
    )
    router = rt.store
    assert isinstance(router, SpaceRouter)
    ingest_texts(rt.catalog, router, rt.models, texts(12), PARAMS)
    old = router.active()
    assert (old.model_id, old.dim) == (str(tiny), 48)

    stop = threading.Event()
    errors: list[BaseException] = []
    answered: list[tuple[str, int]] = []  # (active model when asked, hits)
    observed: list[str] = []  # the active model, seen in the same snapshot as the chunks

    def ask() -> None:
        retriever = Retriever(rt.catalog, rt.store, rt.models)
        config = RetrievalConfig(mode="hybrid", rerank=False, use_image_leg=False)
        questions = ["what do pelicans eat", "how do tides make power", "wild yeast"]
        n = 0
        while not stop.is_set():
            try:
                model = router.active().model_id
                result = retriever.run(questions[n % 3], config)
                answered.append((model, len(result.hits)))
            except BaseException as exc:  # the loop must never fail: record whatever it is
                errors.append(exc)
            n += 1

    def observe() -> None:
        conn = sqlite3.connect(rt.settings.catalog_path, isolation_level=None)
        try:
            while not stop.is_set():
                conn.execute("BEGIN")
                (active,) = conn.execute(
                    "SELECT model_id FROM spaces WHERE status = 'active'"
                ).fetchone()
                models = {r[0] for r in conn.execute("SELECT DISTINCT embed_model FROM chunks")}
                conn.execute("COMMIT")
                if models != {active}:
                    errors.append(AssertionError(f"active {active} but chunks say {models}"))
                observed.append(active)
                time.sleep(0.005)
        finally:
            conn.close()

    threads = [threading.Thread(target=ask), threading.Thread(target=observe)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        space, job = start_reembed(rt.catalog, router, rt.models, MINILM)
        (outcome,) = build_worker(rt).run_until_idle([job.id])
        deadline = time.monotonic() + 30
        while sum(1 for m, _ in answered if m == MINILM) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    try:
        assert not errors, errors[:3]
        assert outcome.ok, outcome.error
        assert answered and all(hits > 0 for _, hits in answered)
        asked_models = [m for m, _ in answered]
        assert asked_models[0] == str(tiny) and asked_models[-1] == MINILM
        # One switch, never back: the old model until the switch, the new one after it.
        switches = [i for i in range(1, len(observed)) if observed[i] != observed[i - 1]]
        assert len(switches) == 1 and observed[-1] == MINILM
        active = router.active()
        assert (active.name, active.dim) == (space.name, 384)
        assert held_per_doc(router, space.name) == Counter(r.doc_id for r in rt.catalog.chunks())
        assert router.with_collection(old.name).count() == 0
        assert rt.catalog.get_space(old.name).status == "dropped"  # type: ignore[union-attr]
    finally:
        rt.close()


def _env(data_dir: Path, tiny: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        RAG_DATA_DIR=str(data_dir),
        RAG_STORE="embedded",
        RAG_TEXT_MODEL=str(tiny),
        RAG_IMAGE_MODEL="",
        RAG_RERANKER_MODEL="",
        RAG_LOCAL_LLM="false",
        RAG_PARSE_SANDBOX="false",
        RAG_LEASE_SECONDS="3",
        RAG_REEMBED_DROP_GRACE_SECONDS="0",
        # Small paced batches: the job lasts seconds on any machine, so the kill lands mid-way.
        RAG_REEMBED_BATCH_SIZE="4",
        RAG_REEMBED_PAUSE_SECONDS="0.25",
        PYTHONPATH=str(REPO),
    )
    return env


@pytest.mark.slow
def test_a_reembed_killed_mid_way_resumes_where_it_stopped(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, processes: Processes
) -> None:
    tiny = tiny_text_model(tmp_path_factory, "prompted")
    target = str(tiny_text_model(tmp_path_factory, "wide"))
    data_dir = tmp_path / "data"
    rt = build_runtime(settings_for(data_dir, tiny))
    ingest_texts(rt.catalog, rt.store, rt.models, texts(16), PARAMS)
    total = len(rt.catalog.chunks())
    old = rt.catalog.active_space()
    rt.close()  # the subprocess must own the store folder
    assert old is not None

    command = [sys.executable, "-m", "ingest", "reembed", "--model", target, "--wait", "--json"]
    env = _env(data_dir, tiny)
    first = processes.start(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    catalog = Catalog(data_dir / "catalog.sqlite3")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None:
            jobs = [j for j in catalog.jobs() if j.kind == "reembed"]
            if jobs and jobs[0].status == "running" and 0.1 <= jobs[0].progress <= 0.8:
                break
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        (job,) = [j for j in catalog.jobs() if j.kind == "reembed"]
        pending = catalog.pending_space()
        assert job.status == "running" and pending is not None  # left as the kill found them
        assert catalog.active_space().name == old.name  # type: ignore[union-attr]
        store = EmbeddedStore(data_dir / "vectors", collection=pending.name)
        kept = store.count()
        store.close()
        assert 0 < kept < total

        # The same command again: it waits for the dead worker's lease, then carries on.
        second = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )
        assert second.returncode == 0, second.stderr[-2000:]
        result = json.loads(second.stdout.strip().splitlines()[-1])
        assert (result["job"], result["job_status"], result["space_status"]) == (
            job.id,
            "done",
            "active",
        )
        report = result["report"]
        assert report["reused"] >= kept and report["reused"] + report["embedded"] == total
        assert report["chunks"] == total
        active = catalog.active_space()
        assert active is not None and (active.name, active.model_id) == (pending.name, target)
        assert catalog.get_space(old.name).status == "dropped"  # type: ignore[union-attr]
        assert {r.embed_model for r in catalog.chunks()} == {target}
        store = EmbeddedStore(data_dir / "vectors", collection=pending.name)
        assert held_per_doc(store, pending.name) == Counter(r.doc_id for r in catalog.chunks())
        store.close()
    finally:
        catalog.close()
