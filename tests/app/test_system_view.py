"""The System page: store and counts, model states, the language model line, the queue."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from app.views import system
from ragcore import library
from ragcore.generation.llm import ChatLLM
from ragcore.generation.local import LocalLLMServer
from ragcore.runtime import LLMChoice, Runtime, chunking_params, connect_llm
from ragcore.settings import Settings
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.llm_server import ScriptedLLMServer


def test_system_view_reports_store_models_llm_and_queue(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    params = chunking_params(runtime.settings)
    library.add_bytes(
        runtime.catalog, runtime.settings.uploads_dir, "a.txt", [b"Apples are red."], params
    )
    ingest_all()
    library.add_bytes(runtime.catalog, runtime.settings.uploads_dir, "b.txt", [b"Bananas."], params)

    app.run()
    app.switch_page("views/system.py").run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert "Embedded vector store" in text
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Documents"] == "2"
    assert metrics["Ready"] == "1"
    assert metrics["Queued"] == "1"
    assert int(metrics["Vectors (points)"]) >= 1
    models = app.dataframe[0].value.set_index("role")
    assert models.loc["text", "state"] == "loaded"
    assert models.loc["image", "state"] == "unavailable"
    assert "Not started yet" in text  # the LLM waits for the first question

    next(b for b in app.button if b.label == "Start it now").click().run()
    assert "answers are extractive" in " ".join(m.value for m in app.markdown)
    queue = next(d.value for d in app.dataframe if "attempts" in d.value.columns)
    assert set(queue["state"]) == {"ready", "queued"}


def test_api_key_is_never_shown(app: AppTest, use_llm: Callable[[LLMChoice], None]) -> None:
    secret = "sk-test-very-secret-value"
    llm = ChatLLM("http://127.0.0.1:9/v1", "remote-model", secret)
    use_llm(LLMChoice(llm, f"LLM: {llm.describe()}"))
    app.run()
    app.switch_page("views/system.py").run()
    next(b for b in app.button if b.label == "Start it now").click().run()
    shown = " ".join(str(e.value) for e in (*app.markdown, *app.caption)).replace("\\", "")
    assert "model 'remote-model' at `http://127.0.0.1:9/v1` (with an API key)" in shown
    assert secret not in shown


def add_and_ingest(runtime: Runtime, ingest_all: Callable[[], None]) -> None:
    params = chunking_params(runtime.settings)
    for name, text in (("a.txt", b"Apples are red."), ("b.txt", b"Bananas are yellow.")):
        library.add_bytes(runtime.catalog, runtime.settings.uploads_dir, name, [text], params)
    ingest_all()


def embedding_table(app: AppTest) -> pd.DataFrame:
    return next(d.value for d in app.dataframe if "collection" in d.value.columns)


def open_system_view_with_two_models(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> str:
    """Two documents embedded with the runtime's model, "hash-32" loadable; the old model id."""
    runtime.models.add_text_model(HashingEmbedder(32, model_id="hash-32"))
    add_and_ingest(runtime, ingest_all)
    app.run()
    app.switch_page("views/system.py").run()
    return runtime.models.text.model_id


def click_reembed(app: AppTest, model_id: str) -> None:
    app.text_input(key="reembed_other").set_value(model_id)
    next(b for b in app.button if b.label == "Re-embed the library with this model").click()
    app.run()


def test_reembed_button_switches_the_model_after_the_job_runs(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    old_model = open_system_view_with_two_models(app, runtime, ingest_all)
    table = embedding_table(app)
    assert list(table.loc[table["status"] == "active", "model"]) == [old_model]
    assert "hash-32" not in set(table["model"])

    click_reembed(app, "hash-32")
    assert not app.exception and not app.error
    assert any("Re-embedding with hash-32" in i.value for i in app.info)
    assert "Re-embedding with hash-32" in " ".join(str(p.proto.text) for p in app.get("progress"))
    pending = runtime.catalog.pending_space()
    assert pending is not None and pending.model_id == "hash-32"
    assert runtime.catalog.active_space().model_id == old_model  # type: ignore[union-attr]

    ingest_all()  # the worker runs the re-embed job
    app.run()
    table = embedding_table(app)
    active = table[table["status"] == "active"]
    assert list(active["model"]) == ["hash-32"] and list(active["documents"]) == [2]
    assert runtime.catalog.pending_space() is None


def test_cancelling_a_reembed_keeps_the_current_model(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    old_model = open_system_view_with_two_models(app, runtime, ingest_all)
    click_reembed(app, "hash-32")
    next(b for b in app.button if b.label == "Cancel re-embed").click()
    app.run()
    assert not app.exception
    assert runtime.catalog.pending_space() is None
    assert runtime.catalog.active_space().model_id == old_model  # type: ignore[union-attr]
    assert "hash-32" not in set(embedding_table(app)["model"])  # cancelled spaces are not listed


def test_reembed_with_a_model_that_cannot_load_says_why(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    open_system_view_with_two_models(app, runtime, ingest_all)
    click_reembed(app, "nobody/no-such-model")
    assert not app.exception
    assert "Cannot re-embed with nobody/no-such-model" in " ".join(e.value for e in app.error)
    assert runtime.catalog.pending_space() is None


def test_credentials_in_the_llm_address_are_never_shown(
    app: AppTest, use_llm: Callable[[LLMChoice], None]
) -> None:
    url = "http://u:PASSWORD456@127.0.0.1:9/v1?api_key=SECRET789"
    use_llm(connect_llm(Settings(llm_base_url=url, local_llm=False)))
    app.run()
    app.switch_page("views/system.py").run()
    next(b for b in app.button if b.label == "Start it now").click().run()
    assert not app.exception
    shown = " ".join(str(e.value) for e in (*app.markdown, *app.caption)).replace("\\", "")
    assert "model 'default' at `http://***@127.0.0.1:9/v1?api_key=***` (no API key)" in shown
    assert "PASSWORD456" not in shown and "SECRET789" not in shown


def _system_llm_text(app: AppTest) -> str:
    return " ".join(str(m.value) for m in app.markdown).replace("\\", "")


def test_the_answering_model_and_its_measured_speed_are_shown(
    app: AppTest,
    runtime: Runtime,
    ingest_all: Callable[[], None],
    use_llm: Callable[[LLMChoice], None],
) -> None:
    add_and_ingest(runtime, ingest_all)
    reply = 'Quote [1]: "Apples are red."\nAnswer: Apples are red [1].'
    with ScriptedLLMServer(reply, model="orchard-llm", delay=0.01) as server:
        use_llm(LLMChoice(ChatLLM(server.base_url, server.model, None), "LLM: scripted"))
        app.run()
        app.switch_page("views/system.py").run()
        next(b for b in app.button if b.label == "Start it now").click().run()
        shown = _system_llm_text(app)
        assert (
            "**Answers come from** orchard-llm — an OpenAI-compatible endpoint at "
            f"`{server.base_url}`" in shown
        )
        assert "**Writing speed:** not measured yet" in shown

        app.switch_page("views/chat.py").run()
        app.chat_input[0].set_value("What colour are apples?").run()
        assert not app.exception
        app.switch_page("views/system.py").run()
    assert not app.exception
    shown = _system_llm_text(app)
    speed = re.search(
        r"\*\*Writing speed:\*\* ([\d.]+) tokens/s \(median of the last answer\)", shown
    )
    assert speed is not None and float(speed.group(1)) > 0
    assert "first token after" in shown and "prompts of about" in shown


def test_a_local_model_is_named_with_its_file_and_llama_cpp() -> None:
    llm = ChatLLM("http://127.0.0.1:8080/v1", "qwen2.5-1.5b", None)
    server = LocalLLMServer(Path("/models/qwen2.5-1.5b-q4_k_m.gguf"), model_alias="qwen2.5-1.5b")
    line = system.answering_model(LLMChoice(llm, "LLM: local", server))
    # Markdown links an address before it unescapes it, so the address is code, unescaped.
    assert "`http://127.0.0.1:8080/v1`" in line
    assert line.replace("\\", "") == (
        "**Answers come from** qwen2.5-1.5b — local, llama.cpp serving "
        "qwen2.5-1.5b-q4_k_m.gguf at `http://127.0.0.1:8080/v1`"
    )
    assert "extractive" in system.answering_model(LLMChoice(None, "LLM: none"))
