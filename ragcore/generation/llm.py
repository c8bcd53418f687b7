"""A chat model behind any OpenAI-compatible endpoint, streamed, with plain-worded failures."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ragcore.errors import LLMUnavailable
from ragcore.generation.chat_template import ChatTemplate
from ragcore.redaction import redact_text, redact_url, url_secrets

# The openai package takes seconds to import; it is loaded when a model is first called,
# so importing ragcore.generation (e.g. for the extractive fallback) stays fast.
if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

# Local servers (llama.cpp, Ollama, vLLM) ignore the key, but the SDK refuses an empty
# one and would otherwise read OPENAI_API_KEY from the environment, which library code
# must not do.
_NO_KEY = "not-needed"
_MAX_DETAIL = 200


class ChatLLM:
    """A chat completion endpoint: OpenAI, Ollama, vLLM or a llama.cpp server.

    Construction is cheap; the client is created on first use.

    >>> llm = ChatLLM("http://127.0.0.1:8080/v1", "qwen2.5-coder-1.5b", None)
    >>> for token in llm.stream(build_messages(question, hits)):
    ...     print(token, end="")
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        *,
        timeout: float = 120,
        max_tokens: int = 512,
        temperature: float = 0.0,
        max_retries: int = 1,
        template: ChatTemplate | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                "the LLM base URL must start with http:// or https://, "
                f"got {redact_url(base_url)!r}"
            )
        if not model.strip():
            raise ValueError("the LLM model name is empty")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be > 0, got {max_tokens}")
        if not 0 <= temperature <= 2:
            raise ValueError(f"temperature must be between 0 and 2, got {temperature}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = base_url.rstrip("/")  # for the client only: it may hold credentials
        self.address = redact_url(self.base_url)  # the form every message shows
        self.model = model
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_retries = max_retries
        self._api_key = api_key or None
        self._client: openai.OpenAI | None = None
        # The model's own chat template, known for a local GGUF: with it a reply can be begun
        # for the model (``stream(prefill=...)``) through the raw completions endpoint.
        self.template = template

    def __repr__(self) -> str:
        # The default repr would show nothing secret either, but say so on purpose.
        return f"ChatLLM({self.describe()})"

    def describe(self) -> str:
        """Where answers come from, for the system view: address and model, never a credential."""
        key = "with an API key" if self._api_key else "no API key"
        return f"model {self.model!r} at {self.address} ({key})"

    @property
    def client(self) -> openai.OpenAI:
        import openai

        if self._client is None:
            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self._api_key or _NO_KEY,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        grammar: str | None = None,
        prefill: str = "",
    ) -> Generator[str, None, None]:
        """Yield the answer's text as it arrives, piece by piece.

        ``grammar`` (GBNF) constrains the reply on a llama.cpp server. ``prefill`` begins the
        reply for the model when its chat template is known (else it is ignored); the stream
        then starts with it, joined to the model's first piece so that the first piece still
        marks when the model began. Closing the generator closes the HTTP stream, which is how
        a llama.cpp server learns to stop generating.
        """
        if prefill and self.template is not None:
            yield from self._continue(messages, prefill, self.template, grammar)
            return
        yield from self._chat(messages, grammar)

    def _chat(self, messages: Sequence[dict[str, str]], grammar: str | None) -> Iterator[str]:
        import openai

        extra = {"grammar": grammar} if grammar else None
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=_params(messages),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                stream=True,
                extra_body=extra,
            )
            with response:
                for chunk in response:
                    # Servers send chunks without choices (usage) and deltas without content
                    # (the role, the finish reason).
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
        except openai.APIError as exc:
            raise self._unavailable(exc) from self._safe_cause(exc)

    def _continue(
        self,
        messages: Sequence[dict[str, str]],
        prefill: str,
        template: ChatTemplate,
        grammar: str | None,
    ) -> Iterator[str]:
        import openai

        prompt = template.render(_params(messages)) + prefill
        extra = {"grammar": grammar} if grammar else None
        pending = prefill
        try:
            response = self.client.completions.create(
                model=self.model,
                prompt=prompt,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                stop=[template.eos] if template.eos else None,
                stream=True,
                extra_body=extra,
            )
            with response:
                for chunk in response:
                    if chunk.choices and chunk.choices[0].text:
                        yield pending + chunk.choices[0].text
                        pending = ""
        except openai.APIError as exc:
            raise self._unavailable(exc) from self._safe_cause(exc)
        if pending:  # the model wrote nothing at all: the reply is still what was begun
            yield pending

    def complete(self, messages: Sequence[dict[str, str]]) -> str:
        """The whole answer at once."""
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=_params(messages),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
        except openai.APIError as exc:
            raise self._unavailable(exc) from self._safe_cause(exc)
        if not response.choices:
            raise LLMUnavailable(f"the language model at {self.address} returned no answer")
        return response.choices[0].message.content or ""

    def _unavailable(self, exc: openai.APIError) -> LLMUnavailable:
        import openai

        where = f"the language model at {self.address}"
        if isinstance(exc, openai.APITimeoutError):
            return LLMUnavailable(f"{where} did not answer within {self.timeout:g} seconds")
        if isinstance(exc, openai.APIConnectionError):
            return LLMUnavailable(
                f"cannot reach {where}: is the server running and the address right?"
            )
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            # Some servers echo part of the key in their message, so none of it is shown.
            return LLMUnavailable(f"{where} refused the API key (HTTP {exc.status_code})")
        if isinstance(exc, openai.NotFoundError):
            return LLMUnavailable(f"{where} has no model named {self.model!r} (HTTP 404)")
        if isinstance(exc, openai.APIStatusError):
            return LLMUnavailable(
                f"{where} failed with HTTP {exc.status_code}: {self._detail(exc.message)}"
            )
        return LLMUnavailable(f"{where} failed: {self._detail(str(exc))}")

    def _detail(self, text: str) -> str:
        # Servers and proxies echo the request's address, with its user:password or ?key=.
        text = redact_text(text, self.base_url)
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text[:_MAX_DETAIL]

    def _safe_cause(self, exc: openai.APIError) -> BaseException | None:
        """The cause to chain: a status error's body may hold the key, and any error's chain
        may print the address (the HTTP library's messages), so not when it holds credentials."""
        import openai

        if isinstance(exc, openai.APIStatusError) or url_secrets(self.base_url):
            return None
        return exc


def _params(messages: Sequence[dict[str, str]]) -> list[ChatCompletionMessageParam]:
    allowed = {"system", "user", "assistant"}
    params: list[Any] = []
    for index, message in enumerate(messages):
        if message.get("role") not in allowed:
            raise ValueError(
                f"message {index} has role {message.get('role')!r}; "
                "expected 'system', 'user' or 'assistant'"
            )
        params.append({"role": message["role"], "content": message.get("content", "")})
    return params
