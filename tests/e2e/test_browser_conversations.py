"""A conversation in real Chromium: still there after a page reload and after an app restart."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

NOTES = (
    "# Pelican migration\n\n"
    "American white pelicans migrate each autumn from the northern prairie lakes "
    "to the coast of the Gulf of Mexico.\n"
)
QUESTION = "When do the white pelicans migrate?"


def test_a_conversation_survives_a_reload_and_a_restart(tmp_path: Path) -> None:
    if not harness.CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent: apt-get install chromium (make install-browser)")
    sync_api = pytest.importorskip("playwright.sync_api")
    notes = tmp_path / "pelicans.md"
    notes.write_text(NOTES, encoding="utf-8")
    data = tmp_path / "data"
    with sync_api.sync_playwright() as pw:
        browser = harness.launch(pw)
        try:
            page = browser.new_page(viewport=harness.VIEWPORT)
            with harness.running_app(data) as url:
                harness.open_library(page, url)
                harness.upload(page, [notes])
                harness.wait_ready(page, ready=1)
                harness.ask(page, QUESTION)
                answer = harness.chat_messages(page).last.inner_text()
                assert "autumn" in answer
                # The sidebar lists it, under its question, once the answer is in.
                sidebar = page.get_by_test_id("stSidebar")
                sidebar.get_by_role("button", name=QUESTION).wait_for(timeout=30_000)
                params = parse_qs(urlparse(page.url).query)
                assert params.get("s") and params.get("c"), page.url
                address = page.url

                page.reload()
                harness.wait_answer(page)
                assert harness.chat_messages(page).count() == 2  # the question and its answer
                assert QUESTION in harness.chat_messages(page).first.inner_text()
                assert "autumn" in harness.chat_messages(page).last.inner_text()

            # The app stops and starts again on the same data (a new port: a new address).
            with harness.running_app(data) as url:
                query = urlparse(address).query
                page.goto(f"{url}/chat?{query}")
                harness.wait_answer(page, timeout_s=120)
                assert harness.chat_messages(page).count() == 2
                assert "autumn" in harness.chat_messages(page).last.inner_text()
        finally:
            browser.close()
