"""A Word file through the browser: uploaded, indexed, cited with its section path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e


def _pump_manual(path: Path) -> Path:
    from docx import Document

    document = Document()
    document.add_heading("Pump manual", 1)
    document.add_heading("Lubrication", 2)
    document.add_paragraph("The quokkaflux pump needs fresh oil every 200 hours of running.")
    table = document.add_table(rows=3, cols=2)
    for row, (part, interval) in zip(
        table.rows,
        [("Part", "Interval"), ("Oil filter", "500 hours"), ("Seal", "2 years")],
        strict=True,
    ):
        row.cells[0].text, row.cells[1].text = part, interval
    document.save(str(path))
    return path


def test_upload_a_docx_and_see_its_section_cited(tmp_path: Path) -> None:
    if not harness.CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent: apt-get install chromium (make install-debs)")
    sync_api = pytest.importorskip("playwright.sync_api")
    manual = _pump_manual(tmp_path / "pump manual.docx")
    with harness.running_app(tmp_path / "data") as url, sync_api.sync_playwright() as pw:
        browser = harness.launch(pw)
        try:
            page = browser.new_page(viewport=harness.VIEWPORT)
            harness.open_library(page, url)
            harness.upload(page, [manual])
            harness.wait_ready(page, ready=1)
            assert page.get_by_text(f"{manual.name} (add) — ready").is_visible()

            number = harness.ask(page, "How often does the quokkaflux pump need fresh oil?")
            answer = harness.chat_messages(page).last.inner_text()
            assert "200 hours" in answer
            card = harness.open_card(page, number)
            assert manual.name in card
            # Located by its heading path, not by a page number Word does not have.
            title = page.locator("summary", has_text=f"[{number}] ").last.inner_text()
            assert f"[{number}] {manual.name} — Pump manual" in title
            assert "page" not in title
        finally:
            browser.close()
