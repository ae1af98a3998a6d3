"""The curate step: the recipe's corpus sources through the curation stages (:mod:`huatuo_ray.curate.pipeline`)."""

from __future__ import annotations

from typing import Any

from huatuo_ray.curate import registry
from huatuo_ray.curate.pipeline import (
    STEP,
    corpus_sources,
    plan_curation,
    run_curation,
    units_done,
)
from huatuo_ray.io.units import describe_units, missing_sources
from huatuo_ray.job import Ask, Context, Plan, Step, counts
from huatuo_ray.ledger import Ledger
from huatuo_ray.recipe import Recipe


class CurateStep(Step):
    name = STEP
    summary = "curate the corpus"

    def enabled(self, recipe: Recipe) -> bool:
        return bool(corpus_sources(recipe))

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        # resources and part_bytes change where and in what pieces the work runs, not what it writes
        return {"sources": [s.model_dump(mode="json") for s in corpus_sources(recipe)],
                "curate": recipe.curate.model_dump(mode="json", exclude={"resources", "part_bytes"})}

    def behaviour_files(self, recipe: Recipe) -> dict[str, str]:
        return registry.behaviour_files(recipe.curate)

    def plan(self, ctx: Context) -> Plan:
        units = plan_curation(ctx.recipe)
        line, files = describe_units(corpus_sources(ctx.recipe), units)
        stages = ",".join(ctx.recipe.curate.stages) or "no stages"
        return Plan([u.unit_id for u in units], f"{line}; stages {stages}", detail=units, inputs=files)

    def units_done(self, ctx: Context, plan: Plan) -> int:
        return units_done(ctx.recipe, ctx.output, plan.units)

    def problems(self, recipe: Recipe) -> list[str]:
        return missing_sources(corpus_sources(recipe)) + registry.problems(recipe.curate)

    def remote_unsupported(self, ctx: Context) -> str | None:
        return None  # sources, units, markers, the dedup work files and stats all go through huatuo_ray.io.storage

    def resources(self, recipe: Recipe) -> list[Ask]:
        asks = []
        for name, rt in recipe.curate.resources.items():
            if rt.actors:
                asks.append(Ask(f"{name} actors", rt.num_cpus, rt.num_gpus, rt.actors[1], rt.actors[0]))
            elif rt.num_gpus:
                asks.append(Ask(f"{name} tasks", rt.num_cpus, rt.num_gpus))
        return asks

    def execute(self, ctx: Context, plan: Plan) -> dict[str, Any]:
        stats = run_curation(ctx.recipe, ctx.output).stats
        led = stats["ledger"]
        doc_reasons: dict[str, int] = {}
        for s in Ledger.from_dict(led).document_stages():
            s = s.to_dict()
            for r, n in s["dropped_by_reason"].items():
                doc_reasons[f"{s['name']}: {r}"] = doc_reasons.get(f"{s['name']}: {r}", 0) + n
        stats["counts"] = counts(led["kept_documents"], led["dropped_documents"], led["quarantined"],
                                 out=led["kept_rows"], dropped_by_reason=doc_reasons,
                                 quarantined_by_reason=led["quarantined_by_reason"], item="documents")
        return stats

    def describe(self, stats: dict[str, Any]) -> str:
        c = stats["counts"]
        return (f"{c['in']:,} documents -> {c['kept']:,} kept ({c['out']:,} segments), {c['dropped']:,} dropped, "
                f"{c['quarantined']:,} quarantined")
