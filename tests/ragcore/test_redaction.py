"""Credentials in the LLM address never reach a message: masked in the URL and in client errors."""

from __future__ import annotations

import socket

import pytest

from ragcore.errors import LLMUnavailable
from ragcore.generation.llm import ChatLLM
from ragcore.redaction import redact_text, redact_url, url_secrets
from ragcore.runtime import connect_llm
from ragcore.settings import Settings
from ragcore.testing.llm_server import ScriptedLLMServer

PASSWORD = "PASSWORD456"
KEY = "sk-query-key-789"


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:PASSWORD456@127.0.0.1:9/v1", "http://***@127.0.0.1:9/v1"),
        ("https://TOKEN123@api.example.com/v1", "https://***@api.example.com/v1"),
        (
            "https://h/v1?api_key=abc&api-version=2024-02-01",
            "https://h/v1?api_key=***&api-version=2024-02-01",
        ),
        ("https://h/v1?token=t0k3n", "https://h/v1?token=***"),
        ("https://h/v1?x=1&access_token=a.b.c&key=k", "https://h/v1?x=1&access_token=***&key=***"),
        ("https://h/v1?X-Amz-Signature=ff00&sig=1", "https://h/v1?X-Amz-Signature=***&sig=***"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),  # nothing secret: unchanged
        ("https://h/v1?model=llama", "https://h/v1?model=llama"),
    ],
)
def test_redact_url_masks_user_info_and_secret_parameters(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_masks_echoed_addresses_and_bare_secrets() -> None:
    url = f"http://u:{PASSWORD}@h:1/v1?api_key={KEY}"
    assert set(url_secrets(url)) == {"u", PASSWORD, KEY}
    echoed = (
        f"POST http://u:{PASSWORD}@h:1/v1/chat/completions?api_key={KEY} failed; "
        f"password {PASSWORD} and key {KEY} rejected for user u"
    )
    shown = redact_text(echoed, url)
    assert PASSWORD not in shown and KEY not in shown
    assert "http://***@h:1/v1/chat/completions?api_key=***" in shown
    assert "for user u" in shown  # a one-letter user name is masked in addresses only
    # Percent-encoded in the address, echoed decoded by a server.
    encoded = "http://u:p%40ss%3Aword@h/v1"
    assert "p@ss:word" not in redact_text("bad password p@ss:word", encoded)


def test_llm_describe_and_errors_show_no_credentials() -> None:
    url = f"http://u:{PASSWORD}@127.0.0.1:{_dead_port()}/v1?api_key={KEY}"
    llm = ChatLLM(url, "m", None, timeout=5, max_retries=0)
    assert llm.address.startswith("http://***@127.0.0.1:") and llm.address.endswith("api_key=***")
    assert llm.describe() == f"model 'm' at {llm.address} (no API key)"
    assert PASSWORD not in repr(llm) and KEY not in repr(llm)
    for call in (
        lambda: list(llm.stream([{"role": "user", "content": "hi"}])),
        lambda: llm.complete([{"role": "user", "content": "hi"}]),
    ):
        with pytest.raises(LLMUnavailable) as info:
            call()
        assert "cannot reach" in str(info.value) and llm.address in str(info.value)
        # A stack dump prints the chained causes, whose messages may carry the address.
        assert info.value.__cause__ is None and info.value.__suppress_context__
        assert PASSWORD not in str(info.value) and KEY not in str(info.value)
    with pytest.raises(ValueError, match="must start with http") as bad:
        ChatLLM(f"ftp://u:{PASSWORD}@h/v1", "m", None)
    assert PASSWORD not in str(bad.value)


def test_server_error_echoing_the_address_is_masked() -> None:
    with ScriptedLLMServer("placeholder", status=500) as server:
        url = server.base_url.replace("http://", f"http://u:{PASSWORD}@")
        server.script = f"upstream {url}/chat/completions?key={KEY} refused; password {PASSWORD}"
        llm = ChatLLM(url, "m", None, max_retries=0)
        with pytest.raises(LLMUnavailable, match="HTTP 500") as info:
            llm.complete([{"role": "user", "content": "hi"}])
    assert PASSWORD not in str(info.value) and KEY not in str(info.value)
    assert "http://***@127.0.0.1" in str(info.value)


def test_connect_llm_status_line_hides_credentials() -> None:
    settings = Settings(
        llm_base_url=f"http://u:{PASSWORD}@127.0.0.1:9/v1?api_key={KEY}", local_llm=False
    )
    choice = connect_llm(settings)
    assert (
        choice.status
        == "LLM: model 'default' at http://***@127.0.0.1:9/v1?api_key=*** (no API key)"
    )
