"""A real HTTP server speaking the OpenAI chat-completions API, answering from a script."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Messages = list[dict[str, Any]]
Script = str | Callable[[Messages], str]

_PIECE_RE = re.compile(r"\s*\S{1,4}|\s+")


def token_pieces(text: str) -> list[str]:
    """``text`` cut into small pieces, as a model streams it; joined, they give ``text`` back."""
    return _PIECE_RE.findall(text)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, for tests to assert what the model saw."""

    method: str
    path: str
    headers: dict[str, str]  # names in lowercase
    body: dict[str, Any]

    @property
    def messages(self) -> Messages:
        messages: Messages = self.body.get("messages", [])
        return messages


class ScriptedLLMServer:
    """An OpenAI-compatible endpoint on 127.0.0.1 whose answers come from ``script``.

    ``script`` is a fixed reply or a function of the request's messages. Streamed replies
    arrive as server-sent events in small pieces, ``delay`` seconds apart. With ``status``
    other than 200 every completion fails with that HTTP status and an OpenAI-style error
    whose message is the script's reply.

    >>> with ScriptedLLMServer("Paris [1].") as server:
    ...     llm = ChatLLM(server.base_url, server.model, None)
    ...     "".join(llm.stream(messages))
    'Paris [1].'
    """

    def __init__(
        self,
        script: Script,
        *,
        model: str = "scripted-model",
        delay: float = 0.0,
        status: int = 200,
    ) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        self.script = script
        self.model = model
        self.delay = delay
        self.status = status
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the scripted LLM server is not running; call start() first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def start(self) -> ScriptedLLMServer:
        if self._httpd is not None:
            return self
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _reply(self, messages: Messages) -> str:
        return self.script(messages) if callable(self.script) else self.script


def _handler_for(server: ScriptedLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: the connection closes after each response, which ends a stream
        # without chunked encoding.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_GET(self) -> None:
            server._record(RecordedRequest("GET", self.path, self._headers(), {}))
            if self.path.rstrip("/") == "/v1/models":
                models = {
                    "object": "list",
                    "data": [
                        {"id": server.model, "object": "model", "created": 0, "owned_by": "test"}
                    ],
                }
                self._json(200, models)
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError as exc:
                self._error(400, f"request body is not JSON: {exc}")
                return
            server._record(RecordedRequest("POST", self.path, self._headers(), body))
            route = self.path.rstrip("/")
            if route not in ("/v1/chat/completions", "/v1/completions"):
                self._error(404, f"no route {self.path}")
                return
            raw = route == "/v1/completions"
            # A raw completion continues a prompt: the script sees it as one "prompt" message
            # and replies with what follows it.
            messages = [{"role": "prompt", "content": body.get("prompt", "")}] if raw else None
            reply = server._reply(messages or body.get("messages", []))
            if server.status != 200:
                self._error(server.status, reply)
            elif body.get("stream"):
                self._stream(reply, raw=raw)
            else:
                self._json(200, _completion(server.model, reply))

        def _headers(self) -> dict[str, str]:
            return {name.lower(): value for name, value in self.headers.items()}

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            error = {"message": message, "type": "scripted_error", "param": None, "code": None}
            self._json(status, {"error": error})

        def _stream(self, reply: str, *, raw: bool = False) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            if not raw:
                self._event(_chunk(server.model, {"role": "assistant", "content": ""}, None))
            for piece in token_pieces(reply):
                if server.delay:
                    time.sleep(server.delay)
                if raw:
                    self._event(_text_chunk(server.model, piece, None))
                else:
                    self._event(_chunk(server.model, {"content": piece}, None))
            self._event(
                _text_chunk(server.model, "", "stop") if raw else _chunk(server.model, {}, "stop")
            )
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _event(self, payload: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

    return Handler


def _chunk(model: str, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _text_chunk(model: str, text: str, finish: str | None) -> dict[str, Any]:
    return {
        "id": "cmpl-scripted",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
    }


def _completion(model: str, reply: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
