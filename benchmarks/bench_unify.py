"""Requests per second of the unify pipeline against a bare asyncio OpenAI-client script, same server, same concurrency.

Both paths talk to one local vLLM server (SmolLM2-135M-Instruct, started here unless --base-url is given):

  bare      an asyncio script with ``openai.AsyncOpenAI`` and a semaphore of --concurrency, replaying exactly the
            requests (messages and sampling parameters) the pipeline made in its warm-up run
  pipeline  ``run_unify`` on a local Ray: Ray Data actor pool (--actors actors x concurrency/actors requests each),
            two passes, checks, regeneration, request cache (fresh, so every request is sent), writes, ledger, release

Order: pipeline warm-up (collects the requests; not timed), bare, pipeline, repeated --runs times; the ratio is
pipeline req/s / bare req/s on the median of the runs (target >= 0.85). Sampling uses per-request seeds, so both
paths generate the same tokens. Pipeline time is the whole ``run_unify`` call (Ray Data start-up included; Ray
itself and the server are started before timing): use enough --segments to amortise it.

Usage: python benchmarks/bench_unify.py [--segments 256] [--concurrency 8] [--actors 2] [--runs 3]
                                        [--base-url http://127.0.0.1:8000/v1 --model local] [--work /tmp/bench_unify]
Smoke test: python benchmarks/bench_unify.py --segments 8 --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _openai import bare, server_args, server_url  # noqa: E402


def make_input(work: Path, segments: int, unit_size: int) -> Path:
    from tests.unify.helpers import make_curated, medquad_texts

    texts = medquad_texts(120)
    seg = [f"{texts[i % len(texts)]} (case {i})" for i in range(segments)]
    units = {f"u{k:04d}": seg[i:i + unit_size] for k, i in enumerate(range(0, segments, unit_size))}
    return make_curated(work / "curated", units)


def recipe_for(base_url: str, model: str, concurrency: int, actors: int, cache: Path):
    from huatuo_ray.recipe import load_recipe

    return load_recipe(REPO / "configs/local.yaml", [
        "llm.backend=endpoint", f"llm.endpoint.base_url={base_url}", f"llm.endpoint.model={model}",
        f"llm.endpoint.concurrency={max(1, concurrency // actors)}", f"unify.actors={actors}",
        "llm.endpoint.timeout_s=300", f"llm.cache_dir={cache}",
        "unify.question_sampling.max_tokens=32", "unify.answer_sampling.max_tokens=64"])


def run_pipeline(recipe, curated: Path, out: Path) -> tuple[int, float]:
    from huatuo_ray.unify.pipeline import run_unify

    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(recipe.llm.cache_dir, ignore_errors=True)
    t0 = time.perf_counter()
    stats = run_unify(recipe, curated, out).stats
    return stats["requests"]["sent"], time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=int, default=256)
    ap.add_argument("--unit-size", type=int, default=64, help="Segments per work unit.")
    ap.add_argument("--actors", type=int, default=2)
    server_args(ap, "/tmp/bench_unify")
    a = ap.parse_args()

    import ray

    from huatuo_ray.llm.cache import RequestCache

    with server_url(a.base_url, a.work) as base_url:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            curated = make_input(a.work, a.segments, a.unit_size)
            recipe = recipe_for(base_url, a.model, a.concurrency, a.actors, a.work / "cache")
            run_pipeline(recipe, curated, a.work / "out")  # warm-up; its cache holds the exact requests
            requests = list(RequestCache(a.work / "cache").entries())
            results = []
            for i in range(a.runs):
                dt_bare = asyncio.run(bare(base_url, requests, a.concurrency))
                sent, dt_pipe = run_pipeline(recipe, curated, a.work / "out")
                results.append({"bare_rps": len(requests) / dt_bare, "pipeline_rps": sent / dt_pipe,
                                "bare_requests": len(requests), "pipeline_requests": sent,
                                "bare_s": round(dt_bare, 2), "pipeline_s": round(dt_pipe, 2)})
                print(json.dumps(results[-1]), flush=True)
            bare_rps = statistics.median(r["bare_rps"] for r in results)
            pipe_rps = statistics.median(r["pipeline_rps"] for r in results)
            print(f"segments {a.segments}, concurrency {a.concurrency} ({a.actors} actors): bare {bare_rps:.2f} req/s, "
                  f"pipeline {pipe_rps:.2f} req/s, ratio {pipe_rps / bare_rps:.3f} (target >= 0.85)")
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
