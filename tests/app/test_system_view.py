"""The System page: store and counts, model states, the language model line, the queue."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from ragcore import library
from ragcore.generation.llm import ChatLLM
from ragcore.runtime import LLMChoice, Runtime, chunking_params


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
    queue = app.dataframe[1].value
    assert set(queue["state"]) == {"ready", "queued"}


def test_api_key_is_never_shown(app: AppTest, use_llm: Callable[[LLMChoice], None]) -> None:
    secret = "sk-test-very-secret-value"
    llm = ChatLLM("http://127.0.0.1:9/v1", "remote-model", secret)
    use_llm(LLMChoice(llm, f"LLM: {llm.describe()}"))
    app.run()
    app.switch_page("views/system.py").run()
    next(b for b in app.button if b.label == "Start it now").click().run()
    shown = " ".join(str(e.value) for e in (*app.markdown, *app.caption)).replace("\\", "")
    assert "model 'remote-model' at http://127.0.0.1:9/v1 (with an API key)" in shown
    assert secret not in shown
