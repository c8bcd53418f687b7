"""Collections in real Chromium: upload two files into two collections through the Library, then
ask the same question scoped to each: every answer's sources come from its collection only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e import harness

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.e2e

# Both notes answer the question, in different words: the scope decides which is found.
NOTES = {
    "lighthouse.md": (
        "# Lighthouse upkeep\n\n"
        "The lighthouse lamp is cleaned every winter morning before the fog season begins.\n"
    ),
    "harbour.md": (
        "# Harbour upkeep\n\n"
        "The harbour cranes are greased every winter morning before the fog season begins.\n"
    ),
}
COLLECTIONS = {"lighthouse.md": "Coast", "harbour.md": "Docks"}
QUESTION = "What is done every winter morning before the fog season?"
CARD_TITLE = re.compile(r"\[(\d+)\] (.+?) — ")


def choose(page: Page, where: Page | Locator, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` and wait until it shows it (the
    choice is the value of the box's input, not its text)."""
    from playwright.sync_api import expect

    box = where.get_by_role("combobox", name=label, exact=True)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(box).to_have_value(option, timeout=60_000)


def upload_into_new_collection(page: Page, name: str, files: list[Path], ready: int) -> None:
    """Choose "New collection…" beside the uploader, name it, upload, wait until indexed."""
    choose(page, page, "Add to collection", "New collection…")
    field = page.get_by_label("New collection name")
    field.wait_for(timeout=60_000)
    field.fill(name)
    field.press("Enter")  # commits the name: a run of the page, which says it back
    page.get_by_text(f"The files go into {name}.").wait_for(timeout=60_000)
    harness.settled(page)  # the uploader is not redrawn under the file chooser
    harness.upload(page, files)
    page.get_by_text(f"to {name}; indexing starts shortly.").wait_for(timeout=120_000)
    harness.wait_ready(page, ready=ready)


def last_answer_sources(page: Page) -> set[str]:
    """The file names on the source cards of the last answer."""
    last = harness.chat_messages(page).last
    # The cards are drawn after the answer's headline, and the latency chart after the cards.
    last.locator("summary", has_text="Latency:").wait_for(timeout=60_000)
    summaries = last.get_by_test_id("stExpander").locator("summary")
    titles = [" ".join(t.split()) for t in summaries.all_inner_texts()]
    named = {m.group(2) for t in titles if (m := CARD_TITLE.search(t))}
    assert named, f"the last answer shows no source card: {titles}"
    return named


def test_switching_the_collection_changes_the_answers_scope(tmp_path: Path) -> None:
    if not harness.CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent: apt-get install chromium (make install-browser)")
    sync_api = pytest.importorskip("playwright.sync_api")
    paths = {}
    for name, text in NOTES.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text, encoding="utf-8")
    with sync_api.sync_playwright() as pw:
        browser = harness.launch(pw)
        try:
            page = browser.new_page(viewport=harness.VIEWPORT)
            with harness.running_app(tmp_path / "data") as url:
                harness.open_library(page, url)
                for ready, (name, collection) in enumerate(COLLECTIONS.items(), start=1):
                    upload_into_new_collection(page, collection, [paths[name]], ready)

                page.get_by_role("link", name="Chat").click()
                sidebar = page.get_by_test_id("stSidebar")
                for turn, (name, collection) in enumerate(COLLECTIONS.items(), start=1):
                    choose(page, sidebar, "Collection", f"{collection} (1)")
                    harness.send_question(page, QUESTION)
                    harness.wait_answer(page, turn=turn)
                    assert last_answer_sources(page) == {name}, f"asked in {collection}"
                    said = harness.chat_messages(page).last.inner_text()
                    assert f"Searched in the collection {collection}." in said
                    assert harness.chat_messages(page).count() == 2 * turn
                # Back to every document: the same question now finds both files, so it was
                # the collection that narrowed the answers above.
                choose(page, sidebar, "Collection", "All documents")
                harness.send_question(page, QUESTION)
                harness.wait_answer(page, turn=len(COLLECTIONS) + 1)
                assert last_answer_sources(page) == set(NOTES)
        finally:
            browser.close()
