"""The sample step: the priority order over every source of training items (:mod:`huatuo_ray.sample.priority`).

Without ``sample.sources`` in the recipe the sources follow from the run: one per source type of the unified
pairs (``unify/release/by_type/<type>``, named after the type) and one per SFT source (``sft/<source>/kept``,
named after the source), K and epochs from the preset. An explicit ``sample.sources`` list wins and reads
its own paths. With ``eval.decontam.drop_contaminated``, training samples that contain an item of the recipe's
benchmarks (:mod:`huatuo_ray.benchmarks.decontam`) are left out of the order, counted with the reason; the
report per source is in ``DIR/decontam/<source>/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huatuo_ray import metrics
from huatuo_ray.errors import InputError
from huatuo_ray.job import Context, Plan, Step
from huatuo_ray.recipe import SFT_TYPE, Recipe
from huatuo_ray.sample.config import SOURCE_TYPES, SamplerConfig, SampleSource
from huatuo_ray.sample.plan import SamplePlan, plan_sample
from huatuo_ray.sample.priority import run_sample

RUNTIME = {"local_max_items", "workers", "block_rows", "sort_shuffle", "plot_windows"}  # never change the order


def derived(recipe: Recipe) -> bool:
    return not recipe.sample.sources


def unified_types(recipe: Recipe) -> list[str]:
    """Source types whose unified pairs the sampler orders (those of the corpus sources), in priority order."""
    present = {s.type for s in recipe.sources if s.type != SFT_TYPE}
    return [t for t in SOURCE_TYPES if t in present]


def sampler_config(recipe: Recipe, inputs: dict[str, Path] | None = None) -> SamplerConfig:
    """The recipe's sampler settings with its sources derived from the run (paths only when ``inputs`` is given)."""
    cfg = recipe.sample
    if not derived(recipe):
        return cfg
    sft = [s.name for s in recipe.sources if s.type == SFT_TYPE]
    clash = sorted(set(sft) & set(unified_types(recipe)))
    if clash:
        raise InputError(f"SFT source(s) {clash} have the name of a source type, which the sampler uses for the "
                         "unified pairs of that type: rename them")
    inputs = inputs or {}

    def path(step: str, *parts: str) -> str | None:
        return str(Path(inputs[step], *parts)) if step in inputs else None

    sources = [SampleSource(name=t, type=t, path=path("unify", "release", "by_type", t), optional=True)
               for t in unified_types(recipe)]
    sources += [SampleSource(name=n, type=SFT_TYPE, path=path("sft", n, "kept"), optional=True) for n in sft]
    return SamplerConfig.model_validate({**cfg.model_dump(exclude={"sources"}),
                                         "sources": [s.model_dump(exclude_none=True) for s in sources]})


def drops_contaminated(recipe: Recipe) -> bool:
    return recipe.eval.decontam.drop_contaminated and bool(recipe.eval.benchmarks)


def decontaminate(recipe: Recipe, plan: SamplePlan, out: Path, echo) -> None:
    """Mark every source's training samples that contain a benchmark item to be left out of the order."""
    from huatuo_ray.benchmarks.decontam import find_contamination, samples_to_drop
    from huatuo_ray.benchmarks.formats import load_benchmark

    benches = [load_benchmark(b) for b in recipe.eval.benchmarks]
    for s in plan.sources:
        if s.files:
            s.drop = samples_to_drop(find_contamination(benches, s.files, recipe.eval.decontam, out / s.name))
            echo(f"[sample] {s.name}: {len(s.drop):,} of {s.rows:,} samples contain a benchmark item: left out")


class SampleStep(Step):
    name = "sample"
    summary = "order every source's items by priority"
    staged = True  # in an object store: runs on a local copy of its inputs (huatuo_ray.io.staging)

    def remote_unsupported(self, ctx: Context) -> str | None:
        return None

    def upstream(self, recipe: Recipe) -> tuple[str, ...]:
        if not derived(recipe):
            return ()
        ups = ("unify",) if unified_types(recipe) else ()
        return ups + (("sft",) if any(s.type == SFT_TYPE for s in recipe.sources) else ())

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        cfg = sampler_config(recipe)
        sample = cfg.model_dump(mode="json", exclude=RUNTIME)
        if derived(recipe):  # the paths are the upstream outputs, already in the lineage
            for s in sample["sources"]:
                s.pop("path", None)
        out: dict[str, Any] = {"sample": sample}
        if drops_contaminated(recipe):
            out["eval"] = {"decontam": recipe.eval.decontam.model_dump(mode="json"),
                           "benchmarks": [b.model_dump(mode="json") for b in recipe.eval.benchmarks]}
        return out

    def behaviour_files(self, recipe: Recipe) -> dict[str, str]:
        files = {} if derived(recipe) else {
            f"sample.sources.{i}.path": s.path for i, s in enumerate(recipe.sample.sources) if s.path}
        if drops_contaminated(recipe):
            files |= {f"eval.benchmarks.{i}.path": b.path for i, b in enumerate(recipe.eval.benchmarks)}
        return files

    def plan(self, ctx: Context) -> Plan:
        plan = plan_sample(sampler_config(ctx.recipe, ctx.inputs))
        shown = ", ".join(f"{s.name} {s.items:,} x{s.epochs}" for s in plan.sources)
        return Plan(["order"], f"{plan.total:,} items ({shown}); {plan.engine}", detail=plan)

    def needs_ray(self, ctx: Context, plan: Plan) -> bool:
        return plan.detail.engine == "ray"

    def execute(self, ctx: Context, plan: Plan) -> dict[str, Any]:
        sp: SamplePlan = plan.detail
        if drops_contaminated(ctx.recipe):
            decontaminate(ctx.recipe, sp, ctx.output / "decontam", ctx.echo)
        summary = run_sample(sp, ctx.output).summary
        metrics.set_gauge("huatuo_sampler_items", summary["total"])
        return summary

    def describe(self, stats: dict[str, Any]) -> str:
        shown = ", ".join(f"{s['name']} {s['count']:,}" for s in stats["sources"])
        return f"{stats['total']:,} items ordered ({shown})"
