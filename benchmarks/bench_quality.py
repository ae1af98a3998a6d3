"""The quality stage inside the Ray Data pipeline vs bare fastText ``predict`` on the same lines.

A classifier is trained on the packaged seed set; N segments of real zh + en text (../shared/data) are
classified twice:

- bare: in one process, ``model.predict([tokenize(t) for t in texts], k=-1)`` (the tokenisation fastText
  needs for Chinese, then all labels' probabilities, exactly what the stage computes); predict alone on
  pre-tokenised lines is printed for reference;
- pipeline: ``huatuo-ray curate --stages quality`` on a local Ray limited to ONE CPU; the quality operator's
  worker seconds from stats.json (payload (de)serialisation, tokenisation, predict, keep/drop bookkeeping).

Ratio = bare seconds / pipeline seconds (target >= 0.80).

    .venv/bin/python benchmarks/bench_quality.py [--n 200000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _segments import segments


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    args = ap.parse_args()
    import fasttext

    from huatuo_ray.curate.quality.model import train_classifier
    from huatuo_ray.curate.quality.tokens import tokenize

    tmp = Path(tempfile.mkdtemp(prefix="bench_quality_"))
    train_classifier("builtin:seed", tmp / "model.bin")
    model = fasttext.load_model(str(tmp / "model.bin"))
    docs = segments(args.n)
    (tmp / "in").mkdir()
    with open(tmp / "in" / "segments.jsonl", "w", encoding="utf-8") as fh:
        for i, (lang, t) in enumerate(docs):
            fh.write(json.dumps({"id": f"s{i}", "text": t, "language": lang}, ensure_ascii=False) + "\n")
    texts = [t for _, t in docs]

    t0 = time.perf_counter()
    model.predict([tokenize(t) for t in texts], k=-1)
    bare = time.perf_counter() - t0
    lines = [tokenize(t) for t in texts]
    t0 = time.perf_counter()
    model.predict(lines, k=-1)
    predict_only = time.perf_counter() - t0

    import ray

    from huatuo_ray.curate.pipeline import run_curation
    from huatuo_ray.recipe import Recipe, SourceConfig

    recipe = Recipe(sources=[SourceConfig(name="bench", path=str(tmp / "in"), type="web")],
                    curate={"stages": ["quality"], "unit_bytes": 8 << 20, "quality": {"model": str(tmp / "model.bin")}})
    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    t0 = time.perf_counter()
    stats = run_curation(recipe, tmp / "out", progress_every_s=1e9).stats
    wall = time.perf_counter() - t0
    ray.shutdown()
    assert stats["ledger"]["records"] == len(docs)
    stage = stats["worker_seconds"]["quality"]
    print(f"\n{len(docs):,} segments, {sum(map(len, texts)) / 1e6:.1f} M characters; "
          f"dropped {stats['ledger']['stages'][0]['dropped']:,}")
    print(f"{'run':52s} {'seconds':>8s} {'lines/s':>9s} {'ratio vs bare':>14s}")
    for name, t in (("bare tokenize + fastText predict (1 process)", bare),
                    ("  (predict only, pre-tokenised lines)", predict_only),
                    ("quality operator inside Ray Data (1 CPU)", stage),
                    ("whole job, --stages quality (1 CPU, wall)", wall)):
        print(f"{name:52s} {t:8.2f} {len(docs) / t:9.0f} {bare / t:14.2f}")


if __name__ == "__main__":
    main()
