"""Pure helpers that turn answers, hits and jobs into safe HTML and small tables for the views."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from ragcore.catalog import DocumentRecord, JobRecord, JobStage, JobStatus
from ragcore.generation.citations import Citation
from ragcore.text_rules import CITATION_MARKER, STOP_WORDS, stem
from ragcore.types import Evidence

Span = tuple[int, int]

_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"\d+")
# The list items an answer is laid out with: "- x", "* x", "• x", "1. x", "2) x".
_LIST_ITEM = re.compile(r"(?:[-*+•]|(?P<number>\d{1,9})[.)])\s+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~$])")

# Order and labels of the latency bars, all in milliseconds; stages an answer did not run are
# left out, and so are counts kept beside them (``prompt_tokens``).
STAGES = (
    ("rewrite", "rewrite question"),
    ("encode", "encode"),
    ("dense", "dense search"),
    ("bm25", "BM25"),
    ("fuse", "fuse"),
    ("rerank", "rerank"),
    ("evidence", "pick evidence sentences"),
    ("queue", "wait for the model"),
    ("first_token", "first token"),
    ("generate", "generate"),
    ("check", "check citations"),
    ("total", "total"),
)

# What a person reads for each job stage while it runs.
STAGE_LABELS = {
    JobStage.QUEUED: "queued",
    JobStage.PARSING: "parsing",
    JobStage.CHUNKING: "chunking",
    JobStage.EMBEDDING: "embedding",
    JobStage.WRITING: "writing",
    JobStage.DONE: "finishing",  # the last heartbeat; the job turns done right after
}


def question_terms(question: str) -> list[str]:
    """The words of a question worth highlighting: no stop words, no one- or two-letter words."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        if len(word) >= 3 and word not in STOP_WORDS:
            # Stems as BM25 and the citation check have them ("characteristics" marks
            # "characteristic", "computing" marks "computers").
            seen.setdefault(stem(word), None)
    return list(seen)


def highlight(text: str, terms: Iterable[str]) -> str:
    """``text`` HTML-escaped, with every word starting with one of ``terms`` wrapped in <mark>.

    Words are found in the raw text and each piece is escaped on its own, so nothing in the
    document can become markup and no term can match inside an entity escaping produced.

    >>> highlight("<b>Cloud</b> clouds", ["cloud"])
    '&lt;b&gt;<mark>Cloud</mark>&lt;/b&gt; <mark>clouds</mark>'
    """
    return _layered_html(text, [(_term_spans(text, terms), "<mark>", "</mark>")], html.escape)


def _term_spans(text: str, terms: Iterable[str]) -> list[Span]:
    words = sorted({t for t in terms if t and _WORD.fullmatch(t)}, key=len, reverse=True)
    if not words:
        return []
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")\w*", re.IGNORECASE
    )
    return [m.span() for m in pattern.finditer(text)]


def _layered_html(
    text: str, layers: Sequence[tuple[Sequence[Span], str, str]], escape: Callable[[str], str]
) -> str:
    """``text`` with each layer's spans wrapped in its open and close tags, the first layer
    outermost; only the text between tags is escaped (a piece at a time), never a tag."""
    merged = [_merge(spans) for spans, _, _ in layers]

    def render(a: int, b: int, depth: int) -> str:
        if depth == len(layers):
            return escape(text[a:b])
        _, open_tag, close_tag = layers[depth]
        out, at = [], a
        for s, e in merged[depth]:
            s, e = max(s, at), min(e, b)
            if s >= e:
                continue
            out += [render(at, s, depth + 1), open_tag, render(s, e, depth + 1), close_tag]
            at = e
        out.append(render(at, b, depth + 1))
        return "".join(out)

    return render(0, len(text), 0)


def read_all(text: str, spans: Iterable[Span]) -> bool:
    """Do ``spans`` hold every word of ``text`` (the gaps between them only spaces)?"""
    at = 0
    for s, e in _merge(spans):
        if text[at:s].strip():
            return False
        at = max(at, e)
    return not text[at:].strip()


def _merge(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching spans joined, in order."""
    out: list[Span] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


# A verified quote stands out (green: found on the page); the sentences the model read are shaded
# lightly; question words keep the browser's yellow <mark>.
QUOTE_STYLE = "background:#c8e6c9;border-bottom:2px solid #2e7d32;padding:0 1px"
READ_STYLE = "background:rgba(66,133,244,0.10)"


def passage_html(
    text: str, terms: Iterable[str], *, quotes: Iterable[Span] = (), read: Iterable[Span] = ()
) -> str:
    """A passage as one HTML block: escaped, question words highlighted, line breaks kept.

    ``quotes`` and ``read`` are ``(start, end)`` spans of ``text``: the words a verified quote
    copied (marked strongly) and the sentences the model read (shaded; not when it read all).
    Newlines become <br> so the block has no blank line, which would end the HTML block and
    hand the rest to the Markdown renderer.

    >>> passage_html("Oil <b>every</b> 200 hours.", [], quotes=[(4, 16)])[45:70]
    'Oil <mark class="quote" s'
    """
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    size = len(stripped)

    def clip(spans: Iterable[Span]) -> list[Span]:
        clipped = ((max(0, a - lead), min(size, b - lead)) for a, b in spans)
        return [(a, b) for a, b in clipped if a < b]

    marked, shaded = clip(quotes), clip(read)
    if read_all(stripped, shaded):
        shaded = []  # shading all of it would say nothing
    body = _layered_html(
        stripped,
        [
            (shaded, f'<span class="read" style="{READ_STYLE}">', "</span>"),
            (marked, f'<mark class="quote" style="{QUOTE_STYLE}">', "</mark>"),
            (_term_spans(stripped, terms), "<mark>", "</mark>"),
        ],
        lambda piece: html.escape(piece).replace("\r\n", "\n").replace("\n", "<br>"),
    )
    return f'<div class="passage" style="line-height:1.5">{body}</div>'


def page_image_html(png: bytes, *, alt: str, width: int | None, focus: float | None = None) -> str:
    """A rendered page in a box that scrolls both ways: ``width`` in CSS pixels (a zoom), or
    None to fit the card. ``st.image`` never grows past its column, so a zoom could not show.
    ``focus`` (0–1 of the page's height) places a ``passage-focus`` mark that the citation
    script scrolls into view, so a passage low on the page is seen without searching for it.

    >>> page_image_html(b"\x89PNG...", alt="page 2", width=None)[:43]
    '<div class="source-page" style="overflow:aut'
    """
    data = base64.b64encode(png).decode("ascii")
    size = "width:100%" if width is None else f"width:{width}px;max-width:none"
    mark = (
        ""
        if focus is None
        else f'<span class="passage-focus" style="position:absolute;left:0;top:{focus:.2%}"></span>'
    )
    return (
        '<div class="source-page" style="overflow:auto;max-height:65vh;'
        'border:1px solid rgba(49,51,63,0.2)"><div style="position:relative">'
        f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" '
        f'style="{size};display:block">{mark}</div></div>'
    )


CONTEXT_STYLE = "color:rgba(49,51,63,0.6)"


def context_html(before: str, passage_block: str, after: str) -> str:
    """The passage's block (``passage_html``) between the document's text around it, muted.

    >>> context_html("Setup. ", '<div class="passage">Oil it.</div>', " Then run.")[:40]
    '<div class="in-context"><div class="cont'
    """

    def muted(text: str) -> str:
        body = html.escape(text.strip()).replace("\r\n", "\n").replace("\n", "<br>")
        return f'<div class="context" style="{CONTEXT_STYLE}">{body}</div>' if body else ""

    return f'<div class="in-context">{muted(before)}{passage_block}{muted(after)}</div>'


def anchor_id(prefix: str, number: int) -> str:
    return f"{prefix}-src-{number}"


def cited_answer_html(
    text: str, citations: Sequence[Citation], *, anchor_prefix: str, css_class: str = "answer"
) -> str:
    """The answer as one inert HTML block: escaped, each [n] a link to its source card.

    Only its layout is kept: paragraphs, line breaks and "-" or "1." list items. Any other
    Markdown (links, images, headings, emphasis, Streamlit's ``:red[...]`` and ``$math$``) is
    shown as typed, since an extractive answer is document text and a model's answer may quote
    it (a Markdown image alone would make the browser fetch any URL a document names). The
    block has no newline, so the Markdown renderer passes all of it through as HTML.

    ``css_class`` names the block: "answer" for a checked answer, "draft" while it streams.

    >>> cited_answer_html("- [x](javascript:y) [1]", [], anchor_prefix="t1")[:52]
    '<div class="answer"><ul><li>[x](javascript:y) <a hre'
    """
    unsupported = {c.number for c in citations if not c.supported}

    def group(match: re.Match[str]) -> str:
        numbers = [int(n) for n in _NUMBER.findall(match.group(0))]
        return "".join(_badge(anchor_prefix, n, supported=n not in unsupported) for n in numbers)

    def inline(line: str) -> str:
        return CITATION_MARKER.sub(group, html.escape(line))

    return f'<div class="{css_class}">{"".join(_answer_blocks(text, inline))}</div>'


def _badge(anchor_prefix: str, number: int, *, supported: bool = True) -> str:
    """A citation number linking to its source card."""
    target = anchor_id(anchor_prefix, number)
    if not supported:
        return (
            f'<a href="#{target}" title="this source does not back the sentence" '
            f'style="color:#b42318;text-decoration:none;font-weight:600">'
            f"[{number}&#8202;⚠]</a>"
        )
    return (
        f'<a href="#{target}" title="open source {number}" '
        f'style="text-decoration:none;font-weight:600">[{number}]</a>'
    )


def quote_html(text: str, number: int, *, anchor_prefix: str) -> str:
    """A verified quote as an inert block quote ending with its [n] link.

    >>> quote_html("Oil <b>every</b> 200 hours.", 2, anchor_prefix="t1")[:80]
    '<blockquote class="verified-quote" style="...">“Oil &lt;b&gt;every&lt;/b&gt; 200 hours.”'
    """
    words = html.escape(" ".join(text.split()))
    return (
        f'<blockquote class="verified-quote" style="{_QUOTE_BLOCK_STYLE}">'
        f"“{words}” {_badge(anchor_prefix, number)}</blockquote>"
    )


_QUOTE_BLOCK_STYLE = "border-left:4px solid #2e7d32;margin:0.25rem 0;padding:0.1rem 0.8rem"


def plain_html(text: str, *, css_class: str) -> str:
    """Text shown exactly as written: escaped, line breaks kept, no links and no Markdown."""
    body = html.escape(text.strip()).replace("\r\n", "\n").replace("\n", "<br>")
    return f'<div class="{css_class}" style="white-space:pre-wrap">{body}</div>'


def quote_caption(
    file_name: str, where: str, score: float, cited: int | None = None, *, row: bool = False
) -> str:
    """Where a verified quote was found and how closely, for a Markdown caption.

    ``where`` is the passage's location (``Hit.where``): "page 4", "sheet Q3, rows 12–40";
    the caption reads "Quoted from budget.xlsx, sheet Q3, rows 12–40 — found in the passage
    (exact)", Markdown-escaped. A ``row`` is a table row the model wrote as a sentence.
    """
    if row:
        how = "a table row holding its numbers, written by the model as a sentence"
    else:
        how = "exact" if score >= 100.0 else f"close match, {score:.0f}%"
    said = f"; the model named source [{cited}]" if cited is not None else ""
    found = "on the page" if where.startswith("page ") else "in the passage"
    return f"Quoted from {md_escape(file_name)}, {md_escape(where)} — found {found} ({how}){said}"


def split_long(text: str, limit: int) -> tuple[str, str]:
    """``text`` cut at a word boundary near ``limit`` characters: (shown, the rest)."""
    if len(text) <= limit:
        return text, ""
    cut = text.rfind(" ", limit // 2, limit + 1)
    cut = cut if cut > 0 else limit
    return text[:cut], text[cut:]


def stage_text(status: str, seconds: float, *, prompt_tokens: float | None = None) -> str:
    """What the answer bubble says while the person waits, from ``AnswerStream`` statuses.

    >>> stage_text("reading 3 sources", 2.4, prompt_tokens=180)
    'Reading 3 sources (≈ 180 tokens)… 2 s'
    """
    clock = f" {seconds:.0f} s" if seconds >= 1 else ""
    if not status:
        return f"Preparing the answer…{clock}"
    if status.startswith("waiting:"):
        ahead = status.removeprefix("waiting:").strip()
        return f"Waiting for the model: {ahead} (another conversation's)…{clock}"
    if status.startswith("reading"):
        size = f" (≈ {prompt_tokens:.0f} tokens)" if prompt_tokens else ""
        return f"{status[:1].upper()}{status[1:]}{size}…{clock}"
    if status == "writing":
        return f"Writing — checked against your documents when it is done…{clock}"
    return f"{status[:1].upper()}{status[1:]}…{clock}"


def first_token_seconds(timings: dict[str, float]) -> float | None:
    """Seconds from the question to the model's first word, or None if it wrote none.

    ``first_token`` and ``generate`` count from the start of streaming, ``total`` from the
    question; the search before streaming is ``total - check - generate``.
    """
    if "first_token" not in timings:
        return None
    before = timings.get("total", 0.0) - timings.get("check", 0.0) - timings.get("generate", 0.0)
    return (max(before, 0.0) + timings["first_token"]) / 1000.0


def latency_title(timings: dict[str, float]) -> str:
    """The latency expander's title, e.g. "Latency: first token 2.1 s · 3.4 s in all · ≈ 180
    prompt tokens"."""
    parts = []
    first = first_token_seconds(timings)
    if first is not None:
        parts.append(f"first token {first:.1f} s")
    parts.append(f"{timings.get('total', 0.0) / 1000.0:.1f} s in all")
    if timings.get("queue"):
        parts.append(f"{timings['queue'] / 1000.0:.1f} s waiting for the model")
    if timings.get("prompt_tokens"):
        parts.append(f"≈ {timings['prompt_tokens']:.0f} prompt tokens")
    return "Latency: " + " · ".join(parts)


# The answer's [n] links open their source card and scroll to it in one click: Streamlit has
# no way to open an expander from a link, so this script (our own, no document text in it)
# clicks the card's summary.
# Cards carry the class st-key-<anchor id> (the expander's key).
CITATION_SCRIPT = """<script>
(() => {
  if (window.__docqaCitations) return;
  window.__docqaCitations = true;
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#"][href*="-src-"]');
    if (!link) return;
    const find = () => document.querySelector(".st-key-" + CSS.escape(link.hash.slice(1)));
    const card = find();
    if (!card) return;
    event.preventDefault();
    const details = card.querySelector("details");
    if (details && !details.open) card.querySelector("summary").click();
    // Opening the card reruns the page, which then draws the page (or the text around the
    // passage) into it and moves what is above: scroll now, and again once that is drawn.
    // To the passage on the page when it is marked there, else to the card's top.
    const scroll = () => {
      const c = find();
      const focus = c && c.querySelector(".passage-focus");
      if (focus) focus.scrollIntoView({ block: "center" });
      else if (c) c.scrollIntoView({ block: "start" });
    };
    scroll();
    // Then each time the page has been still for a moment, for a few seconds after the card's
    // page (or text) is drawn: the rerun's last changes (stale elements removed) move it again.
    const drawn = () => find()?.querySelector(".passage-focus, .in-context");
    let settled = null;
    let scrolled = false;
    let closing = null;
    // Until the rerun is done: the stale copy of an element (the answer above, redrawn) stays
    // beside its new one until then, and its removal moves the passage up again.
    const stale = () => document.querySelector('[data-stale="true"]');
    const watch = new MutationObserver(() => {
      if (!drawn()) return;
      clearTimeout(settled);
      settled = setTimeout(() => { scrolled = true; scroll(); }, 400);
      if (stale()) return;
      closing ??= setTimeout(() => { watch.disconnect(); if (!scrolled) scroll(); }, 4000);
    });
    watch.observe(document.body, { childList: true, subtree: true, attributes: true });
    // Re-scrolls stop at the person's first move: their scroll, key or click wins.
    let moved = false;
    const mine = () => {
      moved = true;
      document.removeEventListener("scroll", pulled, { capture: true });
    };
    for (const kind of ["wheel", "touchmove", "keydown", "pointerdown"]) {
      window.addEventListener(kind, mine, { once: true, passive: true, capture: true });
    }
    const again = (delay) => {
      if (moved || !drawn()) return;
      clearTimeout(settled);
      settled = setTimeout(scroll, delay);
    };
    // What is above can also grow without a change to the page's elements (an image decoded
    // late, on a busy machine): each time the main column changes height, scroll again.
    const column = document.querySelector('[data-testid="stMainBlockContainer"]') || document.body;
    const resized = new ResizeObserver(() => again(200));
    resized.observe(column);
    // A chat page sticks to its bottom: while Streamlit counts it as stuck, a change of its
    // height animates it down again, away from the passage, after our last scroll as often as
    // before it. Whenever the passage leaves the view without the person, bring it back once
    // that animation has stopped: until the person scrolls, types or clicks (another citation).
    const away = () => {
      const focus = find()?.querySelector(".passage-focus");
      const top = focus ? focus.getBoundingClientRect().top : 0;
      return top < 0 || top >= innerHeight;
    };
    const pulled = () => { if (away()) again(250); };
    document.addEventListener("scroll", pulled, { capture: true, passive: true });
    setTimeout(() => { watch.disconnect(); resized.disconnect(); }, 15000);
  }, true);
  // A page image drawn anew (a card opened, a zoom, another page) scrolls within its own box
  // to the passage, never moving the page itself.
  // Streamlit may update a drawn box in place, so a box remembers what it was placed for.
  const place = () => {
    for (const box of document.querySelectorAll(".source-page")) {
      const focus = box.querySelector(".passage-focus");
      const image = box.querySelector("img");
      if (!focus || !image) continue;
      const drawing = `${focus.style.top} ${image.style.width} ${image.src.length}`;
      if (box.dataset.placed === drawing) continue;
      box.dataset.placed = drawing;
      // Once the image is decoded and laid out: before, the box does not know its height.
      image.decode().catch(() => {}).then(() => requestAnimationFrame(() => {
        box.scrollTop = Math.max(0, focus.offsetTop - box.clientHeight / 3);
      }));
    }
  };
  new MutationObserver(place).observe(document.body, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["src", "style"],
  });
})();
</script>"""


def _answer_blocks(text: str, inline: Callable[[str], str]) -> Iterator[str]:
    """Paragraphs and lists of ``text`` as HTML; ``inline`` renders the text of one line."""
    paragraph: list[str] = []
    items: list[str] = []
    ordered = False
    start = "1"

    def close_list() -> str:
        if not ordered:
            return f"<ul>{''.join(items)}</ul>"
        attr = "" if start == "1" else f' start="{start}"'
        return f"<ol{attr}>{''.join(items)}</ol>"

    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        item = _LIST_ITEM.match(line)
        # An indented line under a list item continues that item (a model wraps long items).
        continues = bool(items and line and not item and raw[:1].isspace())
        if paragraph and (not line or item):
            yield f"<p>{'<br>'.join(paragraph)}</p>"
            paragraph = []
        if items and not continues and (not item or ordered != (item["number"] is not None)):
            yield close_list()
            items = []
        if continues:
            items[-1] = items[-1].removesuffix("</li>") + f"<br>{inline(line)}</li>"
        elif item:
            if not items:
                ordered = item["number"] is not None
                start = item["number"] or "1"
            items.append(f"<li>{inline(line[item.end() :])}</li>")
        elif line:
            paragraph.append(inline(line))
    if paragraph:
        yield f"<p>{'<br>'.join(paragraph)}</p>"
    if items:
        yield close_list()


def md_escape(text: str) -> str:
    """Plain text made inert for Markdown labels (file names in expander titles and captions)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _fmt(value: float | int | None, digits: int) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def evidence_rows(evidence: Evidence) -> list[dict[str, str]]:
    """Why a passage was retrieved, one row per signal ("—" where it was not in that list)."""
    ev = evidence
    return [
        {
            "signal": "BM25 (keywords)",
            "rank": _fmt(ev.bm25_rank, 0),
            "score": _fmt(ev.bm25_score, 3),
        },
        {"signal": "text vector", "rank": _fmt(ev.text_rank, 0), "score": _fmt(ev.text_score, 3)},
        {
            "signal": "image vector",
            "rank": _fmt(ev.image_rank, 0),
            "score": _fmt(ev.image_score, 3),
        },
        {
            "signal": "dense (store fusion)",
            "rank": _fmt(ev.dense_rank, 0),
            "score": _fmt(ev.dense_score, 4),
        },
        {"signal": "fused (RRF)", "rank": _fmt(ev.fused_rank, 0), "score": _fmt(ev.fused_score, 4)},
        {"signal": "rerank", "rank": "—", "score": _fmt(ev.rerank_score, 3)},
    ]


def latency_rows(timings: dict[str, float]) -> list[dict[str, object]]:
    """Milliseconds per stage in pipeline order, for a bar chart."""
    return [
        {"stage": label, "ms": round(float(timings[key]), 1)}
        for key, label in STAGES
        if key in timings
    ]


@dataclass(frozen=True)
class JobView:
    """A job as the progress list shows it."""

    label: str
    fraction: float
    finished: bool
    failed: bool
    error: str | None = None


def job_view(job: JobRecord) -> JobView:
    if job.status == JobStatus.DONE:
        return JobView("ready", 1.0, finished=True, failed=False)
    if job.status == JobStatus.FAILED:
        reason = job.error or "no reason recorded"
        return JobView(f"failed: {reason}", 1.0, finished=True, failed=True, error=reason)
    if job.status == JobStatus.CANCELLED:
        return JobView("cancelled (document deleted)", 1.0, finished=True, failed=False)
    # A job a worker has claimed but not begun a stage of is still waiting, not "queued (0%)".
    if job.status == JobStatus.QUEUED or job.stage == JobStage.QUEUED:
        return JobView("queued", 0.0, finished=False, failed=False)
    stage = STAGE_LABELS.get(job.stage, job.stage)
    fraction = min(max(job.progress, 0.0), 1.0)
    return JobView(f"{stage} ({fraction:.0%})", fraction, finished=False, failed=False)


def file_type(doc: DocumentRecord) -> str:
    suffix = PurePath(doc.name).suffix.lstrip(".").lower()
    return suffix or (doc.mime.rsplit("/", 1)[-1] if doc.mime else "?")


def document_rows(
    docs: Sequence[DocumentRecord], collections: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, object]]:
    """The library table: one row per document, plain values only.

    ``collections`` maps a document id to the names of the collections it is in; given, the
    table has a "collections" column (names comma-separated, "—" for none).
    """
    rows = [
        {
            "name": d.name,
            "type": file_type(d),
            "pages": d.pages,
            "pages without text": d.pages_without_text,
            "pages read by OCR": d.pages_ocr,
            "warnings": d.warnings.replace("\n", " · "),
            # The catalog counts text chunks and image chunks apart (replace_chunks).
            "chunks": d.chunks,
            "images": d.images,
            "strategy": d.strategy or "—",
            "status": d.status if not d.error else f"{d.status}: {d.error}",
            "added": datetime.fromtimestamp(d.created_at).strftime("%Y-%m-%d %H:%M"),
        }
        for d in docs
    ]
    if collections is not None:
        for row, d in zip(rows, docs, strict=True):
            row["collections"] = ", ".join(collections.get(d.id, ())) or "—"
    return rows


_URL = re.compile(r"\bhttps?://[^\s)\]]*[^\s)\].,;:!?'\"]")


def code_span(text: str) -> str:
    """``text`` as Markdown inline code, fenced by more backticks than it holds in a row."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plain_with_addresses(text: str) -> str:
    """Plain text for Markdown, its web addresses as code: an escaped address would show its
    backslashes (``http://127\\.0\\.0\\.1``), since Markdown links it before unescaping."""
    parts, last = [], 0
    for match in _URL.finditer(text):
        parts.append(md_escape(text[last : match.start()]))
        parts.append(code_span(match.group()))
        last = match.end()
    parts.append(md_escape(text[last:]))
    return "".join(parts)
