"""The local demo end to end on the bundled corpus: curate -> unify (a slice) -> sample -> pack -> train.

Every step is the real job with configs/local.yaml: curation through all four stages, unification of the first
``unify_segments`` segments (the rest are dropped with a reason: SmolLM2 on CPU makes about one request per second) with SmolLM2 on a local vLLM server started and stopped for the step, the
priority sampler over the unified pairs (one source per source type) plus the corpus' SFT conversations and
Q/A pairs, packing, and a few training steps of a tiny Llama with Ray Train + DeepSpeed ZeRO on 2 CPU workers.
Each step resumes or reuses what an earlier demo run finished (``overwrite`` starts from scratch).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable

import pyarrow.compute as pc
import pyarrow.parquet as pq

from huatuo_ray.recipe import Recipe, load_recipe

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = REPO_ROOT / "examples" / "demo_corpus"
UNIFIED_TYPES = ("web", "literature", "encyclopedia", "books")


def demo_recipe(overrides: list[str] | None = None) -> Recipe:
    """configs/local.yaml with its source paths made absolute (the demo runs from any directory)."""
    recipe = load_recipe(REPO_ROOT / "configs" / "local.yaml", overrides or [])
    sources = [s if os.path.isabs(s.path) else s.model_copy(update={"path": str(REPO_ROOT / s.path)})
               for s in recipe.sources]
    return recipe.model_copy(update={"sources": sources})


def unified_sources(release: Path, out: Path) -> tuple[list[dict], dict[str, int]]:
    """Split a unify release (Parquet) by the segments' source type into one sampler source each."""
    table = pq.read_table(release) if release.exists() else None
    sources, counts = [], {}
    for typ in UNIFIED_TYPES:
        part = table.filter(pc.equal(table["source_type"], typ)) if table is not None else None
        counts[f"unified-{typ}"] = 0 if part is None else part.num_rows
        if part is None or part.num_rows == 0:
            continue
        (out / f"unified-{typ}").mkdir(parents=True, exist_ok=True)
        pq.write_table(part, out / f"unified-{typ}" / "conversations.parquet")
        sources.append({"name": f"unified-{typ}", "type": typ, "path": str(out / f"unified-{typ}")})
    return sources, counts


def run_demo(output: str | Path = "runs/demo", overwrite: bool = False, unify_segments: int = 8, train_steps: int = 6,
             echo: Callable[[str], None] = print) -> dict:
    """Run the five steps into ``output``; returns a summary of each."""
    from huatuo_ray.curate.pipeline import run_curation
    from huatuo_ray.pack.demo import write_demo_pairs
    from huatuo_ray.pack.packer import run_pack
    from huatuo_ray.runtime import init_ray
    from huatuo_ray.sample.config import SamplerConfig
    from huatuo_ray.sample.priority import run_sample
    from huatuo_ray.train.trainer import run_training
    from huatuo_ray.unify.pipeline import run_unify

    output = Path(output).resolve()
    recipe = demo_recipe([f"unify.max_segments={unify_segments}", f"train.max_steps={train_steps}",
                          f"train.packed={output / 'pack'}", f"train.output={output / 'train'}",
                          "train.run_name=demo"])
    if overwrite:
        shutil.rmtree(output, ignore_errors=True)
    summary: dict = {}
    t0 = time.time()
    init_ray(recipe.ray)

    echo("[demo] 1/5 curate: density filter, segmentation, quality classifier, semantic dedup")
    led = run_curation(recipe, output / "curate").stats["ledger"]
    summary["curate"] = {"records": led["records"], "segments": led["kept_rows"], "quarantined": led["quarantined"]}
    echo(f"[demo] curate: {led['records']:,} records -> {led['kept_rows']:,} segments  ({time.time() - t0:.0f} s)")

    echo(f"[demo] 2/5 unify: the first {unify_segments} segments, SmolLM2 on a local vLLM server")
    u = run_unify(recipe, output / "curate", output / "unify").stats
    summary["unify"] = {"segments": u["segments"], "pairs": u["pairs"], "llm_errors": u["llm_errors"],
                        "units": u["units"]}
    echo(f"[demo] unify: {u['segments']:,} segments -> {u['pairs']:,} pairs  ({time.time() - t0:.0f} s)")

    echo("[demo] 3/5 sample: priority order over the unified pairs and the corpus' SFT and Q/A pairs")
    sources, counts = unified_sources(output / "unify" / "release" / "huatuogpt2.parquet", output / "pairs")
    corpus = write_demo_pairs(CORPUS, output / "pairs")
    sources += corpus["sources"]
    counts.update({k: v["pairs"] for k, v in corpus["counts"].items()})
    order = run_sample(SamplerConfig(preset="paper", seed=recipe.sample.seed, sources=sources), output / "sample")
    summary["sample"] = {"sources": counts, "ordered": order.summary["total"]}
    echo(f"[demo] sample: {order.summary['total']:,} items from {counts}")

    echo("[demo] 4/5 pack: tokenise and pack the order into training sequences")
    m = run_pack(output / "sample", output / "pack", recipe.pack, engine="local", fingerprint=recipe.fingerprint("pack"))
    summary["pack"] = {k: m[k] for k in ("num_steps", "num_sequences", "tokens", "real_token_fraction")}
    echo(f"[demo] pack: {m['num_steps']} steps of {m['num_sequences'] // max(m['num_steps'], 1)} sequences, "
         f"real-token fraction {m['real_token_fraction']:.3f}  ({time.time() - t0:.0f} s)")

    echo(f"[demo] 5/5 train: {train_steps} steps, Ray Train + DeepSpeed ZeRO-{recipe.train.zero_stage} on "
         f"{recipe.train.num_workers} CPU workers")
    result = run_training(recipe.train)
    s = result.summary
    summary["train"] = {k: s[k] for k in ("steps", "first_loss", "last_loss", "model", "loss_plot")}
    summary["elapsed_s"] = round(time.time() - t0, 1)
    echo(f"[demo] train: {s['steps']} steps, loss {s['first_loss']:.3f} -> {s['last_loss']:.3f}; "
         f"model {s['model']}")
    return summary
