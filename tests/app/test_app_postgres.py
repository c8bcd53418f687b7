"""The app on a PostgreSQL catalog: the System view names it, and a question is answered from a
document whose file lives in the database, not on this host's disk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import browser_session
from ragcore import library
from ragcore.runtime import Runtime, chunking_params
from ragcore.testing.embedders import HashingEmbedder
from ragcore.testing.runtime import make_runtime

pytestmark = pytest.mark.postgres

PASSAGE = "The lighthouse keeper lights the lamp at dusk and logs every passing ship."


@pytest.fixture
def runtime(tmp_path: Path, postgres_url: str) -> Iterator[Runtime]:
    """Overrides tests/app/conftest.py's: the same fake models, the catalog in PostgreSQL."""
    rt = make_runtime(
        tmp_path / "data",
        text=HashingEmbedder(dim=128),
        catalog_url=postgres_url,
        image_model="",
        reranker_model="",
        worker_poll_seconds=0.05,
    )
    yield rt
    rt.close()


def test_system_view_names_the_postgresql_catalog_and_its_queue(
    app: AppTest, runtime: Runtime
) -> None:
    params = chunking_params(runtime.settings)
    library.add_bytes(runtime.catalog, runtime.files, "keeper.txt", [PASSAGE.encode()], params)
    app.run()
    app.switch_page("views/system.py").run()
    assert not app.exception
    shown = " ".join(str(c.value) for c in (*app.caption, *app.markdown))
    assert "Catalog: PostgreSQL" in shown
    assert "connections idle" in shown  # the pool's use
    assert "1 queued" in shown  # the queue's depth


def test_a_question_is_answered_from_a_file_kept_in_the_database(
    app: AppTest, runtime: Runtime, ingest_all: Callable[[], None]
) -> None:
    params = chunking_params(runtime.settings)
    added = library.add_bytes(
        runtime.catalog, runtime.files, "keeper.txt", [PASSAGE.encode()], params
    )
    assert added.document.path.startswith("pg:")  # not a path on this host
    ingest_all()
    app.query_params[browser_session.PARAM] = "postgres-session-0001"
    app.run()
    app.switch_page("views/chat.py").run()
    app.chat_input[0].set_value("When does the keeper light the lamp?").run()
    assert not app.exception
    answer = " ".join(m.value for m in app.markdown if m.value.startswith('<div class="answer">'))
    assert "dusk" in answer
    # The conversation is kept in PostgreSQL too.
    assert [c.title for c in runtime.catalog.conversations("postgres-session-0001")] == [
        "When does the keeper light the lamp?"
    ]
