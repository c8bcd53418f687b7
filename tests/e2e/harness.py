"""Drive the real app in Debian's Chromium: start `streamlit run`, upload, ask, open a source card.

Shared by the browser test and by ``python -m tests.e2e.screenshots``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.processes import started

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Playwright, ViewportSize

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUESTION = "What are the essential characteristics of cloud computing?"
CLOUD_PDF = "nist_sp800-145_cloud_definition.pdf"
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
# A final answer's citation links ("#t1-src-2"); the preview shown while it streams links
# to "#live-src-2" and is replaced when the answer is complete.
ANSWER_MARKER = 'a[href^="#t"][href*="-src-"]'


def shared_data() -> Path:
    return Path(os.environ.get("RAG_SHARED_DATA", REPO.parent / "shared" / "data"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_app(data_dir: Path, *, startup_timeout: float = 120.0) -> Iterator[str]:
    """``streamlit run app/main.py`` on a free port with its data in ``data_dir``; yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAG_LLM_BASE_URL"}
    env |= {
        "RAG_DATA_DIR": str(data_dir),
        # Extractive answers: fast, deterministic, and no model server to start.
        "RAG_LOCAL_LLM": "false",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    log_path = data_dir.parent / f"streamlit-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO / "app" / "main.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
    ]
    with (
        log_path.open("wb") as log,
        started(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, grace=20.0
        ) as process,
    ):  # the app, its parse fork server and any model server: one group, stopped
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process, log_path, startup_timeout)
        yield url


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"streamlit exited with code {process.returncode}:\n{log.read_text()}"
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"streamlit did not answer {url} within {timeout:g} s:\n{log.read_text()}")


def launch(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        raise RuntimeError(
            "Chromium is not installed: apt-get install chromium (make install-browser)"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def open_library(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name="Library").wait_for(timeout=120_000)


def upload(page: Page, files: Sequence[Path]) -> None:
    """Pick files through the uploader's file chooser, then submit the form."""
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("stFileUploaderDropzone").locator("button", has_text="Upload").click()
    chooser.value.set_files([str(f) for f in files])
    # One chip per file once the browser has sent it to the server.
    chips = page.get_by_test_id("stFileChip")
    chips.nth(len(files) - 1).wait_for(timeout=60_000)
    page.get_by_role("button", name="Add to library").click()


def wait_ready(page: Page, ready: int, timeout_s: float = 300) -> None:
    """Wait until the library counts ``ready`` documents and none in flight.

    The count line is drawn by the full redraw that follows the last job, so after it the page
    is settled (a click sent during that redraw could be lost).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text(f"{ready} ready · 0 being indexed").wait_for(timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        counts = page.get_by_text(re.compile(r"\d+ ready · \d+ being indexed")).all_inner_texts()
        errors = page.get_by_test_id("stAlertContentError").all_inner_texts()
        raise AssertionError(
            f"expected {ready} documents ready; the library says {counts}; errors: {errors}"
        ) from None


def session_page(browser: Browser) -> Page:
    """A page in a new browser context: its own cookies and storage, so its own app session."""
    return browser.new_context(viewport=VIEWPORT).new_page()


def progress_lines(page: Page) -> list[str]:
    """The texts of the library's progress bars, e.g. "a.md (add) — embedding (40%)".

    While a run redraws the page, the previous run's elements it has not reached yet stay,
    marked stale (and faded after a moment); only the current ones count.
    """
    fresh = '[data-testid="stElementContainer"][data-stale="false"]'
    bars = page.locator(f'{fresh} [data-testid="stProgress"]')
    return [" ".join(t.split()) for t in bars.all_inner_texts()]


def settled(page: Page, timeout_s: float = 60) -> None:
    """Wait until the page's run has drawn everything: while a run redraws the page, the
    elements it has not reached yet are marked stale, and a stale copy of an element stands
    beside its new one (two answers in one chat message) until the run is done."""
    page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]')", timeout=timeout_s * 1000
    )


def send_question(page: Page, question: str, *, submit: bool = True) -> None:
    """Go to the Chat page and type ``question``; press Enter unless ``submit`` is false."""
    page.get_by_role("link", name="Chat").click()
    box = page.get_by_placeholder("Ask a question about your documents")
    box.wait_for(timeout=60_000)
    box.fill(question)
    if submit:
        box.press("Enter")


def submit_question(page: Page) -> None:
    """Press Enter in the chat box filled by ``send_question(..., submit=False)``."""
    page.get_by_placeholder("Ask a question about your documents").press("Enter")


def wait_answer(page: Page, turn: int = 1, timeout_s: float = 180) -> str:
    """Wait for the ``turn``-th (1-based) cited answer; returns its first citation number."""
    answers = page.get_by_test_id("stChatMessage").filter(has=page.locator(ANSWER_MARKER))
    marker = answers.nth(turn - 1).locator(ANSWER_MARKER).first
    marker.wait_for(timeout=timeout_s * 1000)
    number = re.sub(r"\D", "", marker.inner_text())
    if not number:
        raise AssertionError(f"the first citation marker has no number: {marker.inner_text()!r}")
    return number


def ask(page: Page, question: str) -> str:
    """Ask on the Chat page; returns the first citation number of the answer, e.g. "1"."""
    send_question(page, question)
    return wait_answer(page)


def chat_messages(page: Page) -> Locator:
    """The chat's messages, questions and answers alike, oldest first."""
    return page.get_by_test_id("stChatMessage")


def open_card(page: Page, number: str) -> str:
    """Open source card [number] of the last answer; returns the card's text."""
    card = (
        page.get_by_test_id("stExpander")
        .filter(has=page.locator("summary", has_text=f"[{number}] "))
        .last
    )
    card.locator("summary").click()
    body = card.get_by_test_id("stExpanderDetails")
    body.wait_for(timeout=30_000)
    card.scroll_into_view_if_needed()
    return body.inner_text()
