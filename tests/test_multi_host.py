"""Several hosts on two shared servers: two app processes and three worker processes, each with
its own data directory, sharing only a PostgreSQL database and a VectorAI server.

Files are uploaded through app A while app B watches the progress; the worker running the
largest document is SIGKILLed (its whole process group, as a host that dies) in the middle of
embedding; the other workers take its job once its lease runs out. Every document ends ready
exactly once, with exactly the chunks a clean ingestion gives, and both apps return the same
hits for the same question. No host wrote another's files: uploads live in PostgreSQL, and each
worker keeps only its own cache of the files it ingested.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from qdrant_client.local import distances as qdrant_distances

from ingest.consistency import check_library
from ingest.service import build_worker
from ragcore import library
from ragcore.runtime import Runtime, chunking_params
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.runtime import make_runtime
from tests.processes import Processes, stop_group, wait_until
from tests.robustness.worker_proc import DIM
from tests.streamlit_session import run_pages
from tests.vectorai_server import ContractServer

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
# Short enough that the killed worker's job is taken over within seconds, long enough that a
# live worker's heartbeat (after each embedding batch, ~DELAY apart) never misses it on a
# loaded two-core machine.
LEASE = 4.0
DELAY = 0.8  # seconds each embedding batch of 128 chunks takes in the workers
COLLECTION = "multi_host"
CHUNKING = {"RAG_CHUNK_STRATEGY": "fixed", "RAG_CHUNK_SIZE": "20", "RAG_CHUNK_OVERLAP": "2"}
# name -> (topic words, words in the file). The largest goes first, so a worker is busy with it
# while the others arrive: at 18 new words a chunk, 11,500 words are ~640 chunks, five batches.
FILES = {
    "atlas.txt": (["lighthouse", "keeper", "lamp", "beacon"], 11_500),
    "harbour.txt": (["harbour", "ships", "pier", "cargo"], 5_000),
    "orchard.txt": (["orchard", "apple", "harvest", "cider"], 2_400),
    "glacier.txt": (["glacier", "ice", "melting", "crevasse"], 900),
    "reef.txt": (["reef", "coral", "fish", "lagoon"], 120),
}
BIG = "atlas.txt"
FILLER = ["the", "a", "report", "notes", "season", "visitors", "morning", "record", "old", "new"]
QUESTIONS = [
    "When does the lighthouse keeper light the lamp?",
    "apple orchard harvest",
    "glacier ice melting",
    "ships in the harbour",
    "coral reef fish",
]
HOSTS = ("app-a", "app-b", "worker-1", "worker-2", "worker-3")
STARTUP_SECONDS = 180.0  # five interpreters importing the stack at once on two busy cores
RUN_SECONDS = 180.0


def _write_corpus(folder: Path) -> dict[str, Path]:
    """The person's files, on the person's disk (no host's data directory)."""
    folder.mkdir()
    out = {}
    for n, (name, (topic, words)) in enumerate(FILES.items()):
        rng = random.Random(n)
        text = " ".join(rng.choice(topic if i % 3 == 0 else FILLER) for i in range(words))
        path = folder / name
        path.write_text(f"{' '.join(topic)}. {text}\n")
        out[name] = path
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _env(data_dir: Path, catalog_url: str, store_url: str, **extra: str) -> dict[str, str]:
    """A host's whole configuration: its own data dir, the two shared servers, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "ROBUST_"))}
    env.update(
        RAG_DATA_DIR=str(data_dir),
        RAG_CATALOG_URL=catalog_url,
        RAG_CATALOG_POOL_SIZE="4",
        RAG_STORE="vectorai",
        RAG_VECTORAI_URL=store_url,
        RAG_COLLECTION=COLLECTION,
        RAG_LEASE_SECONDS=str(LEASE),
        RAG_WORKER_POLL_SECONDS="0.1",
        RAG_IMAGE_MODEL="",
        RAG_RERANKER_MODEL="",
        RAG_LOCAL_LLM="false",
        PYTHONPATH=str(REPO),
        **CHUNKING,
        **extra,
    )
    return env


class AppHost:
    """An app process (tests/multi_host_app.py) spoken to in JSON lines over its stdin/stdout."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log
        self._lines: queue.Queue[bytes] = queue.Queue()
        assert process.stdout is not None
        # A reader thread, so that a host that hangs fails the test at a deadline instead of
        # blocking it; it ends when the pipe closes (the process has exited).
        self._reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self._lines.put(line)

    def reply(self, seconds: float = 120.0) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=seconds)
        except queue.Empty:
            raise AssertionError(
                f"{self.name} did not answer within {seconds:g} s (exit code "
                f"{self.process.poll()}):\n{_tail(self.log)}"
            ) from None
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, f"{self.name}: {answer['error']}\n{_tail(self.log)}"
        return answer

    def call(self, op: str, **args: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        self.process.stdin.flush()
        return self.reply()

    def close(self) -> None:
        """End of input: the host closes its runtime and exits (killed if it does not)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        with contextlib.suppress(OSError):  # it died already: the pipe is broken
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            stop_group(self.process)
        self._reader.join(10)
        self.process.stdout.close()


@pytest.fixture()
def app_hosts(processes: Processes) -> Iterator[list[AppHost]]:
    """The test's app hosts, closed before ``processes`` stops whatever is left."""
    started: list[AppHost] = []
    yield started
    for host in started:
        host.close()


def _start(
    processes: Processes,
    command: list[str],
    log: Path,
    env: dict[str, str],
    *,
    stdin: int | None = None,
    stdout: int | None = subprocess.STDOUT,
) -> subprocess.Popen[bytes]:
    """A host process in its own group (stopped at teardown), its stderr (and, unless piped to
    the test, its stdout) in ``log``: a full pipe nobody reads would stall it."""
    with log.open("wb") as out:  # the child holds its own copy of the descriptor
        return processes.start(
            command,
            cwd=REPO,
            env=env,
            stdin=stdin,
            stdout=out if stdout == subprocess.STDOUT else stdout,
            stderr=out,
        )


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


@pytest.fixture()
def vectorai(monkeypatch: pytest.MonkeyPatch) -> Iterator[ContractServer]:
    """The VectorAI stand-in, in this process, answering the same question the same way twice.

    It searches with qdrant-client's local mode, whose cosine search (1.20) re-normalises the
    stored vectors in place on every query: they flip between two float32 roundings, so two
    identical queries in a row can order tied hits differently (the hashing model ties often).
    VectorAI DB normalises once, on upsert; here the stored vectors are left as they are.
    """
    original = qdrant_distances.cosine_similarity

    def cosine_leaving_the_vectors(query: Any, vectors: Any) -> Any:
        return original(query, vectors.copy())

    monkeypatch.setattr(qdrant_distances, "cosine_similarity", cosine_leaving_the_vectors)
    with ContractServer() as server:
        yield server


def _operator(root: Path, catalog_url: str, store_url: str) -> Runtime:
    """The test's own view of the shared servers, from a folder no host uses."""
    return make_runtime(
        root / "operator",
        text=HashingEmbedder(dim=DIM),
        catalog_url=catalog_url,
        store="vectorai",
        vectorai_url=store_url,
        collection=COLLECTION,
        image_model="",
        reranker_model="",
        parse_sandbox=False,
    )


def _reference_chunks(root: Path, files: dict[str, Path]) -> dict[str, list[tuple[object, ...]]]:
    """Each file's chunks from a clean, uninterrupted ingestion in one process (SQLite)."""
    rt = make_runtime(
        root / "reference",
        text=HashingEmbedder(dim=DIM),
        image_model="",
        reranker_model="",
        parse_sandbox=False,
        chunk_strategy=CHUNKING["RAG_CHUNK_STRATEGY"],
        chunk_size=int(CHUNKING["RAG_CHUNK_SIZE"]),
        chunk_overlap=int(CHUNKING["RAG_CHUNK_OVERLAP"]),
    )
    try:
        for path in files.values():
            library.add_file(rt.catalog, rt.files, path, chunking_params(rt.settings))
        build_worker(rt).run_until_idle()
        return {_sha(path): _rows(rt, _sha(path)) for path in files.values()}
    finally:
        rt.close()


def _rows(rt: Runtime, doc_id: str) -> list[tuple[object, ...]]:
    return [
        (c.chunk_no, c.page, c.start, c.end, c.text, c.point_id) for c in rt.catalog.chunks(doc_id)
    ]


def _host_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def test_two_apps_three_workers_one_killed_share_only_postgres_and_vectorai(
    tmp_path: Path,
    postgres_url: str,
    vectorai: ContractServer,
    processes: Processes,
    app_hosts: list[AppHost],
) -> None:
    files = _write_corpus(tmp_path / "person")
    content = {path.read_bytes(): name for name, path in files.items()}
    expected = _reference_chunks(tmp_path, files)
    hosts = {name: tmp_path / "hosts" / name for name in HOSTS}
    for folder in hosts.values():
        folder.mkdir(parents=True)

    def log(name: str) -> Path:
        return tmp_path / "logs" / f"{name}.log"  # beside the hosts, not in their data dirs

    log("x").parent.mkdir()
    workers: dict[str, subprocess.Popen[bytes]] = {}
    for name in HOSTS[2:]:
        workers[name] = _start(
            processes,
            [sys.executable, "-m", "tests.robustness.worker_proc"],
            log(name),
            _env(
                hosts[name],
                postgres_url,
                vectorai.url,
                ROBUST_SLOW="embedding",
                ROBUST_DELAY=str(DELAY),
            ),
        )
    apps = {
        name: AppHost(
            name,
            _start(
                processes,
                [sys.executable, "-m", "tests.multi_host_app"],
                log(name),
                _env(hosts[name], postgres_url, vectorai.url),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            ),
            log(name),
        )
        for name in HOSTS[:2]
    }
    app_hosts.extend(apps.values())
    a, b = apps["app-a"], apps["app-b"]
    for app in (a, b):
        assert app.reply(STARTUP_SECONDS) == {"ready": True}
        assert app.call("status")["files"] == "postgresql"
        assert app.call("status")["catalog"].startswith("Catalog: PostgreSQL")
    pids = {f"test-{p.pid}": name for name, p in workers.items()}

    def workers_ready() -> bool:
        for name, process in workers.items():
            assert process.poll() is None, f"{name} exited:\n{_tail(log(name))}"
        return all("ready" in _tail(log(name)) for name in workers)

    wait_until("the three workers to start", workers_ready, seconds=STARTUP_SECONDS, every=0.2)

    # Upload through A; B, another host, watches the queue as the files arrive.
    seen: list[dict[str, Any]] = []
    uploaded = {}
    for name, path in files.items():
        uploaded[name] = a.call("upload", name=name, path=str(path))
        seen.append(b.call("progress"))
    assert all(u["key"].startswith("pg:") and not u["duplicate"] for u in uploaded.values())
    big_job = uploaded[BIG]["job_id"]

    def big_job_embedding() -> bool:
        seen.append(b.call("progress"))
        job = next((j for j in seen[-1]["jobs"] if j["id"] == big_job), None)
        if job is None or job["stage"] not in ("queued", "parsing", "chunking", "embedding"):
            # Polling missed the whole window (the job is writing or done): say so now rather
            # than wait out RUN_SECONDS.
            raise AssertionError(f"{BIG}'s job went past embedding unseen: {job}")
        # At least one batch done, at least three to go (~2.4 s): the kill lands mid-embedding.
        return job["stage"] == "embedding" and 0.2 < job["progress"] < 0.6

    wait_until(
        f"{BIG}'s job to be embedding", big_job_embedding, seconds=RUN_SECONDS, every=0.05,
        state=lambda: seen[-1]["jobs"],
    )  # fmt: skip
    holder = next(j for j in seen[-1]["jobs"] if j["id"] == big_job)["worker_id"]
    killed = pids[holder]
    # The host dies: its worker and the worker's parse sandbox, all at once.
    os.killpg(workers[killed].pid, signal.SIGKILL)
    workers[killed].wait(10)

    operator = _operator(tmp_path, postgres_url, vectorai.url)
    try:
        job = operator.catalog.get_job(big_job)
        assert job is not None and job.status == "running" and job.stage == "embedding", job
        assert job.worker_id == holder and job.attempts == 1
        assert operator.catalog.chunks(uploaded[BIG]["doc_id"]) == []
        assert operator.store.count(uploaded[BIG]["doc_id"]) == 0

        def all_ready() -> bool:
            seen.append(b.call("progress"))
            docs = seen[-1]["documents"]
            return not seen[-1]["jobs"] and all(d["status"] == "ready" for d in docs)

        wait_until(
            "every document to be ready", all_ready, seconds=RUN_SECONDS, every=0.2,
            state=lambda: (seen[-1], {n: _tail(log(n), 800) for n in workers}),
        )  # fmt: skip

        # Every document is there once, ready, with exactly a clean ingestion's chunks.
        docs = operator.catalog.list_documents()
        assert sorted(d.name for d in docs) == sorted(FILES)
        assert {d.id for d in docs} == {_sha(p) for p in files.values()}
        every_point = [p.id for p in operator.store.scroll()]
        assert len(every_point) == len(set(every_point))  # no point twice
        for doc in docs:
            rows = _rows(operator, doc.id)
            assert doc.status == "ready" and doc.error is None, doc
            assert rows == expected[doc.id], doc.name
            assert doc.chunks == len(rows) == operator.store.count(doc.id), doc.name
            assert {p.id for p in operator.store.scroll(doc.id)} == {r[5] for r in rows}
            jobs = operator.catalog.jobs(doc_id=doc.id)
            assert [j.status for j in jobs] == ["done"], (doc.name, jobs)
        assert len(every_point) == sum(len(r) for r in expected.values())  # no orphans
        report = check_library(operator.catalog, operator.store)
        assert report.clean, report
        # The killed worker's job was claimed again, by a worker that is still alive.
        job = operator.catalog.get_job(big_job)
        assert job is not None and job.attempts >= 2, job
        assert job.worker_id in pids and pids[job.worker_id] != killed, job
        finisher = pids[job.worker_id]
        finished_by = {
            j.doc_id: pids[j.worker_id] for j in operator.catalog.jobs() if j.worker_id in pids
        }
    finally:
        operator.close()

    # B saw A's uploads as they came, the job running on the worker that was then killed, and
    # the end: no job in flight, every document ready.
    listed = {d["name"] for snapshot in seen for d in snapshot["documents"]}
    assert listed == set(FILES)
    assert any(
        j["id"] == big_job and j["status"] == "running" and j["worker_id"] == holder
        for snapshot in seen
        for j in snapshot["jobs"]
    )
    assert len({j["id"] for snapshot in seen for j in snapshot["jobs"]}) >= 2

    # Both apps answer the same question with the same hits, in the same order, same scores.
    for question in QUESTIONS:
        found = {name: app.call("search", question=question) for name, app in apps.items()}
        assert found["app-a"] == found["app-b"], question
        assert found["app-a"]["hits"], question
        answers = {name: app.call("ask", question=question) for name, app in apps.items()}
        assert answers["app-a"] == answers["app-b"], question
        assert answers["app-a"]["mode"] == "extractive" and answers["app-a"]["text"], question
    top = a.call("search", question=QUESTIONS[0])["hits"][0]
    assert top["file"] == BIG

    # No host holds another's files. The apps kept no upload at all (uploads live in
    # PostgreSQL); each worker keeps only its own cache, of the files it ingested.
    for name in ("app-a", "app-b"):
        kept = _host_files(hosts[name])
        assert not [p for p in kept if p.read_bytes() in content], (name, kept)
    cached: dict[str, set[str]] = {}
    for name in workers:
        kept = _host_files(hosts[name])
        assert all(p.relative_to(hosts[name]).parts[0] == "file-cache" for p in kept), kept
        assert all(p.read_bytes() in content for p in kept), kept
        cached[name] = {p.name.split(".")[0] for p in kept}
    for doc_id, worker in finished_by.items():
        assert doc_id in cached[worker], (worker, doc_id, cached)
    assert uploaded[BIG]["doc_id"] in cached[killed] and uploaded[BIG]["doc_id"] in cached[finisher]
    for folder in hosts.values():
        assert not (folder / "catalog.sqlite3").exists() and not (folder / "uploads").exists()

    for name, process in workers.items():
        if name != killed:
            assert process.poll() is None, f"{name} exited:\n{_tail(log(name))}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    def healthy() -> bool:
        assert process.poll() is None, f"streamlit exited:\n{_tail(log)}"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:  # not listening yet (URLError is an OSError)
            return False

    wait_until("streamlit to answer its health check", healthy, seconds=STARTUP_SECONDS, every=0.3)


def test_a_real_app_process_on_the_same_servers_shows_the_shared_library(
    tmp_path: Path, postgres_url: str, vectorai: ContractServer, processes: Processes
) -> None:
    """`streamlit run app/main.py` as shipped, configured only by RAG_* variables to use the two
    servers: another host's document is in its Library, and its System page names both servers."""
    operator = _operator(tmp_path, postgres_url, vectorai.url)
    try:
        added = library.add_bytes(
            operator.catalog,
            operator.files,
            "keeper.txt",
            [b"The lighthouse keeper lights the lamp at dusk and logs every passing ship."],
            chunking_params(operator.settings),
        )
        build_worker(operator).run_until_idle()
        doc = operator.catalog.get_document(added.document.id)
        assert doc is not None and doc.status == "ready", doc
    finally:
        operator.close()
    data_dir = tmp_path / "hosts" / "streamlit"
    data_dir.mkdir(parents=True)
    log = tmp_path / "streamlit.log"
    port = _free_port()
    app = _start(
        processes,
        [
            sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "main.py"),
            "--server.headless", "true", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
        ],
        log,
        _env(data_dir, postgres_url, vectorai.url, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, app, log)

    pages = run_pages(url, ["Library", "System"])
    for name, page in pages.items():
        assert not page.errors, (name, page.errors, _tail(log))
    assert pages["Library"].shows("Documents (1)") and pages["Library"].shows("keeper.txt")
    system = pages["System"]
    assert system.shows(f"VectorAI DB server at `{vectorai.url}`, collection `{COLLECTION}`")
    assert system.shows("Catalog: PostgreSQL"), system.texts
    assert system.shows("Ready: 1") and system.shows(f"Vectors (points): {doc.chunks}")
    # Nothing of the library on this host's disk: no catalog file, no uploads, no vectors.
    assert not (data_dir / "catalog.sqlite3").exists() and not (data_dir / "uploads").exists()
    assert not (data_dir / "vectors").exists()
