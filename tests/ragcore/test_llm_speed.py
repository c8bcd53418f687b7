"""The record of each model's measured writing speed: samples from timings, window, medians."""

from __future__ import annotations

import threading

import pytest

from ragcore.llm_speed import SpeedRecord, SpeedSample


def _timings(rate: float, first: float = 1000.0, prompt: float = 400.0) -> dict[str, float]:
    return {
        "tokens_per_s": rate,
        "completion_tokens": 30.0,
        "first_token": first,
        "prompt_tokens": prompt,
        "total": first + 2000.0,
    }


def test_a_sample_is_read_from_an_answers_timings_with_the_wait_in_line_taken_out() -> None:
    sample = SpeedSample.from_timings({**_timings(12.5, first=4000.0), "queue": 2500.0}, at=7.0)
    assert sample == SpeedSample(
        tokens_per_s=12.5, completion_tokens=30, first_token_ms=1500.0, prompt_tokens=400, at=7.0
    )


@pytest.mark.parametrize(
    "timings",
    [
        {"first_token": 5.0, "total": 40.0},  # extractive or not found: no model wrote it
        {"tokens_per_s": 0.0, "completion_tokens": 1.0},
        {},
    ],
)
def test_an_answer_the_model_did_not_write_gives_no_sample(timings: dict[str, float]) -> None:
    record = SpeedRecord()
    assert record.record("m", timings) is None
    assert record.summary("m") is None and record.models() == []


def test_the_summary_is_the_median_of_the_last_answers_per_model() -> None:
    record = SpeedRecord(keep=3)
    for rate, first in ((100.0, 9000.0), (10.0, 1000.0), (20.0, 3000.0), (12.0, 2000.0)):
        record.record("qwen", _timings(rate, first=first))
    record.record("gemma", _timings(40.0, prompt=100.0))

    qwen = record.summary("qwen")
    assert qwen is not None
    # The first (100 tokens/s) fell out of the window of three.
    assert [s.tokens_per_s for s in record.samples("qwen")] == [10.0, 20.0, 12.0]
    assert (qwen.answers, qwen.tokens_per_s, qwen.first_token_ms) == (3, 12.0, 2000.0)
    assert qwen.prompt_tokens == 400.0
    assert qwen.describe() == (
        "12.0 tokens/s (median of the last 3 answers) · first token after 2.0 s · "
        "prompts of about 400 tokens"
    )
    gemma = record.summary("gemma")
    assert gemma is not None and gemma.tokens_per_s == 40.0 and gemma.answers == 1
    assert gemma.describe().startswith("40.0 tokens/s (median of the last answer)")
    assert record.models() == ["gemma", "qwen"]
    assert record.summary("other") is None


def test_a_sample_without_first_token_or_prompt_leaves_those_medians_out() -> None:
    record = SpeedRecord()
    record.record("m", {"tokens_per_s": 8.0, "completion_tokens": 9.0})
    summary = record.summary("m")
    assert summary is not None
    assert summary.first_token_ms is None and summary.prompt_tokens is None
    assert summary.describe() == "8.0 tokens/s (median of the last answer)"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="keep must be >= 1"):
        SpeedRecord(keep=0)
    with pytest.raises(ValueError, match="model's name"):
        SpeedRecord().record("", _timings(5.0))


def test_sessions_recording_at_once_lose_nothing_and_stay_within_the_window() -> None:
    record = SpeedRecord(keep=50)

    def write(model: str) -> None:
        for i in range(200):
            record.record(model, _timings(1.0 + i))

    threads = [threading.Thread(target=write, args=(m,)) for m in ("a", "b", "a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [len(record.samples(m)) for m in ("a", "b")] == [50, 50]
