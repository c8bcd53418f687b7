"""HTML pages: the main content (trafilatura), as Markdown (markdownify) with headings and tables."""

from __future__ import annotations

import re
from typing import Any

from ingest.parsers.common import ParseLimits, too_much_text
from ingest.parsers.tables import find_markdown_tables
from ingest.parsers.text import decode_text
from ragcore.errors import CorruptFile
from ragcore.types import Page, ParsedDocument

# Below this much visible text a page has no boilerplate worth separating, and trafilatura,
# whose own minimum is 250 characters, falls back to flat text without headings or tables.
SMALL_PAGE_CHARS = 1000
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_INVISIBLE = "//script|//style|//noscript|//template|//svg|//head/*[not(self::title)]"
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


def parse_html(
    data: bytes, *, name: str, doc_id: str, mime: str, limits: ParseLimits
) -> ParsedDocument:
    """One page of Markdown holding the page's main content.

    trafilatura finds the main content (it drops menus, footers and sidebars) and markdownify
    writes it as Markdown: ``#`` headings, so chunks get their heading path; lists; tables
    with a header row. A small page is converted whole (see ``SMALL_PAGE_CHARS``). When the
    content does not start with a heading, the page's <title> becomes its first heading.

    >>> doc = parse_html(b"<h1>Intro</h1><p>Hi</p>", name="a.html", doc_id="d1", mime=HTML,
    ...                  limits=ParseLimits())
    >>> doc.pages[0].text
    '# Intro\\n\\nHi'
    """
    import lxml.html  # heavy imports: only when a web page comes

    text, note = decode_text(data, name=name)
    # lxml refuses str input that declares its own encoding (XHTML); it is decoded already.
    text = _XML_DECLARATION.sub("", text, count=1)
    if not text.strip():
        raise CorruptFile(f"{name} is empty; there is nothing to index.")
    tree = lxml.html.document_fromstring(text)
    title = " ".join((tree.findtext(".//title") or "").split())
    for element in tree.xpath(_INVISIBLE):
        element.drop_tree()
    visible = " ".join(tree.text_content().split())
    content = tree if len(visible) < SMALL_PAGE_CHARS else _main_content(tree) or tree
    markdown = _to_markdown(content)
    if title and not markdown.startswith("#"):
        markdown = f"# {title}\n\n{markdown}" if markdown else f"# {title}"
    if not markdown.strip():
        raise CorruptFile(f"{name} has no text in it; there is nothing to index.")
    if len(markdown) > limits.text_chars_limit(len(data)):
        raise too_much_text(name, len(data), limits, chars=len(markdown))
    page = Page(number=1, text=markdown, label="", tables=find_markdown_tables(markdown))
    return ParsedDocument(
        doc_id=doc_id, name=name, mime=mime, pages=(page,), warnings=(note,) if note else ()
    )


def _main_content(tree: Any) -> Any | None:
    """The main content as an HTML tree, or None when trafilatura finds none."""
    import lxml.html
    import trafilatura

    # A copy as text: trafilatura prunes the tree it is given, and ours is the fallback.
    extracted = trafilatura.extract(
        lxml.html.tostring(tree, encoding="unicode"),
        output_format="html",
        include_tables=True,
        include_formatting=True,
        include_links=False,
        include_images=False,
        include_comments=False,
        favor_recall=True,
    )
    if not extracted or not extracted.strip():
        return None
    return lxml.html.document_fromstring(extracted)


def _to_markdown(tree: Any) -> str:
    import lxml.html
    from markdownify import markdownify

    # markdownify leaves a | inside a cell as it is, which would split the cell in two.
    for cell in tree.xpath("//td|//th"):
        for node in cell.iter():
            if node.text:
                node.text = node.text.replace("|", "\\|")
            if node.tail and node is not cell:
                node.tail = node.tail.replace("|", "\\|")
    body = tree.find("body")
    html = lxml.html.tostring(body if body is not None else tree, encoding="unicode")
    markdown = markdownify(
        html, heading_style="ATX", table_infer_header=True, strip=["a", "img"], bullets="-"
    )
    markdown = "\n".join(line.rstrip() for line in markdown.splitlines())
    return _BLANK_LINES.sub("\n\n", markdown).strip()
