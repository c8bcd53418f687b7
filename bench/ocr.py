"""OCR engines compared on scanned pages: `python -m bench.ocr [--engines tesseract rapidocr]`.

Word accuracy is measured against references typed by hand (bench/data/ocr/*.txt) as the
share of the reference's words the engine read (a bag of lower-cased words, so the order in
which an engine walks two columns does not count against it). Each engine runs in a child
process of its own, so its peak memory (with the programs it starts) is its alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.common import command_line, machine, publish, shared_data_dir

REFERENCES = Path(__file__).parent / "data" / "ocr"
ENGINES = ("tesseract", "rapidocr")
# (file, page, reference): the brochure's page 3 is page 1 turned upside down, page 2 and 4
# turned sideways, so one reference serves all four.
PAGES = (
    ("scanned_c02-22.pdf", 1, "scanned_c02-22_p1.txt"),
    ("scanned_linn_brochure_cardinal.pdf", 1, "scanned_linn_brochure_cardinal_p1.txt"),
    ("scanned_linn_brochure_cardinal.pdf", 2, "scanned_linn_brochure_cardinal_p1.txt"),
    ("scanned_linn_brochure_cardinal.pdf", 3, "scanned_linn_brochure_cardinal_p1.txt"),
)
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.lower()))


def word_accuracy(reference: str, text: str) -> float:
    """The share of the reference's words (with repeats) found in ``text``, in any order.

    >>> word_accuracy("the cat sat on the mat", "the cat sat on a mat")
    0.8333333333333334
    """
    ref = words(reference)
    total = sum(ref.values())
    return sum((ref & words(text)).values()) / total if total else 1.0


def _render(pdf: Path, page: int, dpi: int) -> Any:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return document[page - 1].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        document.close()


def _tesseract(dpi: int) -> Any:
    from ingest.parsers.ocr import OcrOptions, TesseractOcr

    engine = TesseractOcr(OcrOptions(dpi=dpi))
    missing = engine.unavailable()
    if missing:
        raise SystemExit(missing)

    def read(image: Any) -> tuple[str, float]:
        result = engine.read(image, timeout=600, dpi=dpi)
        return result.text, result.confidence

    return read


def _rapidocr(dpi: int) -> Any:
    try:
        import numpy as np
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise SystemExit(
            "rapidocr is not installed: pip install rapidocr-onnxruntime (its wheel ships its "
            "ONNX models)"
        ) from exc
    engine = RapidOCR()

    def read(image: Any) -> tuple[str, float]:
        lines, _ = engine(np.array(image.convert("RGB")))
        lines = lines or []
        confidence = sum(float(line[2]) for line in lines) / len(lines) if lines else 0.0
        return "\n".join(str(line[1]) for line in lines), confidence

    return read


def run_engine(engine: str, pdf_dir: Path, dpi: int) -> dict[str, object]:
    """One engine over every page (in this process); its memory is this process's peak."""
    t0 = time.perf_counter()
    read = _tesseract(dpi) if engine == "tesseract" else _rapidocr(dpi)
    load_seconds = time.perf_counter() - t0
    rows = []
    for name, page, reference in PAGES:
        image = _render(pdf_dir / name, page, dpi)
        t0 = time.perf_counter()
        text, confidence = read(image)
        seconds = time.perf_counter() - t0
        expected = (REFERENCES / reference).read_text(encoding="utf-8")
        rows.append(
            {
                "file": name,
                "page": page,
                "accuracy": round(word_accuracy(expected, text), 4),
                "confidence": round(confidence, 3),
                "seconds": round(seconds, 2),
            }
        )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "engine": engine,
        "load_seconds": round(load_seconds, 2),
        "peak_rss_mb": round(max(own, children) / 1024, 1),
        "rows": rows,
    }


def compare(engines: Sequence[str], pdf_dir: Path, dpi: int) -> dict[str, object]:
    results = []
    for engine in engines:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.ocr",
                "--one",
                engine,
                "--pdfs",
                str(pdf_dir),
                "--dpi",
                str(dpi),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            results.append({"engine": engine, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rows = result["rows"]
        reference_rows = [r for r in rows if r["page"] == 1]  # the two pages typed by hand
        seconds = sum(r["seconds"] for r in rows)
        result["mean_accuracy_upright"] = round(
            sum(r["accuracy"] for r in reference_rows) / len(reference_rows), 4
        )
        result["pages_per_second"] = round(len(rows) / seconds, 3) if seconds else None
        results.append(result)
    return {"dpi": dpi, "engines": results, "load_average": os.getloadavg()}


def print_table(report: Mapping[str, Any]) -> None:
    load = ", ".join(f"{x:.2f}" for x in report["load_average"])
    print(f"OCR at {report['dpi']} dpi (load average {load})")
    print("| engine | page | word accuracy | mean confidence | seconds |")
    print("|---|---|---|---|---|")
    for result in report["engines"]:
        if "error" in result:
            print(f"| {result['engine']} | failed: {' '.join(result['error'])} | | | |")
            continue
        for row in result["rows"]:
            print(
                f"| {result['engine']} | {row['file']} p{row['page']} | {row['accuracy']:.3f} | "
                f"{row['confidence']:.3f} | {row['seconds']:.1f} |"
            )
    print()
    print("| engine | mean word accuracy (upright pages) | pages/s | peak memory | load time |")
    print("|---|---|---|---|---|")
    for result in report["engines"]:
        if "error" not in result:
            print(
                f"| {result['engine']} | {result['mean_accuracy_upright']:.3f} | "
                f"{result['pages_per_second']} | {result['peak_rss_mb']:.0f} MB | "
                f"{result['load_seconds']:.1f} s |"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ocr", description=__doc__)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--pdfs", type=Path, default=shared_data_dir() / "pdfs")
    parser.add_argument("--dpi", type=int, default=150)
    parser.add_argument("--one", choices=ENGINES, help=argparse.SUPPRESS)  # the child's part
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_engine(args.one, args.pdfs, args.dpi)))
        return 0
    report = compare(args.engines, args.pdfs, args.dpi)
    report["machine"] = machine()
    report["command"] = command_line("bench.ocr", argv)
    return publish(report, out=args.out, as_json=args.json, print_table=print_table)


if __name__ == "__main__":
    raise SystemExit(main())
