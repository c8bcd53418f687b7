"""The System page shows state as it is: addresses without escapes, the model in use
preselected for a switch, jobs of deleted documents by name with their whole failure."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app import render
from app.views import system
from ragcore import library
from ragcore.catalog import DocumentStatus
from ragcore.runtime import Runtime, chunking_params
from ragcore.testing.embedders import HashingEmbedder


def test_addresses_are_code_and_the_rest_is_escaped() -> None:
    text = "LLM: model 'm*' at http://127.0.0.1:41587/v1 (no API key)."
    shown = render.plain_with_addresses(text)
    assert shown == r"LLM: model 'm\*' at `http://127.0.0.1:41587/v1` \(no API key\)\."
    assert render.code_span("a`b") == "``a`b``"
    assert render.code_span("`x") == "`` `x ``"


def test_the_switch_offers_the_model_in_use_first_then_offline_ones() -> None:
    choices = {
        "needs/download": ("needs/download (…; needs a download)", False),
        "in/use": ("in/use (…; offline copy)", True),
        "offline/one": ("offline/one (…; offline copy)", True),
    }
    assert system.switch_options(choices, "in/use") == ["in/use", "offline/one", "needs/download"]
    assert system.switch_options(choices, "fake/model")[0] == "fake/model"
    assert system.choice_label(choices, "in/use", "in/use").endswith("— in use")
    assert system.choice_label(choices, "in/use", "fake/x") == "fake/x"


def test_the_model_in_use_is_preselected_and_choosing_it_changes_nothing(
    app: AppTest, runtime: Runtime
) -> None:
    runtime.models.add_text_model(HashingEmbedder(32, model_id="hash-32"))
    app.run()
    app.switch_page("views/system.py").run()
    current = runtime.models.text.model_id
    picker = app.selectbox(key="reembed_model")
    assert picker.value == current
    assert picker.format_func(current).endswith("— in use")
    next(b for b in app.button if b.label == "Re-embed the library with this model").click()
    app.run()
    assert not app.exception and not app.error
    assert any(f"{current} is the model in use" in i.value for i in app.info)
    assert runtime.catalog.pending_space() is None


def test_the_queue_names_a_deleted_documents_job_and_shows_a_failure_in_full(
    app: AppTest, runtime: Runtime
) -> None:
    params = chunking_params(runtime.settings)
    gone = library.add_bytes(
        runtime.catalog, runtime.settings.uploads_dir, "gone.txt", [b"Soon deleted."], params
    )
    bad = library.add_bytes(
        runtime.catalog, runtime.settings.uploads_dir, "bad.txt", [b"Fails."], params
    )
    library.delete_document(runtime.catalog, runtime.store, gone.document.id)
    claimed = runtime.catalog.claim_job("w", lease_seconds=5.0)
    assert claimed is not None and bad.job is not None and claimed.id == bad.job.id
    reason = ("the parser gave up: " + "a long explanation " * 12).strip()
    runtime.catalog.fail_job(claimed.id, "w", reason)
    runtime.catalog.set_document_status(bad.document.id, DocumentStatus.FAILED, error=reason)

    app.run()
    app.switch_page("views/system.py").run()
    assert not app.exception
    queue = next(d.value for d in app.dataframe if "attempts" in d.value.columns)
    rows = queue.set_index("job")
    assert gone.job is not None
    assert rows.loc[gone.job.id, "document"] == "gone.txt (deleted)"
    assert rows.loc[bad.job.id, "state"] == "failed"
    errors = [str(e.value).replace("\\", "") for e in app.error]
    assert f"Job {bad.job.id} (bad.txt) failed: {reason}" in errors
