"""The quote-then-answer reply as it streams: where it ends."""

from __future__ import annotations

from collections.abc import Iterator

from ragcore.generation.quoted import through_answer_line


def test_the_reply_ends_with_its_answer_line_and_the_stream_is_closed() -> None:
    closed: list[bool] = []

    def pieces() -> Iterator[str]:
        try:
            yield from [
                'Quote [1]: "The pump',
                ' needs oil."\nAns',
                "wer: Every 200",
                " hours [1].\nQuo",
                'te [2]: "more',
            ]
            yield "never read"
        finally:
            closed.append(True)

    out = list(through_answer_line(pieces()))
    assert "".join(out) == 'Quote [1]: "The pump needs oil."\nAnswer: Every 200 hours [1].'
    assert closed == [True]
    # An answer label followed at once by a line break waits for the answer itself.
    assert "".join(through_answer_line(iter(["Answer:\n", "Yes [1].\n", "extra"]))) == (
        "Answer:\nYes [1]."
    )
    # A reply that never ends its line is passed through whole.
    assert (
        "".join(through_answer_line(iter(["Answer: It ", "does [1]."]))) == "Answer: It does [1]."
    )
