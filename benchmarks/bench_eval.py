"""Evaluation items per second through ``run_eval`` against a bare asyncio OpenAI-client loop, same server, same prompts.

Both paths talk to one OpenAI-compatible server (the local vLLM server with SmolLM2-135M-Instruct, started here
unless --base-url is given), at the same concurrency:

  bare      ``openai.AsyncOpenAI`` with a semaphore of --concurrency, sending exactly the chat messages and
            sampling parameters ``run_eval`` sends (rendered by the same prompt code), discarding the replies
  pipeline  ``run_eval`` with ``llm.backend=endpoint``: benchmark loading, prompts, the request cache (fresh each
            run, so every request is sent), retries, answer extraction, scoring, predictions, results.json, plot

Items are MedQA-format questions (the own test items, cycled with a case number so no two prompts repeat).
Order: a warm-up pipeline run (not timed), then --runs times bare then pipeline; the ratio is pipeline items/s
over bare items/s on the medians (target >= 0.9). Greedy decoding: both paths generate the same tokens.
Do not time on a busy machine.

Usage: python benchmarks/bench_eval.py [--items 256] [--concurrency 8] [--max-tokens 64] [--runs 3]
                                       [--base-url http://127.0.0.1:8000/v1 --model local] [--work /tmp/bench_eval]
Smoke test: python benchmarks/bench_eval.py --items 8 --runs 1 --max-tokens 8
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


def make_items(work: Path, n: int) -> Path:
    src = (REPO / "tests/eval/data/medqa_own.jsonl").read_text(encoding="utf-8").splitlines()
    rows = []
    for k in range(n):
        r = json.loads(src[k % len(src)])
        r["question"] = f"{r['question']} (case {k})"
        rows.append(json.dumps(r))
    path = work / "items.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def configs(base_url: str, model: str, concurrency: int, max_tokens: int, items: Path):
    from huatuo_ray.eval.config import EvalConfig
    from huatuo_ray.llm.config import LLMConfig

    llm = LLMConfig(backend="endpoint", endpoint={"base_url": base_url, "model": model, "concurrency": concurrency,
                                                  "timeout_s": 300})
    cfg = EvalConfig(benchmarks=[{"path": str(items)}], plot=True,
                     sampling={"temperature": 0, "top_p": 1, "max_tokens": max_tokens, "seed": 0})
    return llm, cfg


def run_pipeline(llm, cfg, out: Path) -> tuple[int, float]:
    from huatuo_ray.eval.evaluate import run_eval

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    stats = run_eval(llm, cfg, out, show=False)
    dt = time.perf_counter() - t0
    return stats["models"][next(iter(stats["models"]))]["requests"]["total"], dt


def prompts(cfg) -> list[list[dict]]:
    from huatuo_ray.benchmarks.formats import load_benchmark
    from huatuo_ray.eval.prompt import prompt_for, render

    b = load_benchmark(cfg.benchmarks[0])
    return [render(it, prompt_for(cfg, b.language)) for it in b.items]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=64)
    server_args(ap, "/tmp/bench_eval")
    a = ap.parse_args()

    from huatuo_ray.llm.client import sampling_params

    with server_url(a.base_url, a.work) as base_url:
        llm, cfg = configs(base_url, a.model, a.concurrency, a.max_tokens, make_items(a.work, a.items))
        sampling = sampling_params(cfg.sampling)
        requests = [{"model": a.model, "messages": m, "sampling": sampling} for m in prompts(cfg)]
        run_pipeline(llm, cfg, a.work / "out")  # warm-up
        results = []
        for _ in range(a.runs):
            dt_bare = asyncio.run(bare(base_url, requests, a.concurrency))
            n, dt_pipe = run_pipeline(llm, cfg, a.work / "out")
            results.append({"bare_items_s": len(requests) / dt_bare, "pipeline_items_s": n / dt_pipe,
                            "items": n, "bare_s": round(dt_bare, 2), "pipeline_s": round(dt_pipe, 2)})
            print(json.dumps(results[-1]), flush=True)
        b = statistics.median(r["bare_items_s"] for r in results)
        p = statistics.median(r["pipeline_items_s"] for r in results)
        print(json.dumps({"items": a.items, "concurrency": a.concurrency, "max_tokens": a.max_tokens,
                          "bare_items_s": round(b, 3), "pipeline_items_s": round(p, 3), "ratio": round(p / b, 3)}))


if __name__ == "__main__":
    main()
