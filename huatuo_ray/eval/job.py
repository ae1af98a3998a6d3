"""The eval step: the trained model next to its base model (and any models the recipe lists) on the benchmarks.

After training, the models are the train step's export (``trained``) and its base (``base``: ``train.model.path``,
or for a model trained from a random start the start itself, which the trainer exports beside the model), plus
``eval.models``; with ``eval.trained: false`` only ``eval.models`` (or, without those, the recipe's ``llm`` as
configured, e.g. an endpoint). Each model answers every benchmark item through the LLM layer
(:func:`~huatuo_ray.eval.evaluate.run_eval`); ``decontam/`` reports the benchmark items the run's training data
contains (the sampler's own inputs); ``judge/`` holds pairwise verdicts when ``eval.judge.questions`` is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huatuo_ray import models as model_files
from huatuo_ray.errors import Incomplete
from huatuo_ray.eval.config import EvalConfig
from huatuo_ray.eval.evaluate import load_benchmarks, run_eval
from huatuo_ray.job import Context, Plan, Step, counts
from huatuo_ray.llm.backends import model_identity
from huatuo_ray.recipe import Recipe

RUNTIME = {"plot", "loglik_device"}


def models_of(recipe: Recipe, ctx: Context | None = None) -> dict[str, str]:
    """name -> model directory or hub id; the trained model and its base come from the train step's stats."""
    cfg: EvalConfig = recipe.eval
    out: dict[str, str] = {}
    if cfg.trained:
        if ctx is not None:
            stats = json.loads((ctx.inputs["train"] / "stats.json").read_text(encoding="utf-8"))
            out["trained"], out["base"] = stats["model"], stats["base_model"]
        else:  # before training: named by what the train step will export
            out["trained"] = "(the train step's export)"
            out["base"] = recipe.train.model.path or "(the train step's initial model)"
    return out | dict(cfg.models)


class EvalStep(Step):
    name = "eval"
    summary = "evaluate the models on the benchmarks"

    staged = True  # in an object store: loads a local copy of the trained model (huatuo_ray.io.staging)

    def enabled(self, recipe: Recipe) -> bool:
        return bool(recipe.eval.benchmarks)

    def remote_unsupported(self, ctx: Context) -> str | None:
        return None

    def stage_through(self, recipe: Recipe) -> tuple[str, ...]:
        return ("unify", "sft")  # decontamination reads the files the sampler's stats name

    def upstream(self, recipe: Recipe) -> tuple[str, ...]:
        return ("train", "sample") if recipe.eval.trained else ()

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        cfg = recipe.eval.model_dump(mode="json", exclude=RUNTIME)
        return {"eval": cfg, "llm": model_identity(recipe.llm)["settings"], "models": models_of(recipe)}

    def behaviour_files(self, recipe: Recipe) -> dict[str, str]:
        files = {f"eval.benchmarks.{i}.path": b.path for i, b in enumerate(recipe.eval.benchmarks)
                 if Path(b.path).expanduser().exists()}
        for name, m in recipe.eval.models.items():
            files |= model_files.content_files(m, f"eval.models.{name}")
        if recipe.eval.judge.questions:
            files["eval.judge.questions"] = recipe.eval.judge.questions
        return files

    def plan(self, ctx: Context) -> Plan:
        benches = load_benchmarks(ctx.recipe.eval)
        names = list(models_of(ctx.recipe, ctx)) or ["the recipe's llm"]
        n = sum(len(b.items) for b in benches)
        return Plan(["eval"], f"{n:,} items of {', '.join(b.name for b in benches)} x {len(names)} models "
                    f"({', '.join(names)})", detail=benches)

    def needs_ray(self, ctx: Context, plan: Plan) -> bool:
        return ctx.recipe.llm.backend == "vllm_engine"

    def problems(self, recipe: Recipe) -> list[str]:
        out = [f"eval.benchmarks.{i}.path = {b.path!r}: no such file or directory"
               for i, b in enumerate(recipe.eval.benchmarks) if not Path(b.path).expanduser().exists()]
        for name, m in recipe.eval.models.items():
            out += [p for p in [model_files.problem(m, f"eval.models.{name}")] if p]
        return out

    def notes(self, recipe: Recipe) -> list[str]:
        how = "a local vLLM server per model" if recipe.llm.backend != "vllm_engine" else "the ray.data.llm engine"
        return [f"models: {', '.join(f'{k} = {v}' for k, v in models_of(recipe).items()) or 'the recipe llm'}; "
                f"served by {how}"]

    def execute(self, ctx: Context, plan: Plan) -> dict[str, Any]:
        from huatuo_ray.benchmarks.decontam import find_contamination

        cfg, recipe = ctx.recipe.eval, ctx.recipe
        named = models_of(recipe, ctx)
        stats = run_eval(recipe.llm, cfg, ctx.output, models=named or None, cache_dir=ctx.llm_cache)
        if cfg.trained:  # which benchmark items the training data holds (the sampler's inputs)
            sample = json.loads((ctx.inputs["sample"] / "stats.json").read_text(encoding="utf-8"))
            report = find_contamination(plan.detail, [s["path"] for s in sample["sources"] if s["items"]],
                                        cfg.decontam, ctx.output / "decontam")
            stats["decontam"] = {b: {k: v[k] for k in ("items", "contaminated", "too_short")}
                                 for b, v in report["benchmarks"].items()}
        if cfg.judge.questions:
            from huatuo_ray.eval.judge import run_judge

            stats["judge"] = run_judge(recipe.llm, cfg.judge, named, ctx.output / "judge", cache_dir=ctx.llm_cache)
        answered = unanswered = errored = 0
        for per_model in stats["results"].values():
            for r in per_model.values():
                answered, unanswered, errored = answered + r["answered"], unanswered + r["unanswered"], \
                    errored + r["errored"]
        stats["counts"] = counts(answered, unanswered, errored, item="answers",
                                 dropped_by_reason={"the reply names no option": unanswered} if unanswered else {},
                                 quarantined_by_reason={"llm error": errored} if errored else {})
        if errored:
            raise Incomplete(f"eval: {errored:,} requests failed; rerun the same command to retry them (answered "
                             "requests come from the cache)")
        return stats

    def describe(self, stats: dict[str, Any]) -> str:
        parts = [f"{bench} {model} {r['accuracy']:.3f}" for bench, per_model in stats["results"].items()
                 for model, r in per_model.items()]
        return "accuracy: " + "; ".join(parts) + f" (results: {stats['output']}/results.json)"
