"""bench.report rewrites RESULTS.md without losing what it does not make itself."""

from __future__ import annotations

import json
from typing import Any

from bench import report

STARTED = {
    "date": "2026-12-03 07:00:00 UTC",
    "cpu": "CPU",
    "cores": 2,
    "memory_gb": 8,
    "platform": "Linux",
    "python": "3.11",
    "torch": "2",
    "torch_threads": 2,
    "load_average": [1.0, 1.0, 1.0],
}

PREVIOUS = """# Benchmark results

- Date: an earlier day

## Retrieval quality (SciFact)

nDCG 0.70, measured before.

### Tuning on the train split

tuned.

## Ingestion speed

old ratio 0.712

For comparison, the batched text import built the SciFact index fast.

## OCR engines (written by hand)

| engine | accuracy |
|---|---|
| tesseract | 0.985 |

```
## not a heading inside a code block
```
"""


def _ingest_results() -> dict[str, Any]:
    return {
        "command": "python -m bench.ingest pdfs",
        "ingested": 2,
        "files": 2,
        "refused": [],
        "params": {"strategy": "recursive", "chunk_size": 200, "overlap": 30},
        "ocr": False,
        "sandbox": True,
        "pages": 10,
        "chunks": 40,
        "wall_seconds": 10.0,
        "pages_per_second": 1.0,
        "chunks_per_second": 4.0,
        "pure_embed_chunks_per_second": 4.4,
        "throughput_ratio": 0.9,
        "peak_rss_mb": 900.0,
        "stage_seconds": {"parse": 0.6, "chunk": 0.1, "embed": 9.0, "write": 0.3, "queue": 0.0},
        "stage_shares": {"parse": 0.06, "chunk": 0.01, "embed": 0.9, "write": 0.03, "queue": 0.0},
        "load_seconds": 3.0,
        "machine": {**STARTED, "load_average": [2.0, 2.0, 2.0]},
    }


def test_sections_split_on_level_two_headings_outside_code() -> None:
    titles = [t for t, _ in report.split_sections(PREVIOUS)]
    assert titles == [
        "Retrieval quality (SciFact)",
        "Ingestion speed",
        "OCR engines (written by hand)",
    ]
    text = dict(report.split_sections(PREVIOUS))["OCR engines (written by hand)"]
    assert text.endswith("```")  # the code block stays in its section


def test_regenerating_keeps_hand_written_sections_in_place_and_marks_kept_ones() -> None:
    out = report.render({"ingest": _ingest_results()}, None, STARTED, PREVIOUS)
    sections = report.split_sections(out)
    titles = [t for t, _ in sections]
    # Ingestion regenerated in place, the hand-written section kept after it, verbatim; steps
    # the old file lacked are added in their order, with what they say when not run.
    assert titles.index("Ingestion speed") < titles.index("OCR engines (written by hand)")
    assert titles[0] == "Retrieval quality (SciFact)"
    by_title = dict(sections)
    assert (
        by_title["OCR engines (written by hand)"]
        == dict(report.split_sections(PREVIOUS))["OCR engines (written by hand)"]
    )
    assert "0.712" not in by_title["Ingestion speed"] and "| 0.9 |" in by_title["Ingestion speed"]
    assert "Target met (0.9)" in by_title["Ingestion speed"]
    assert "sandboxed child process" in by_title["Ingestion speed"]
    assert "read by OCR" not in by_title["Ingestion speed"]
    # Its batch-import paragraph comes from the SciFact run: none this time, the old one stays.
    assert by_title["Ingestion speed"].endswith("built the SciFact index fast.")
    with_ocr = {**_ingest_results(), "pages_ocr": 11, "files_ocr": 3}
    with_ocr["throughput_ratio_without_ocr"] = 0.93
    ocr_text = report.section_ingest(with_ocr)
    assert "11 pages of 3 files were read by OCR" in ocr_text and "= 0.93." in ocr_text
    # No SciFact results this time: the earlier section stays, subsections and all, marked.
    beir = by_title["Retrieval quality (SciFact)"]
    assert "nDCG 0.70, measured before." in beir and "### Tuning on the train split" in beir
    assert report.KEPT_NOTE in beir and report.KEPT_NOTE not in by_title["Ingestion speed"]
    assert set(report.SECTION_TITLES.values()) <= set(titles)
    assert "- Date: 2026-12-03 07:00:00 UTC" in out


def test_rendering_twice_changes_nothing_more() -> None:
    once = report.render({}, None, STARTED, PREVIOUS, keep_head=True)
    twice = report.render({}, None, STARTED, once, keep_head=True)
    assert once == twice
    assert once.count(report.KEPT_NOTE) == 2  # SciFact and ingestion, once each
    assert once.startswith("# Benchmark results\n\n- Date: an earlier day\n")


def test_the_committed_files_render() -> None:
    """The current RESULTS.md keeps every section, and the answer baseline renders."""
    previous = report.RESULTS_MD.read_text()
    answers = json.loads(report.ANSWERS_BASELINE.read_text())
    out = report.render({"answers": answers}, None, STARTED, previous, keep_head=True)
    before = report.split_sections(previous)
    after = dict(report.split_sections(out))
    for title, text in before:
        kept = after[title]
        assert kept == text or kept == report._kept(text)
    assert "right and verified" in after["Answers (dev question set)"]
