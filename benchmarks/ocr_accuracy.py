"""OCR word accuracy and speed on a generated set: known text rendered as scans, read back by rag.

    .venv/bin/python benchmarks/ocr_accuracy.py [--pages 4] [--label run]

Known text (the first sentences of SciFact abstracts from ../shared/datasets, never copied into
the repository) is typeset on A4 pages with Pillow at 150 and 300 dpi in two typefaces (Pillow's
bundled sans serif, and DejaVu Serif where Debian's fonts-dejavu-core is installed), then made
worse: clean, noise (Gaussian, sigma 20), speckle (sigma 35: rag's median filter runs), blur
(radius 1 at 300 dpi, 0.5 at 150), rotation (1.5 degrees), degraded (noise, blur and rotation),
and blurry (radius 4 at 300 dpi, 2 at 150: a stress case, outside the generated set, that gives
the low-confidence flag pages to find).
Every other source document is saved as a PNG, the others as image-only PDFs, and each is read
by rag's own loader (load_file: PDFium renders a PDF page at 300 dpi, Tesseract reads it).

Word accuracy: 1 - word error rate, the word-level edit distance between the words (runs of
letters and digits, case kept) of the source text and of the text read, over the source's word
count. Characters per second: source characters over the loader's wall time (rendering and OCR).

The low-confidence flag (rag.documents.LOW_OCR_CONFIDENCE) is chosen here: pages are split by
source document into a calibration half and a held-out half; the threshold that best separates
pages under 90% word accuracy on the calibration half is reported with its precision and recall
on the held-out half. Results go to benchmarks/results/ocr_accuracy-<label>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path.cwd()))  # the rag of the checkout this is run from

from rag.errors import LoadError
from rag.ingest.loaders import load_file

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {  # noise sigma (grey levels), blur radius at 300 dpi, rotation (degrees)
    "clean": (0, 0.0, 0.0),
    "noise": (20, 0.0, 0.0),
    "blur": (0, 1.0, 0.0),
    "rotate": (0, 0.0, 1.5),
    "speckle": (35, 0.0, 0.0),
    "degraded": (20, 1.0, 1.5),
    "blurry": (0, 4.0, 0.0),
}
MAIN = ["clean", "noise", "speckle", "blur", "rotate", "degraded"]  # blurry: a stress case
WORD = re.compile(r"\w+")


def source_texts(n: int) -> list[tuple[str, str]]:
    """(doc id, text) of n SciFact abstracts, about 900 characters each (whole sentences)."""
    path = DATASETS / "scifact" / "corpus.jsonl"
    if not path.exists():
        sys.exit(f"missing {path}: the benchmark reads its text from ../shared/datasets")
    rows = [json.loads(line) for line in path.open()]
    random.Random(13).shuffle(rows)
    out = []
    for row in rows:
        text = ""
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(row["text"].split())):
            if len(text) + len(sentence) > 900:
                break
            text = f"{text} {sentence}".strip()
        if len(text) > 400:
            out.append((row["_id"], text))
        if len(out) == n:
            return out
    return out


def fonts() -> dict[str, str | None]:
    found = {"pillow-sans": None}  # None: Pillow's bundled font
    serif = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
    if serif.exists():
        found["dejavu-serif"] = str(serif)
    return found


def render(text: str, dpi: int, font_file: str | None, variant: str, seed: int) -> Image.Image:
    size = int(11 * dpi / 72)  # 11-point type
    font = ImageFont.truetype(font_file, size) if font_file else ImageFont.load_default(size=size)
    img = Image.new("L", (int(8.27 * dpi), int(11.69 * dpi)), 255)
    draw = ImageDraw.Draw(img)
    y = dpi
    for line in textwrap.wrap(text, 75):
        draw.text((dpi, y), line, font=font, fill=0)
        y += int(size * 1.45)
    sigma, blur, angle = VARIANTS[variant]
    if angle:
        img = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255, expand=False)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur * dpi / 300))
    if sigma:
        rng = np.random.default_rng(seed)
        noisy = np.asarray(img, dtype=np.float32) + rng.normal(0, sigma, (img.height, img.width))
        img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return img


def word_accuracy(truth: str, read: str) -> float:
    a, b = WORD.findall(truth), WORD.findall(read)
    prev = list(range(len(b) + 1))
    for i, wa in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, wb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (wa != wb))
        prev = cur
    return max(0.0, 1 - prev[-1] / max(1, len(a)))


def run(pages: int) -> dict:
    texts = source_texts(pages)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for d, (doc_id, text) in enumerate(texts):
            for font_name, font_file in fonts().items():
                for dpi in (150, 300):
                    for variant in VARIANTS:
                        img = render(text, dpi, font_file, variant, seed=d)
                        # Documents alternate between PNG files and image-only PDFs (half the
                        # OCR runs of doing both on every page).
                        for kind in [("png", "pdf")[d % 2]]:
                            path = Path(tmp) / f"{doc_id}-{font_name}-{dpi}-{variant}.{kind}"
                            if kind == "pdf":
                                img.save(path, resolution=dpi)
                            else:
                                img.save(path)
                            started = time.perf_counter()
                            try:
                                doc = load_file(path)
                                read, conf = doc.text, doc.ocr_pages[0].confidence
                            except LoadError:  # OCR found no text: skipped, counted as 0
                                read, conf = "", 0.0
                            seconds = time.perf_counter() - started
                            rows.append(
                                {
                                    "doc": doc_id,
                                    "font": font_name,
                                    "dpi": dpi,
                                    "variant": variant,
                                    "kind": kind,
                                    "chars": len(text),
                                    "seconds": seconds,
                                    "confidence": conf,
                                    "skipped": not read,
                                    "accuracy": word_accuracy(text, read),
                                }
                            )
                            r = rows[-1]
                            print(
                                f"{doc_id:>9} {font_name:<12} {dpi} {variant:<8} {kind} "
                                f"acc {r['accuracy']:.3f} conf {r['confidence']:5.1f} "
                                f"{seconds:5.2f} s",
                                flush=True,
                            )
    return {"rows": rows, "docs": [d for d, _ in texts]}


def summarize(rows: list[dict], docs: list[str]) -> dict:
    def agg(sel: list[dict]) -> dict:
        chars = sum(r["chars"] for r in sel)
        secs = sum(r["seconds"] for r in sel)
        return {
            "pages": len(sel),
            "skipped": sum(r["skipped"] for r in sel),
            "word_accuracy": float(np.mean([r["accuracy"] for r in sel])),
            "min_word_accuracy": float(min(r["accuracy"] for r in sel)),
            "chars_per_second": chars / secs,
            "seconds_per_page": secs / len(sel),
        }

    table = {}
    for dpi in (150, 300):
        for variant in VARIANTS:
            table[f"{dpi} {variant}"] = agg(
                [r for r in rows if (r["dpi"], r["variant"]) == (dpi, variant)]
            )
        for kind in ("png", "pdf"):
            sel = [r for r in rows if (r["dpi"], r["kind"]) == (dpi, kind) and r["variant"] in MAIN]
            table[f"{dpi} generated set, {kind}"] = agg(sel)
        table[f"{dpi} generated set"] = agg(
            [r for r in rows if r["dpi"] == dpi and r["variant"] in MAIN]
        )
    # The flag: threshold chosen on half the documents, scored on the other half.
    calib_docs = set(docs[::2])
    calib = [r for r in rows if r["doc"] in calib_docs]
    held = [r for r in rows if r["doc"] not in calib_docs]

    def scores(sel: list[dict], t: float) -> dict:
        bad = [r["accuracy"] < 0.9 for r in sel]
        flagged = [r["confidence"] < t for r in sel]
        tp = sum(b and f for b, f in zip(bad, flagged, strict=True))
        return {
            "threshold": t,
            "pages": len(sel),
            "bad_pages": sum(bad),
            "flagged": sum(flagged),
            "precision": tp / max(1, sum(flagged)),
            "recall": tp / max(1, sum(bad)),
        }

    candidates = [scores(calib, float(t)) for t in range(50, 96, 5)]

    def f1(s: dict) -> float:
        p, r = s["precision"], s["recall"]
        return 2 * p * r / (p + r) if p + r else 0.0

    best = max(candidates, key=f1)
    return {
        "table": table,
        "flag_calibration": candidates,
        "chosen_threshold": best["threshold"],
        "flag_heldout": scores(held, best["threshold"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=4, help="source documents (one page each)")
    parser.add_argument("--label", default="run")
    args = parser.parse_args()
    started = time.time()
    data = run(args.pages)
    summary = summarize(data["rows"], data["docs"])
    tesseract = subprocess.run(
        ["tesseract", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    out = {
        "command": f"benchmarks/ocr_accuracy.py --pages {args.pages} --label {args.label}",
        "commit": commit,
        "tesseract": tesseract,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        "wall_seconds": time.time() - started,
        **summary,
        "rows": data["rows"],
    }
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"ocr_accuracy-{args.label}.json"
    target.write_text(json.dumps(out, indent=1))
    for name, row in summary["table"].items():
        print(
            f"{name:<24} word accuracy {row['word_accuracy']:.3f} (min {row['min_word_accuracy']:.3f})"
            f"  {row['chars_per_second']:6.0f} chars/s  {row['seconds_per_page']:.2f} s/page"
        )
    print("threshold", summary["chosen_threshold"], "held-out", summary["flag_heldout"])
    print("wrote", target)


if __name__ == "__main__":
    main()
