"""The pack step: the sampled order tokenized and packed, in order, into step-major sequences (:mod:`.packer`)."""

from __future__ import annotations

from typing import Any

from huatuo_ray import metrics, models
from huatuo_ray.job import Context, Plan, Step
from huatuo_ray.pack.packer import plan_pack, run_pack
from huatuo_ray.pack.tokenize import LOCAL_TOKENIZER
from huatuo_ray.recipe import Recipe

RUNTIME = {"local_max_items", "tokenize_batch"}  # where and in what batches: the same tokens either way


class PackStep(Step):
    name = "pack"
    summary = "tokenize and pack the order into training sequences"

    staged = True  # in an object store: tokenizes a local copy of the order (huatuo_ray.io.staging)

    def upstream(self, recipe: Recipe) -> tuple[str, ...]:
        return ("sample",)

    def remote_unsupported(self, ctx: Context) -> str | None:
        return None

    def stage_through(self, recipe: Recipe) -> tuple[str, ...]:
        return ("unify", "sft")  # the conversation files the sampler's stats name

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {"pack": recipe.pack.model_dump(mode="json", exclude=RUNTIME)}

    def behaviour_files(self, recipe: Recipe) -> dict[str, str]:
        return models.content_files(recipe.pack.tokenizer, "pack.tokenizer")

    def plan(self, ctx: Context) -> Plan:
        sample, units, _ = plan_pack(ctx.inputs["sample"], ctx.recipe.pack)
        total, cfg = int(sample["total"]), ctx.recipe.pack
        engine = "local" if total <= cfg.local_max_items else "ray"
        return Plan(["pack"], f"{total:,} ordered items, {len(units):,} conversation units; {cfg.max_seq_len}-token "
                    f"sequences, {cfg.global_batch_size} per step; {engine}", detail=engine)

    def needs_ray(self, ctx: Context, plan: Plan) -> bool:
        return plan.detail == "ray"

    def problems(self, recipe: Recipe) -> list[str]:
        name = recipe.pack.tokenizer
        if name == LOCAL_TOKENIZER:
            return []
        p = models.problem(name, "pack.tokenizer", "It must be the tokenizer of train.model.")
        return [p] if p else []

    def execute(self, ctx: Context, plan: Plan) -> dict[str, Any]:
        manifest = run_pack(ctx.inputs["sample"], ctx.output, ctx.recipe.pack, engine=plan.detail)
        metrics.set_gauge("huatuo_packed_tokens", manifest["tokens"])
        return manifest

    def describe(self, stats: dict[str, Any]) -> str:
        s = stats["samples"]
        return (f"{s['total']:,} samples -> {stats['num_steps']:,} steps of {stats['global_batch_size']} x "
                f"{stats['max_seq_len']} tokens ({s['packed']:,} packed, {s['truncated']:,} truncated, "
                f"{s['dropped']:,} dropped); real-token fraction {stats['real_token_fraction']:.3f}")
