"""Pure helpers that turn answers, hits and jobs into safe HTML and small tables for the views."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from ragcore.catalog import DocumentRecord, JobRecord
from ragcore.generation.citations import STOP_WORDS, Citation
from ragcore.types import Evidence

_WORD = re.compile(r"\w+", re.UNICODE)
# Inflections folded away so "characteristics" also marks "characteristic" and "computing"
# marks "compute"; longest first, and only when a stem of 4+ letters is left.
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "es", "ed", "s", "e")
# A citation group as the answer shows it: [1], [1, 3], [2-4], [source 2].
_CITATION_GROUP = re.compile(
    r"\[\s*(?:sources?\s*)?\d+(?:\s*[,;\-–]\s*(?:sources?\s*)?\d+)*\s*\]", re.IGNORECASE
)
_NUMBER = re.compile(r"\d+")
# The list items an answer is laid out with: "- x", "* x", "• x", "1. x", "2) x".
_LIST_ITEM = re.compile(r"(?:[-*+•]|(?P<number>\d{1,9})[.)])\s+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~$])")

# Order and labels of the latency bars; stages an answer did not run are left out.
STAGES = (
    ("rewrite", "rewrite question"),
    ("encode", "encode"),
    ("dense", "dense search"),
    ("bm25", "BM25"),
    ("fuse", "fuse"),
    ("rerank", "rerank"),
    ("first_token", "first token"),
    ("generate", "generate"),
    ("check", "check citations"),
    ("total", "total"),
)

# What a person reads for each job stage while it runs.
STAGE_LABELS = {
    "queued": "queued",
    "parsing": "parsing",
    "chunking": "chunking",
    "embedding": "embedding",
    "writing": "writing",
    "done": "finishing",  # the last heartbeat; the job turns done right after
}


def question_terms(question: str) -> list[str]:
    """The words of a question worth highlighting: no stop words, no one- or two-letter words."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        if len(word) >= 3 and word not in STOP_WORDS:
            seen.setdefault(_stem(word), None)
    return list(seen)


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def highlight(text: str, terms: Iterable[str]) -> str:
    """``text`` HTML-escaped, then every word starting with one of ``terms`` wrapped in <mark>.

    Escaping comes first, so nothing in the document can become markup; the lookbehind keeps
    a term such as "amp" or "lt" from matching inside the entities escaping produced.

    >>> highlight("<b>Cloud</b> clouds", ["cloud"])
    '&lt;b&gt;<mark>Cloud</mark>&lt;/b&gt; <mark>clouds</mark>'
    """
    escaped = html.escape(text)
    words = sorted({t for t in terms if t and _WORD.fullmatch(t)}, key=len, reverse=True)
    if not words:
        return escaped
    pattern = re.compile(
        r"(?<![&#\w])(?:" + "|".join(re.escape(w) for w in words) + r")\w*", re.IGNORECASE
    )
    return pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped)


def passage_html(text: str, terms: Iterable[str]) -> str:
    """A passage as one HTML block: escaped, highlighted, line breaks kept.

    Newlines become <br> so the block has no blank line, which would end the HTML block and
    hand the rest to the Markdown renderer.
    """
    body = highlight(text.strip(), terms).replace("\r\n", "\n").replace("\n", "<br>")
    return f'<div class="passage" style="line-height:1.5">{body}</div>'


def anchor_id(prefix: str, number: int) -> str:
    return f"{prefix}-src-{number}"


def cited_answer_html(text: str, citations: Sequence[Citation], *, anchor_prefix: str) -> str:
    """The answer as one inert HTML block: escaped, each [n] a link to its source card.

    Only its layout is kept: paragraphs, line breaks and "-" or "1." list items. Any other
    Markdown (links, images, headings, emphasis, Streamlit's ``:red[...]`` and ``$math$``) is
    shown as typed, since an extractive answer is document text and a model's answer may quote
    it (a Markdown image alone would make the browser fetch any URL a document names). The
    block has no newline, so the Markdown renderer passes all of it through as HTML.

    >>> cited_answer_html("- [x](javascript:y) [1]", [], anchor_prefix="t1")[:52]
    '<div class="answer"><ul><li>[x](javascript:y) <a hre'
    """
    unsupported = {c.number for c in citations if not c.supported}

    def badge(number: int) -> str:
        target = anchor_id(anchor_prefix, number)
        if number in unsupported:
            return (
                f'<a href="#{target}" title="this source does not back the sentence" '
                f'style="color:#b42318;text-decoration:none;font-weight:600">'
                f"[{number}&#8202;⚠]</a>"
            )
        return (
            f'<a href="#{target}" title="open source {number}" '
            f'style="text-decoration:none;font-weight:600">[{number}]</a>'
        )

    def group(match: re.Match[str]) -> str:
        numbers = [int(n) for n in _NUMBER.findall(match.group(0))]
        return "".join(badge(n) for n in numbers)

    def inline(line: str) -> str:
        return _CITATION_GROUP.sub(group, html.escape(line))

    return f'<div class="answer">{"".join(_answer_blocks(text, inline))}</div>'


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
    if job.status == "done":
        return JobView("ready", 1.0, finished=True, failed=False)
    if job.status == "failed":
        reason = job.error or "no reason recorded"
        return JobView(f"failed: {reason}", 1.0, finished=True, failed=True, error=reason)
    if job.status == "cancelled":
        return JobView("cancelled (document deleted)", 1.0, finished=True, failed=False)
    if job.status == "queued":
        return JobView("queued", 0.0, finished=False, failed=False)
    stage = STAGE_LABELS.get(job.stage, job.stage)
    fraction = min(max(job.progress, 0.0), 1.0)
    return JobView(f"{stage} ({fraction:.0%})", fraction, finished=False, failed=False)


def file_type(doc: DocumentRecord) -> str:
    suffix = PurePath(doc.name).suffix.lstrip(".").lower()
    return suffix or (doc.mime.rsplit("/", 1)[-1] if doc.mime else "?")


def document_rows(docs: Sequence[DocumentRecord]) -> list[dict[str, object]]:
    """The library table: one row per document, plain values only."""
    return [
        {
            "name": d.name,
            "type": file_type(d),
            "pages": d.pages,
            "pages without text": d.pages_without_text,
            "chunks": d.chunks - d.images,
            "images": d.images,
            "strategy": d.strategy or "—",
            "status": d.status if not d.error else f"{d.status}: {d.error}",
            "added": datetime.fromtimestamp(d.created_at).strftime("%Y-%m-%d %H:%M"),
        }
        for d in docs
    ]
