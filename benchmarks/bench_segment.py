"""Throughput of SegmentStage.process, in MB/s of UTF-8 input text, one process, one core.

Corpora are read in place from /work/shared/data (nothing is copied into the repository) and
repeated until they reach ``--mb`` megabytes:

  zh-fever     /work/shared/data/corpus/fever.txt, one document per non-empty line (paragraph)
  zh-fever-20  the same lines grouped 20 per document (long documents: many windows each)
  en-medquad   MedQuAD answers (/work/shared/data/en_medical/MedQuAD/**/*.xml), one document each
  en-article   /work/shared/data/corpus/en_article_tail500.txt, one document per blank-line block

Usage: python benchmarks/bench_segment.py [--mb 10] [--runs 3] [--max-chars 512] [--data DIR]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import time
import xml.etree.ElementTree as ET

from huatuo_ray.curate.segment.config import SegmentConfig
from huatuo_ray.curate.segment.stage import SegmentStage

DATA = "/work/shared/data"


def zh_fever(data: str) -> list[str]:
    with open(os.path.join(data, "corpus", "fever.txt"), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def zh_fever_long(data: str) -> list[str]:
    lines = zh_fever(data)
    return ["\n".join(lines[i : i + 20]) for i in range(0, len(lines), 20)]


def en_medquad(data: str) -> list[str]:
    out = []
    for path in sorted(glob.glob(os.path.join(data, "en_medical", "MedQuAD", "**", "*.xml"), recursive=True)):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            continue
        out += [a.text.strip() for a in root.iter("Answer") if a.text and a.text.strip()]
    return out


def en_article(data: str) -> list[str]:
    with open(os.path.join(data, "corpus", "en_article_tail500.txt"), encoding="utf-8") as f:
        return [b.strip() for b in re.split(r"\n\s*\n", f.read()) if b.strip()]


def make_docs(texts: list[str], lang: str, target_bytes: int) -> tuple[list[dict], int]:
    docs, total, i = [], 0, 0
    while total < target_bytes and texts:
        t = texts[i % len(texts)]
        docs.append(
            {"id": f"{lang}-{i}", "text": t, "source": "bench", "source_type": "web", "language": lang, "path": "-"}
        )
        total += len(t.encode("utf-8"))
        i += 1
    return docs, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=10.0, help="input size per corpus, MB of UTF-8 text")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per corpus (best is reported)")
    ap.add_argument("--max-chars", type=int, default=SegmentConfig().max_chars)
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args()

    stage = SegmentStage(SegmentConfig(max_chars=args.max_chars))
    stage.setup()
    corpora = [
        ("zh-fever", "zh", zh_fever),
        ("zh-fever-20", "zh", zh_fever_long),
        ("en-medquad", "en", en_medquad),
        ("en-article", "en", en_article),
    ]
    print(f"SegmentStage.process, max_chars={args.max_chars}, best of {args.runs} runs, 1 process")
    header = ("corpus", "docs", "MB", "segments", "seg/doc", "clause", "hard", "s", "MB/s")
    print("{:<12} {:>8} {:>7} {:>9} {:>7} {:>7} {:>6} {:>7} {:>7}".format(*header))
    for name, lang, load in corpora:
        try:
            texts = load(args.data)
        except OSError as e:
            print(f"{name:<12} skipped: {e}")
            continue
        docs, nbytes = make_docs(texts, lang, int(args.mb * 1e6))
        best, c = float("inf"), {}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            out = stage.process(docs)
            best = min(best, time.perf_counter() - t0)
            c = out.counters
            out = None  # free before the next run
        print(
            f"{name:<12} {len(docs):>8} {nbytes / 1e6:>7.2f} {c['segments']:>9} {c['segments'] / len(docs):>7.2f} "
            f"{c['clause_splits']:>7} {c['hard_splits']:>6} {best:>7.3f} {nbytes / 1e6 / best:>7.1f}"
        )


if __name__ == "__main__":
    main()
