"""Two browser sessions at once on one app server, and hostile document text, in real Chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e import harness

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

pytestmark = pytest.mark.e2e

PELICAN_FILES = {
    "pelican_migration.md": (
        "# Pelican migration\n\n"
        "American white pelicans migrate each autumn from the northern prairie lakes "
        "to the coast of the Gulf of Mexico.\n\n"
        "The migrating flocks soar on rising thermals and cover about 500 kilometres a day.\n"
    ),
}
SOURDOUGH_FILES = {
    "sourdough_starter.txt": (
        "Sourdough starters\n\n"
        "A sourdough starter is fed equal weights of rye flour and water every twelve hours.\n\n"
        "A lively starter doubles in volume within six hours of a feeding.\n"
    ),
}
PELICAN_QUESTION = "When do the white pelicans migrate?"
SOURDOUGH_QUESTION = "How often is the sourdough starter fed?"

# Every progress bar reads "<file> (add) — <state>" with a known file and a known state.
_PROGRESS = re.compile(
    r"(?P<name>\S+) \(add\) — "
    r"(?:queued|ready|(?:parsing|chunking|embedding|writing|finishing) \(\d{1,3}%\))"
)

HOSTILE_NAME = "quokka_hostile.md"
# Each line holds the question's words, so the extractive answer quotes all three hazard lines.
HOSTILE_TEXT = """\
# Quokka field notes <i>italic-html</i>

Quokka hazard one: <script>window.__pwned = 1</script> then \
<img src=x onerror="window.__pwned=2"> then <b>bold-html</b> end.

Quokka hazard two: [click me](javascript:alert(1)) then ![pic](http://127.0.0.1:9/x.png) end.

### Quokka hazard three: :red[alarm] then $x^2$ then **not-bold** end.
"""
HOSTILE_QUESTION = "What is each quokka hazard?"
# What the document says, as a person must see it, character for character.
HOSTILE_LITERALS = (
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned=2">',
    "<b>bold-html</b>",
    "[click me](javascript:alert(1))",
    "![pic](http://127.0.0.1:9/x.png)",
    ":red[alarm]",
    "$x^2$",
    "**not-bold**",
    "### Quokka hazard three",
)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not harness.CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent: apt-get install chromium (make install-browser)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        launched = harness.launch(pw)
        try:
            yield launched
        finally:
            launched.close()


def _write(folder: Path, files: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in files]
    for path in paths:
        path.write_text(files[path.name], encoding="utf-8")
    return paths


def _watch_progress(
    pages: dict[str, Page], own: dict[str, set[str]], timeout_s: float
) -> dict[str, list[str]]:
    """Poll every page's progress bars until each shows its own files ready.

    Each line seen must name a file of the test and a known state, and a file once shown
    ready never goes back to an earlier state. Returns the distinct lines each page showed.
    """
    known = set().union(*own.values())
    ready: dict[str, set[str]] = {label: set() for label in pages}
    seen: dict[str, list[str]] = {label: [] for label in pages}
    deadline = time.monotonic() + timeout_s
    while True:
        for label, page in pages.items():
            for line in harness.progress_lines(page):
                match = _PROGRESS.fullmatch(line)
                assert match, f"session {label} shows an unexpected progress line: {line!r}"
                name = match["name"]
                if line not in seen[label]:
                    seen[label].append(line)
                assert name in known, f"session {label} shows progress of unknown file {name!r}"
                if line.endswith("— ready"):
                    ready[label].add(name)
                elif name in ready[label]:
                    # While a rerun redraws the page, the browser can briefly show an element
                    # of an older run before marking it stale; a real step back would stay.
                    time.sleep(2.0)
                    again = [
                        other
                        for other in harness.progress_lines(page)
                        if other.startswith(f"{name} ") and not other.endswith("— ready")
                    ]
                    assert not again, f"session {label}: {name} left ready: {again}"
        if all(own[label] <= ready[label] for label in pages):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"not every session saw its files ready: {ready}")
        time.sleep(0.5)


def _revisit_library(page: Page) -> None:
    # Through the navigation, not a reload: a reload would start a new session.
    page.get_by_role("link", name="Chat").click()
    page.get_by_placeholder("Ask a question about your documents").wait_for(timeout=60_000)
    page.get_by_role("link", name="Library").click()
    page.get_by_role("heading", name="Library").wait_for(timeout=60_000)


def _assert_no_exception(page: Page, label: str) -> None:
    errors = page.get_by_test_id("stException").all_inner_texts()
    assert not errors, f"session {label} shows an exception: {errors}"


def _assert_own_chat(page: Page, label: str, question: str, topic: str, other: str) -> None:
    """The page holds one question and one answer, both its own and about ``topic`` only."""
    harness.settled(page)
    messages = harness.chat_messages(page)
    assert messages.count() == 2, f"session {label}: {messages.all_inner_texts()}"
    asked = messages.nth(0).get_by_test_id("stChatMessageContent").inner_text()
    assert " ".join(asked.split()) == question
    # The answer itself; its source cards may list other documents, as the library is shared.
    answer = messages.nth(1).locator("div.answer").inner_text().lower()
    assert topic in answer, f"session {label}'s answer is not about {topic}: {answer!r}"
    assert other not in answer, f"session {label}'s answer mentions {other}: {answer!r}"


def test_two_sessions_upload_and_ask_at_once_without_cross_talk(
    browser: Browser, tmp_path: Path
) -> None:
    pelican = _write(tmp_path / "a", PELICAN_FILES)
    sourdough = _write(tmp_path / "b", SOURDOUGH_FILES)
    with harness.running_app(tmp_path / "data") as url:
        a = harness.session_page(browser)
        b = harness.session_page(browser)
        pages = {"A": a, "B": b}
        harness.open_library(a, url)
        harness.open_library(b, url)

        harness.upload(a, pelican)
        harness.upload(b, sourdough)
        seen = _watch_progress(pages, {"A": set(PELICAN_FILES), "B": set(SOURDOUGH_FILES)}, 150)
        # B added its files while A's were in flight (the first one waits for the embedding
        # model to load), and each session's progress list shows the other's jobs in flight.
        for label, others in (("A", SOURDOUGH_FILES), ("B", PELICAN_FILES)):
            in_flight = [s for s in seen[label] if s.split(" ", 1)[0] in others]
            assert in_flight, f"session {label} never saw the other's jobs: {seen[label]}"

        for label, page in pages.items():
            _revisit_library(page)
            harness.wait_ready(page, ready=2, timeout_s=60)
            # Finished jobs of the other session are its business; this one shows only its own
            # (or none: a finished bar makes room 15 s after this session first showed it).
            own = PELICAN_FILES if label == "A" else SOURDOUGH_FILES
            shown = {line.split(" ", 1)[0] for line in harness.progress_lines(page)}
            assert shown <= set(own), f"session {label} lists the jobs of {shown}"
            _assert_no_exception(page, label)

        # As close together as one thread gets: type both, then press Enter on each.
        harness.send_question(a, PELICAN_QUESTION, submit=False)
        harness.send_question(b, SOURDOUGH_QUESTION, submit=False)
        harness.submit_question(a)
        harness.submit_question(b)
        number_a = harness.wait_answer(a)
        number_b = harness.wait_answer(b)

        for page, label in ((a, "A"), (b, "B")):
            _assert_no_exception(page, label)
        _assert_own_chat(a, "A", PELICAN_QUESTION, "pelican", "sourdough")
        _assert_own_chat(b, "B", SOURDOUGH_QUESTION, "sourdough", "pelican")
        assert "autumn" in harness.chat_messages(a).nth(1).inner_text()
        assert "twelve hours" in harness.chat_messages(b).nth(1).inner_text()
        assert a.get_by_text(SOURDOUGH_QUESTION).count() == 0
        assert b.get_by_text(PELICAN_QUESTION).count() == 0

        card_a = harness.open_card(a, number_a)
        card_b = harness.open_card(b, number_b)
        assert "pelican_migration.md" in card_a and "autumn" in card_a
        assert "sourdough_starter.txt" in card_b and "twelve hours" in card_b


def test_document_markup_is_shown_as_text_never_run_or_rendered(
    browser: Browser, tmp_path: Path
) -> None:
    doc = tmp_path / HOSTILE_NAME
    doc.write_text(HOSTILE_TEXT, encoding="utf-8")
    with harness.running_app(tmp_path / "data") as url:
        page = harness.session_page(browser)
        dialogs: list[str] = []
        errors: list[str] = []
        fetched: list[str] = []

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: errors.append(str(error)))
        # The document's image points at a closed loopback port: asking for it at all is
        # the failure, whether or not it would load.
        page.on("request", lambda request: fetched.append(request.url))

        harness.open_library(page, url)
        harness.upload(page, [doc])
        harness.wait_ready(page, ready=1, timeout_s=150)
        number = harness.ask(page, HOSTILE_QUESTION)
        card = harness.open_card(page, number)
        harness.settled(page)  # opening the card reruns the page
        answer = harness.chat_messages(page).last.locator("div.answer").inner_text()

        assert page.evaluate("window.__pwned") is None
        assert not dialogs, f"the document opened dialogs: {dialogs}"
        assert not errors, f"the page raised: {errors}"
        assert not [u for u in fetched if "127.0.0.1:9/" in u], fetched
        _assert_no_exception(page, "hostile")
        scripts = "[...document.scripts].some(s => s.textContent.includes('__pwned'))"
        assert page.evaluate(scripts) is False
        for selector in (
            'img[src="x"]',
            "img[onerror]",
            'img[src*="127.0.0.1:9"]',
            'a[href^="javascript:"]',
            ".katex",
        ):
            assert page.locator(selector).count() == 0, f"the page has {selector}"
        for tag, text in (
            ("b", "bold-html"),
            ("i", "italic-html"),
            ("strong", "not-bold"),
            ("h3", "Quokka hazard three"),
            ("a", "click me"),
        ):
            assert page.locator(tag, has_text=text).count() == 0, f"<{tag}> {text} was rendered"
        # ":red[alarm]" rendered would leave "alarm" alone in a coloured span.
        assert page.get_by_text("alarm", exact=True).count() == 0

        for literal in HOSTILE_LITERALS:
            assert literal in answer, f"the answer lost {literal!r}: {answer!r}"
            assert literal in card, f"the source card lost {literal!r}: {card!r}"
        assert "Quokka field notes <i>italic-html</i>" in card  # the section caption
