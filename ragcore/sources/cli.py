"""``python -m ragcore source POINT_ID [--png OUT.png]``: a cited passage shown on its page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ragcore.errors import NoPageToRender, SourceUnavailable
from ragcore.runtime import open_catalog, open_files
from ragcore.settings import Settings
from ragcore.sources.ocr import TesseractWords
from ragcore.sources.render import (
    DEFAULT_SCALE,
    MAX_SCALE,
    MIN_SCALE,
    SourceKind,
    SourceRenderer,
    SourceView,
    quote_span,
)

HELP = """\
Show the passage a search hit or a citation points at: its point_id in
`python -m ragcore search --json` or `ask --json`.

  PDF       --png writes the page with the passage marked in yellow (the --quote words in
            green); the passage is found in the text layer, or by OCR on a scanned page.
  image     --png writes the image; its caption is printed.
  other     Word, slides, spreadsheets, HTML, Markdown and text have no page: their location
            and the text around the passage are printed, and --png is refused.

Without --png the location and the passage in its surrounding text are printed.
Exits 2 with one line on stderr when the id is unknown, its document was deleted, or --png
is asked of a source with no page to render.
"""


def _scale(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {raw!r}") from None
    if not MIN_SCALE <= value <= MAX_SCALE:
        raise argparse.ArgumentTypeError(
            f"must be between {MIN_SCALE:g} and {MAX_SCALE:g}, got {value:g}"
        )
    return value


def positive_int(raw: str) -> int:
    """A command-line count or page number: a whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``source`` subcommand, on the parser of ``python -m ragcore``."""
    parser = sub.add_parser(
        "source",
        help="show a passage on its page (--png writes the page image)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("point_id", help="the hit's point_id, from search or ask --json")
    parser.add_argument("--png", type=Path, help="write the page (or the image) here as a PNG")
    parser.add_argument(
        "--scale",
        type=_scale,
        default=DEFAULT_SCALE,
        help=f"zoom, 1 = 72 pixels per inch (default {DEFAULT_SCALE:g})",
    )
    parser.add_argument("--page", type=positive_int, help="show this page of the PDF instead")
    parser.add_argument("--quote", help="words of the passage to mark more strongly")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # The catalog alone, not the store: this works while the app holds the embedded store.
    catalog = open_catalog(settings)
    try:
        renderer = SourceRenderer(
            catalog,
            data_dir=settings.data_dir,
            ocr=TesseractWords(language=settings.ocr_language),
            ocr_dpi=settings.ocr_dpi,
            files=open_files(settings, catalog),
        )
        view = renderer.render(args.point_id, scale=args.scale, page=args.page)
        if args.quote:
            span = quote_span(view.passage, args.quote)
            if span is None:
                print(f"note: the quote is not in the passage: {args.quote!r}", file=sys.stderr)
            elif view.kind == SourceKind.PAGE:
                view = renderer.render(
                    args.point_id, scale=args.scale, page=args.page, quotes=[span]
                )
        if args.png is not None:
            if view.image is None:
                raise NoPageToRender(
                    f"{view.file_name} has no page to render: its passage is at "
                    f"{view.location} (leave out --png to print it)"
                )
            try:
                args.png.write_bytes(view.image)
            except OSError as exc:
                raise SourceUnavailable(f"cannot write {args.png}: {exc.strerror or exc}") from exc
        print_view(view, args.png)
    finally:
        catalog.close()
    return 0


def print_view(view: SourceView, png: Path | None) -> None:
    print(f"{view.file_name}, {view.location} ({view.kind})")
    if view.kind == SourceKind.PAGE:
        if view.shown_page != view.page:
            state = f"the passage is on PDF page {view.page}"
        elif view.highlighted:
            state = f"passage marked, found in the {view.found_by}"
        else:
            state = "the passage could not be found on the page to mark it"
        print(f"{view.page_label}, of {view.page_count} pages, at scale {view.scale:g}: {state}")
    if png is not None:
        print(f"wrote {png}")
        return
    if view.caption:
        print(f"caption: {view.caption}")
    before = " ".join(view.context_before.split())
    after = " ".join(view.context_after.split())
    print(f"{before} >>> {' '.join(view.passage.split())} <<< {after}".strip())
