"""API keys never appear in CLI output, error messages or logs, even when a server echoes them back."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ragcore.errors import LLMUnavailable, StoreUnavailable
from ragcore.generation.llm import ChatLLM
from ragcore.runtime import connect_llm
from ragcore.settings import Settings
from ragcore.stores.vectorai import VectorAIStore
from ragcore.testing.llm_server import ScriptedLLMServer
from tests.vectorai_server.server import ContractServer

REPO = Path(__file__).resolve().parents[2]
LLM_KEY = "sk-test-LLMSECRET-4f9a2c7e1b"
STORE_KEY = "vai-test-STORESECRET-93d1e0"
MESSAGES = [{"role": "user", "content": "hello"}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assert_secret_free(*texts: str) -> None:
    for text in texts:
        assert LLM_KEY not in text and STORE_KEY not in text, text[-2000:]
        # Not even a recognisable part of them.
        assert "LLMSECRET" not in text and "STORESECRET" not in text, text[-2000:]


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )


@pytest.fixture()
def secret_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    env = {
        "RAG_LLM_API_KEY": LLM_KEY,
        "RAG_VECTORAI_API_KEY": STORE_KEY,
        "RAG_DATA_DIR": str(tmp_path / "data"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_settings_never_print_keys(secret_env: dict[str, str]) -> None:
    settings = Settings()
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == LLM_KEY
    _assert_secret_free(repr(settings), str(settings), settings.model_dump_json())


def test_llm_errors_and_logs_hold_no_key(
    secret_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A dead endpoint.
    dead = ChatLLM(f"http://127.0.0.1:{_free_port()}/v1", "m", LLM_KEY, timeout=3, max_retries=0)
    with pytest.raises(LLMUnavailable) as refused:
        dead.complete(MESSAGES)
    # A server that refuses the key and repeats it in its error, as some do.
    echo = f"Incorrect API key provided: {LLM_KEY}"
    with ScriptedLLMServer(echo, status=401) as server:
        llm = ChatLLM(server.base_url, server.model, LLM_KEY, max_retries=0)
        with pytest.raises(LLMUnavailable) as echoed:
            "".join(llm.stream(MESSAGES))
        assert server.requests, "the key was sent to the server"
    settings = Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="m")
    choice = connect_llm(settings)
    _assert_secret_free(
        str(refused.value),
        repr(refused.value.__cause__),
        str(echoed.value),
        repr(echoed.value.__cause__),
        repr(dead),
        llm.describe(),
        choice.status,
        repr(choice.llm),
        _log_text(caplog),
    )


def test_store_errors_and_logs_hold_no_key(
    secret_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ContractServer(api_key="the-right-key") as server:
        store = VectorAIStore(server.url, api_key=STORE_KEY, startup_timeout=2)
        with pytest.raises(StoreUnavailable) as refused:
            store.count()
        assert STORE_KEY in server.api_keys_seen  # it was sent, and only there
        store.close()
    dead = VectorAIStore(f"127.0.0.1:{_free_port()}", api_key=STORE_KEY, startup_timeout=1)
    with pytest.raises(StoreUnavailable) as unreachable:
        dead.count()
    dead.close()
    _assert_secret_free(
        str(refused.value),
        str(unreachable.value),
        repr(store),
        repr(dead),
        _log_text(caplog),
    )


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | env
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=full | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.integration  # starts a process
def test_cli_output_holds_no_key(secret_env: dict[str, str], tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe tide table is published on Mondays.\n")
    embedded = {**secret_env, "RAG_IMAGE_MODEL": "", "RAG_RERANKER_MODEL": ""}
    runs = [
        _cli(embedded, "ingest", "add", str(note)),
        _cli(embedded, "ingest", "status", "--json"),
    ]
    # The VectorAI store configured but down: the error a person sees names no key.
    vectorai = {
        **embedded,
        "RAG_STORE": "vectorai",
        "RAG_VECTORAI_URL": f"127.0.0.1:{_free_port()}",
        "RAG_VECTORAI_STARTUP_TIMEOUT": "1",
    }
    down = _cli(vectorai, "ingest", "check")
    runs.append(down)
    assert down.returncode == 2 and "VectorAI DB at" in down.stderr
    for run in runs:
        _assert_secret_free(run.stdout, run.stderr)
    assert runs[0].returncode == 0 and "queued" in runs[0].stdout
