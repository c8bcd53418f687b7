"""How fast each language model writes here: its recent answers' tokens/s, first token, prompt size."""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

# A window of recent answers: long enough that one slow answer (a busy machine) does not set
# the number, short enough that it follows a change of load or model.
DEFAULT_KEEP = 20


@dataclass(frozen=True)
class SpeedSample:
    """One answer the model wrote, measured by the stream (``Answer.timings``).

    ``first_token_ms`` is the model's own: from the request to its first word, any wait in
    line for another answer taken out.
    """

    tokens_per_s: float
    completion_tokens: int
    first_token_ms: float | None
    prompt_tokens: int | None
    at: float  # time.time() when it was recorded

    @classmethod
    def from_timings(
        cls, timings: Mapping[str, float], *, at: float | None = None
    ) -> SpeedSample | None:
        """The sample in an answer's timings; None when the model wrote none of the answer
        (extractive, not found) or wrote too little to time (a single token)."""
        rate = timings.get("tokens_per_s")
        if rate is None or rate <= 0:
            return None
        first = timings.get("first_token")
        if first is not None:
            first = max(0.0, first - timings.get("queue", 0.0))
        prompt = timings.get("prompt_tokens")
        return cls(
            tokens_per_s=float(rate),
            completion_tokens=int(timings.get("completion_tokens", 0)),
            first_token_ms=first,
            prompt_tokens=int(prompt) if prompt is not None else None,
            at=time.time() if at is None else at,
        )


@dataclass(frozen=True)
class SpeedSummary:
    """The medians of a model's last ``answers`` samples."""

    model: str
    answers: int
    tokens_per_s: float
    first_token_ms: float | None
    prompt_tokens: float | None

    def describe(self) -> str:
        """One line for a person, e.g. "12.3 tokens/s (median of the last 4 answers) · …"."""
        last = "the last answer" if self.answers == 1 else f"the last {self.answers} answers"
        parts = [f"{self.tokens_per_s:.1f} tokens/s (median of {last})"]
        if self.first_token_ms is not None:
            parts.append(f"first token after {self.first_token_ms / 1000:.1f} s")
        if self.prompt_tokens is not None:
            parts.append(f"prompts of about {self.prompt_tokens:,.0f} tokens")
        return " · ".join(parts)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


class SpeedRecord:
    """The last ``keep`` measured answers of each model, safe to share between sessions.

    >>> record = SpeedRecord(keep=10)
    >>> record.record("qwen", {"tokens_per_s": 12.0, "completion_tokens": 40.0}) is not None
    True
    >>> record.summary("qwen").tokens_per_s
    12.0
    """

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1 answer, got {keep}")
        self.keep = keep
        self._samples: dict[str, deque[SpeedSample]] = {}
        self._lock = threading.Lock()

    def add(self, model: str, sample: SpeedSample) -> None:
        if not model:
            raise ValueError("a speed sample needs the model's name")
        with self._lock:
            self._samples.setdefault(model, deque(maxlen=self.keep)).append(sample)

    def record(self, model: str, timings: Mapping[str, float]) -> SpeedSample | None:
        """Keep the sample in an answer's timings, if it has one; returns it."""
        sample = SpeedSample.from_timings(timings)
        if sample is not None:
            self.add(model, sample)
        return sample

    def samples(self, model: str) -> list[SpeedSample]:
        """The model's kept samples, oldest first."""
        with self._lock:
            return list(self._samples.get(model, ()))

    def models(self) -> list[str]:
        with self._lock:
            return sorted(self._samples)

    def summary(self, model: str) -> SpeedSummary | None:
        """The model's medians; None before it wrote a measured answer."""
        samples = self.samples(model)
        if not samples:
            return None
        return SpeedSummary(
            model=model,
            answers=len(samples),
            tokens_per_s=_median([s.tokens_per_s for s in samples]) or 0.0,
            first_token_ms=_median(
                [s.first_token_ms for s in samples if s.first_token_ms is not None]
            ),
            prompt_tokens=_median(
                [float(s.prompt_tokens) for s in samples if s.prompt_tokens is not None]
            ),
        )
