"""The evaluation job: benchmarks x models -> predictions, ``results.json``, a table and a plot.

``huatuo-ray eval`` and the run's eval step call :func:`run_eval`; it needs no CLI. Example against any
OpenAI-compatible server (``huatuo-ray llm serve`` gives one on this machine)::

    from pathlib import Path
    from huatuo_ray.eval.config import EvalConfig
    from huatuo_ray.eval.evaluate import run_eval
    from huatuo_ray.llm import LLMConfig

    llm = LLMConfig(backend="endpoint", endpoint={"base_url": "http://127.0.0.1:8000/v1", "model": "local"})
    cfg = EvalConfig(benchmarks=[{"path": "../shared/data/benchmarks/cmmlu/test", "max_items": 40}])
    stats = run_eval(llm, cfg, Path("/tmp/eval"))
    print(stats["results"]["cmmlu"])

In a run: ``run_eval(recipe.llm, recipe.eval, out, models={"trained": export_dir, "base": base_model})``: each
directory is served like ``recipe.llm`` with that model (a local vLLM server started and stopped per model, or
the ray.data.llm engine; Ray must be initialised for ``vllm_engine``). Without ``models``, ``eval.models`` is
used, and without those the recipe's ``llm`` as configured (e.g. an endpoint). Requests go through the
project's request cache (``cache_dir``, default ``llm.cache_dir`` or ``OUTPUT/_llm_cache``): a rerun sends
only what failed before.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from huatuo_ray.benchmarks.formats import load_benchmark
from huatuo_ray.benchmarks.items import Benchmark
from huatuo_ray.errors import InputError, SetupError
from huatuo_ray.eval.config import EvalConfig
from huatuo_ray.eval.output import write_predictions, write_results
from huatuo_ray.eval.prompt import prompt_for, render
from huatuo_ray.eval.report import plot_accuracy, results_table
from huatuo_ray.eval.score import Prediction, predict, summarise
from huatuo_ray.eval.targets import ModelSpec, local_weights, resolve_models
from huatuo_ray.io.storage import location
from huatuo_ray.llm.backends import model_name, run_requests
from huatuo_ray.llm.config import LLMConfig


def load_benchmarks(cfg: EvalConfig) -> list[Benchmark]:
    if not cfg.benchmarks:
        raise SetupError("eval.benchmarks is empty: give at least one benchmark (--benchmark PATH)")
    benches = [load_benchmark(spec) for spec in cfg.benchmarks]
    names = [b.name for b in benches]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"two benchmarks are both named {dup}: give each a name (eval.benchmarks[i].name)")
    return benches


def run_eval(recipe_llm: LLMConfig, cfg: EvalConfig, output: str | Path,
             models: Mapping[str, ModelSpec] | None = None, cache_dir: str | Path | None = None,
             log_dir: str | Path | None = None, show: bool = True) -> dict[str, Any]:
    """Evaluate every model on every benchmark; writes ``OUTPUT/results.json``, ``OUTPUT/predictions/``,
    ``OUTPUT/plots/accuracy.png`` and returns the results (also printed as a table when ``show``)."""
    started = time.time()
    output = Path(output)
    benches = load_benchmarks(cfg)
    targets = resolve_models(recipe_llm, models if models is not None else cfg.models)
    cache = location(cache_dir or recipe_llm.cache_dir or output / "_llm_cache")  # a folder or a prefix
    work = [(b, item, render(item, prompt_for(cfg, b.language))) for b in benches for item in b.items]
    requests = [messages for _, _, messages in work]
    results: dict[str, dict[str, Any]] = {b.name: {} for b in benches}
    model_info: dict[str, Any] = {}
    for name, llm in targets.items():
        replies, served = run_requests(llm, requests, cfg.sampling, cache, log_dir or output)
        preds = predict([item for _, item, _ in work], replies)
        info = {"backend": llm.backend, "model": served or model_name(llm),
                "requests": {"total": len(replies), "cached": sum(r.cached for r in replies),
                             "errors": sum(not r.ok for r in replies)}}
        if cfg.loglik:
            info["loglik"] = _add_loglik(llm, cfg, work, preds)
        model_info[name] = info
        start = 0
        for b in benches:
            part = preds[start:start + len(b.items)]
            start += len(b.items)
            results[b.name][name] = summarise(part, f"{b.name} / {name}")
            write_predictions(output, b.name, name, part)
    out = {
        "job": "eval",
        "output": str(output),
        "benchmarks": {b.name: {"format": b.format, "path": b.path, "language": b.language, "items": len(b.items),
                                "skipped": b.skipped, "subjects": b.subjects} for b in benches},
        "models": model_info,
        "sampling": cfg.sampling.model_dump(),
        "results": results,
        "elapsed_s": round(time.time() - started, 3),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if cfg.plot:
        out["plot"] = plot_accuracy(out, output / "plots" / "accuracy.png")
    write_results(output, out)
    if show:
        print(results_table(out), flush=True)
    return out


def _add_loglik(llm: LLMConfig, cfg: EvalConfig, work: list, preds: list[Prediction]) -> dict[str, Any]:
    """Fill ``loglik_pred`` for single-answer items when the model's weights are local; say why not otherwise."""
    path, why = local_weights(llm)
    if path is None:
        return {"scored": 0, "reason": why}
    from huatuo_ray.eval.loglik import LoglikScorer

    scorer = LoglikScorer(path, cfg.loglik_device)
    n = 0
    for (bench, item, messages), p in zip(work, preds):
        p.loglik_pred = scorer.predict(item, messages, bench.language)
        n += p.loglik_pred is not None
    return {"scored": n, "weights": str(path)}
