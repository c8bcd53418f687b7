"""Answers to what cannot be answered normally: a question with no words, an LLM that fails."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from ragcore.answering import NO_WORDS, Answerer
from ragcore.generation.extractive import EXTRACTIVE_LABEL
from ragcore.generation.llm import ChatLLM
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.runtime import Runtime
from ragcore.testing.llm_server import ScriptedLLMServer
from tests.ragcore.library_runtime import runtime_with_texts

DOCS = {
    "fips.txt": "FIPS 199 defines three security categories: low, moderate and high impact.",
    "cloud.txt": "Cloud computing has five essential characteristics, including on-demand "
    "self-service and broad network access.",
}
CONFIG = RetrievalConfig(rerank=False, top_k=3)
PASSWORD = "PASSWORD456"
QUESTION = "Which security categories does FIPS 199 define?"


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = runtime_with_texts(tmp_path_factory.mktemp("fallbacks"), DOCS)
    yield runtime
    runtime.close()


def _answerer(rt: Runtime, llm: ChatLLM | None) -> Answerer:
    return Answerer(Retriever(rt.catalog, rt.store, rt.models), llm, embedder=rt.models.text)


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("question", ["", "   ", "🙂🙂", "?!", "🎉 — ¿… !!", "___"])
def test_question_without_words_asks_for_words_and_cites_nothing(
    rt: Runtime, question: str
) -> None:
    history = [("user", "Tell me about FIPS 199"), ("assistant", "It defines categories [1].")]
    with ScriptedLLMServer("Unrelated answer [1].") as server:
        llm = ChatLLM(server.base_url, server.model, None)
        answer = _answerer(rt, llm).ask(question, config=CONFIG, history=history)
        assert server.requests == []  # neither rewritten nor answered by the model
    assert answer.text == NO_WORDS and answer.mode == "not_found"
    assert answer.sources == () and answer.closest == () and answer.citations == ()


def test_failed_llm_says_so_with_its_masked_address(rt: Runtime) -> None:
    url = f"http://u:{PASSWORD}@127.0.0.1:{_dead_port()}/v1"
    llm = ChatLLM(url, "m", None, timeout=5, max_retries=0)
    answer = _answerer(rt, llm).ask(QUESTION, config=CONFIG)
    assert answer.mode == "extractive" and answer.citations
    first = answer.text.splitlines()[0]
    assert first.startswith("The configured language model could not be used (cannot reach")
    assert llm.address in first and "extractive answer" in first
    assert EXTRACTIVE_LABEL not in answer.text  # not "No language model is configured"
    assert PASSWORD not in json.dumps(answer.to_json())
    assert answer.llm == f"model 'm' at {llm.address} (no API key)"


def test_without_llm_the_label_still_says_none_is_configured(rt: Runtime) -> None:
    answer = _answerer(rt, None).ask(QUESTION, config=CONFIG)
    assert answer.mode == "extractive" and answer.text.startswith(EXTRACTIVE_LABEL)
