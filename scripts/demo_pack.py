"""Sample and pack the bundled demo corpus' Q/A pairs (stand-ins for unified pairs) with configs/local.yaml.

    .venv/bin/python scripts/demo_pack.py [--output runs/demo] [--preset paper] [--set pack.max_seq_len=4096 ...]

Writes runs/demo/pairs/ (conversation Parquet per source), runs/demo/sample/ (the priority order) and
runs/demo/pack/ (the packed steps the trainer reads), and prints the pack summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from huatuo_ray.pack.demo import write_demo_pairs  # noqa: E402
from huatuo_ray.pack.packer import run_pack  # noqa: E402
from huatuo_ray.recipe import load_recipe  # noqa: E402
from huatuo_ray.sample.config import SamplerConfig  # noqa: E402
from huatuo_ray.sample.priority import run_sample  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", type=Path, default=Path("runs/demo"))
    ap.add_argument("--preset", default="paper", choices=["paper", "release"])
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    recipe = load_recipe(REPO / "configs" / "local.yaml", args.overrides)
    pairs = write_demo_pairs(REPO / "examples" / "demo_corpus", args.output / "pairs")
    sample = run_sample(SamplerConfig(preset=args.preset, seed=recipe.sample.seed, sources=pairs["sources"]),
                        args.output / "sample")
    m = run_pack(args.output / "sample", args.output / "pack", recipe.pack, engine="local",
                 fingerprint=recipe.fingerprint("pack"))
    print(json.dumps({"pairs": pairs["counts"], "ordered": sample.summary["total"],
                      **{k: m[k] for k in ("num_steps", "num_sequences", "tokens", "trained_tokens",
                                           "real_token_fraction", "samples")}}, indent=1, ensure_ascii=False))
    print(f"pack: {args.output / 'pack'}   plot: {args.output / 'pack' / m['plot']}")


if __name__ == "__main__":
    main()
