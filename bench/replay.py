"""A language model that writes again what the model wrote in an earlier ``bench.answers`` run.

Everything after the model (the quote check, the claim check, the choice between the model's
answer, the documents' words and "not found", the citation check) can then be judged again on
the same replies in about a minute, with no model and no sampling noise. The retrieval and the
evidence are computed anew, so a replay is faithful only while they pick what the run's did:
a change to either changes the prompt, and only a real run says what the model then writes.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path

from ragcore.generation.chat_template import ChatTemplate
from ragcore.generation.llm import ChatLLM

# Never rendered: the replay only needs to be a model whose replies can be begun for it.
_TEMPLATE = ChatTemplate("{{ messages[-1]['content'] }}", bos="", eos="")


class ReplayLLM(ChatLLM):
    """Answers each question with the reply recorded for it.

    The app begins a reply for the model ("Quote [") and sometimes begins it again to have an
    answer line finished ("…\\nAnswer: FIPS 199 was published:"). A recorded reply holds those
    continuations in order, so each request is answered with what the run's reply says after
    the last line it was begun with; a continuation the run never asked for is empty.

    >>> llm = ReplayLLM({"Who?": 'Quote [1]: "Ann wrote it."\\nAnswer: Ann [1].'})
    >>> "".join(llm.stream([{"role": "user", "content": "Question: Who?"}], prefill="Quote ["))
    'Quote [1]: "Ann wrote it."\\nAnswer: Ann [1].'
    """

    def __init__(self, replies: Mapping[str, str]) -> None:
        super().__init__("http://replay.invalid/v1", "replay", None, template=_TEMPLATE)
        # Longest first: a question that contains another is matched as itself.
        self.replies = dict(sorted(replies.items(), key=lambda kv: -len(kv[0])))

    @classmethod
    def from_run(cls, path: Path) -> ReplayLLM:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        return cls({r["question"]: r.get("model_text") or "" for r in rows})

    def describe(self) -> str:
        return "replayed replies (no model)"

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        grammar: str | None = None,
        prefill: str = "",
    ) -> Generator[str, None, None]:
        recorded = self._reply_for(messages[-1]["content"])
        if recorded.startswith(prefill):
            yield recorded
            return
        begun = prefill.rsplit("\n", 1)[-1]
        at = recorded.rfind(begun)
        yield prefill + (recorded[at + len(begun) :] if begun and at >= 0 else "")

    def complete(self, messages: Sequence[dict[str, str]]) -> str:
        return "".join(self.stream(messages))

    def _reply_for(self, prompt: str) -> str:
        for question, reply in self.replies.items():
            if question in prompt:
                return reply
        return ""
