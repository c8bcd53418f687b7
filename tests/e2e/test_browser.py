"""The real app in a real browser: upload a PDF, wait for ready, ask, open the cited page's card."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e


@pytest.fixture
def cloud_pdf() -> Path:
    path = harness.shared_data() / "pdfs" / harness.CLOUD_PDF
    if not path.is_file():
        pytest.skip(f"the shared test PDF {path} is absent (set RAG_SHARED_DATA)")
    return path


@pytest.fixture
def chromium() -> None:
    if not harness.CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent: apt-get install chromium (make install-browser)")


def test_upload_ask_and_open_the_cited_page(
    cloud_pdf: Path, chromium: None, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with harness.running_app(tmp_path / "data") as url, sync_api.sync_playwright() as pw:
        browser = harness.launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            harness.open_library(page, url)
            harness.upload(page, [cloud_pdf])
            harness.wait_ready(page, ready=1)
            assert page.get_by_text(f"{cloud_pdf.name} (add) — ready").is_visible()

            number = harness.ask(page, harness.QUESTION)
            answer = page.get_by_test_id("stChatMessage").last.inner_text()
            assert f"[{number}]" in answer
            assert "essential characteristics" in answer

            card = harness.open_card(page, number)
            assert "page 6" in card
            assert cloud_pdf.name in card

            shot = tmp_path / "chat-with-source.png"
            page.screenshot(path=str(shot))
            print(f"screenshot: {shot}")
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
