"""Curation stages inside the Ray Data pipeline: density vs a bare Aho-Corasick scan, and segmentation MB/s.

Both run over the same ~10 MB of mixed zh/en paragraphs (read from ../shared/data, never copied) with the
same automata. The bare baseline turns each text into the automaton's input string and walks every
match (`for _ in automaton.iter(units)`); the pipeline is the full `huatuo-ray curate --stages density`
job on a local Ray limited to ONE CPU: read JSONL, score, filter, write kept/dropped Parquet, markers,
ledger. Ratios = bare time / time (per core). Two pipeline figures are printed:

- the density operator inside the Ray Data pipeline: the worker seconds the ``density`` operator spent on all
  units (payload deserialisation, scoring, filtering, bookkeeping, and building the automata once per
  worker), as recorded in stats.json;
- the whole job, wall clock from submission to stats.json, which adds reading and validating JSONL,
  writing Parquet, Ray Data scheduling and the end-of-run report.

A second job runs ``--stages segment`` over the same input and reports the segment operator's throughput
per core (worker seconds inside the pipeline, one CPU).

    .venv/bin/python benchmarks/bench_curate_pipeline.py [--mb 40]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

SHARED = Path(os.environ.get("HUATUO_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def paragraphs() -> list[tuple[str, str]]:
    out = []
    for name in ("fever.txt", "tianlongbabu.txt"):
        out += [("zh", line.strip()) for line in (SHARED / "corpus" / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    for path in sorted(glob.glob(str(SHARED / "en_medical/MedQuAD/*/*.xml"))):
        out += [("en", (a.text or "").strip()) for a in ET.parse(path).getroot().iter("Answer") if (a.text or "").strip()]
    text = (SHARED / "corpus/en_article_tail500.txt").read_text(encoding="utf-8")
    out += [("en", b.strip()) for b in text.split("\n\n") if b.strip()]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=40.0)
    args = ap.parse_args()
    base = paragraphs()
    docs, size = [], 0
    while size < args.mb * 1e6:
        for lang, t in base:
            docs.append((lang, t))
            size += len(t.encode())
    tmp = Path(tempfile.mkdtemp(prefix="bench_density_"))
    (tmp / "in").mkdir()
    per_file = len(docs) // 4 + 1
    for f in range(4):
        with open(tmp / "in" / f"part{f}.jsonl", "w", encoding="utf-8") as fh:
            for i, (lang, t) in enumerate(docs[f * per_file:(f + 1) * per_file]):
                fh.write(json.dumps({"id": f"{f}-{i}", "text": t, "language": lang}, ensure_ascii=False) + "\n")

    from huatuo_ray.curate.density.scorer import DensityScorer
    from huatuo_ray.recipe import Recipe, SourceConfig

    recipe = Recipe(sources=[SourceConfig(name="bench", path=str(tmp / "in"), type="web", language="detect")],
                    curate={"unit_bytes": 8 << 20})
    scorer = DensityScorer.from_config(recipe.curate.density)
    automata = scorer.automata

    t0 = time.perf_counter()
    matches = 0
    for lang, text in docs:
        units = scorer.units(text, lang)
        for _ in automata[lang].iter(units):
            matches += 1
    bare = time.perf_counter() - t0

    t0 = time.perf_counter()
    for lang, text in docs:
        scorer.score(text, lang)
    scorer_only = time.perf_counter() - t0

    import ray

    from huatuo_ray.curate.pipeline import run_curation

    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    t0 = time.perf_counter()
    stats = run_curation(recipe, tmp / "out", stages=["density"], progress_every_s=1e9).stats
    pipeline = time.perf_counter() - t0
    seg_stats = run_curation(recipe, tmp / "out_segment", stages=["segment"], progress_every_s=1e9).stats
    ray.shutdown()
    assert stats["ledger"]["records"] == len(docs)

    mb = size / 1e6
    print(f"\ntext: {mb:.1f} MB, {len(docs):,} paragraphs (zh + en), {matches:,} automaton matches")
    print(f"{'run':48s} {'seconds':>8s} {'MB/s':>7s} {'ratio vs bare':>14s}")
    secs = stats["worker_seconds"]
    for name, t in (("bare Aho-Corasick scan (1 process)", bare), ("DensityScorer.score loop (1 process)", scorer_only),
                    ("density operator inside Ray Data (1 CPU)", secs["density"]),
                    ("  (read operator, for reference)", secs["read"]),
                    ("  (write operator, for reference)", secs["write"]),
                    ("whole job, --stages density (1 CPU, wall)", pipeline)):
        print(f"{name:48s} {t:8.2f} {mb / t:7.2f} {bare / t:14.2f}")
    seg = seg_stats["worker_seconds"]["segment"]
    n_seg = seg_stats["ledger"]["kept_rows"]
    print(f"{'segment operator inside Ray Data (1 CPU)':48s} {seg:8.2f} {mb / seg:7.2f}   ({n_seg:,} segments)")


if __name__ == "__main__":
    main()
