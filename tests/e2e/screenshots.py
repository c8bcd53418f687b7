"""Take the README's screenshots with the browser-test harness: ``python -m tests.e2e.screenshots``.

Writes docs/library.png (documents being indexed) and docs/chat.png (an answer with an opened
source card). Needs /usr/bin/chromium and the shared PDFs (RAG_SHARED_DATA).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e import harness

# Small first, so it is ready while the larger ones are still in the queue for the picture.
MORE_PDFS = (
    "nist_fips199.pdf",
    "nist_sp800-207_zero_trust.pdf",
    "nistir8114_lightweight_crypto.pdf",
)


# Its best passage sits mid-page, so the picture shows the page with the passage marked.
SCREENSHOT_QUESTION = "What is rapid elasticity in cloud computing?"


def take(out: Path, *, chat_only: bool = False) -> list[Path]:
    pdfs = harness.shared_data() / "pdfs"
    first = pdfs / harness.CLOUD_PDF
    more = [pdfs / name for name in MORE_PDFS]
    missing = [p for p in (first, *more) if not p.is_file()]
    if missing:
        raise SystemExit(f"missing test PDFs: {', '.join(map(str, missing))} (set RAG_SHARED_DATA)")
    out.mkdir(parents=True, exist_ok=True)
    library_png, chat_png = out / "library.png", out / "chat.png"
    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.running_app(Path(tmp) / "data") as url,
        sync_playwright() as pw,
    ):
        browser = harness.launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1150})
            harness.open_library(page, url)
            harness.upload(page, [first])
            harness.wait_ready(page, ready=1)

            if not chat_only:
                harness.upload(page, more)
                # Caught mid-way: one file being embedded, the others queued behind it.
                page.get_by_text(re.compile(r"— (parsing|chunking|embedding) \(")).first.wait_for(
                    timeout=120_000
                )
                page.screenshot(path=str(library_png))
                harness.wait_ready(page, ready=1 + len(more), timeout_s=600)

            number = harness.ask(page, SCREENSHOT_QUESTION)
            harness.open_card(page, number)
            # The chat sticks to the bottom while the card grows, and the card's page box
            # scrolls to the marked passage for a few seconds after it is drawn; once both
            # settle, put the question at the top with the answer and the opened card below.
            page.wait_for_timeout(6000)
            page.get_by_test_id("stChatMessage").first.evaluate(
                "e => e.scrollIntoView({block: 'start'})"
            )
            page.wait_for_timeout(1000)
            page.screenshot(path=str(chat_png))
        finally:
            browser.close()
    return [chat_png] if chat_only else [library_png, chat_png]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=harness.REPO / "docs")
    parser.add_argument("--chat-only", action="store_true", help="retake docs/chat.png only")
    args = parser.parse_args(argv)
    for path in take(args.out, chat_only=args.chat_only):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
