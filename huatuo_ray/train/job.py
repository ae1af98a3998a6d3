"""The train step: Ray Train + DeepSpeed on the packed stream (:mod:`huatuo_ray.train.trainer`).

Its output is the training run directory ``<run.dir>/train/<train.run_name>`` (Ray Train's storage path is the
folder above it). A run made on another packed stream, or with other learning settings (``max_steps``
included: it sets the learning-rate schedule), is refused: a new ``train.run_name`` starts a new run.
"""

from __future__ import annotations

from typing import Any

from huatuo_ray import models
from huatuo_ray.job import Ask, Context, Plan, Step, counts
from huatuo_ray.recipe import Recipe
from huatuo_ray.train.isolation import for_recipe
from huatuo_ray.train.loop import INIT_MODEL
from huatuo_ray.train.node_files import LOGS, RUN_FILES, RemoteRun
from huatuo_ray.train.trainer import check_pack, learning_settings, run_training


CHECKPOINT_FILES = ("checkpoint_*", "checkpoint_manager_snapshot.json")  # Ray Train's, in its storage path


class TrainStep(Step):
    name = "train"
    summary = "train with Ray Train + DeepSpeed ZeRO"

    staged = True  # in an object store: trains on a local copy of the pack (huatuo_ray.io.staging)

    def remote_unsupported(self, ctx: Context) -> str | None:
        return None

    def stage_skip(self, recipe: Recipe) -> tuple[str, ...]:
        return CHECKPOINT_FILES  # Ray Train writes them to train.checkpoint_storage (the bucket) itself

    def upstream(self, recipe: Recipe) -> tuple[str, ...]:
        return ("pack",)

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {"train": learning_settings(recipe.train)}

    def behaviour_files(self, recipe: Recipe) -> dict[str, str]:
        m = recipe.train.model
        return models.content_files(m.path, "train.model.path") | models.content_files(m.tokenizer,
                                                                                        "train.model.tokenizer")

    def plan(self, ctx: Context) -> Plan:
        from huatuo_ray.io.packed import PackedReader

        reader = PackedReader(ctx.inputs["pack"])
        cfg = ctx.recipe.train
        check_pack(cfg, reader)
        steps = min(reader.num_steps, cfg.max_steps or reader.num_steps)
        return Plan(["steps"], f"{ctx.inputs['pack']}: {reader.num_steps:,} steps of {reader.global_batch_size} x "
                    f"{reader.max_seq_len} tokens; training {steps:,} on {cfg.num_workers} workers", detail=reader)

    def problems(self, recipe: Recipe) -> list[str]:
        t, p, out = recipe.train, recipe.pack, []
        if t.model.path:
            out += [m for m in [models.problem(t.model.path, "train.model.path")] if m]
        if t.model.tokenizer:
            out += [m for m in [models.problem(t.model.tokenizer, "train.model.tokenizer")] if m]
        if t.global_batch_size != p.global_batch_size:
            out.append(f"train.global_batch_size {t.global_batch_size} != pack.global_batch_size {p.global_batch_size}")
        if t.max_seq_len != p.max_seq_len:
            out.append(f"train.max_seq_len {t.max_seq_len} != pack.max_seq_len {p.max_seq_len}")
        iso = for_recipe(t)
        if iso.refused:
            out.append(iso.line())
        return out

    def resources(self, recipe: Recipe) -> list[Ask]:
        t = recipe.train
        return [Ask("training workers", t.cpus_per_worker, 1 if t.use_gpu else 0, t.num_workers,
                    accelerator=t.accelerator_type if t.use_gpu else None)]

    def notes(self, recipe: Recipe) -> list[str]:
        from huatuo_ray.train.dry_run import dry_run

        t = recipe.train
        lines = [f"DeepSpeed ZeRO-{t.zero_stage}, {t.precision}; global batch {t.global_batch_size} = micro "
                 f"{t.micro_batch_size} x accumulation {t.gradient_accumulation_steps} x {t.num_workers} workers",
                 for_recipe(t).line()]
        try:
            r = dry_run(t)
        except (ValueError, OSError) as e:
            return lines + [f"no memory estimate: {e}"]
        m = r["memory_per_gpu"]
        lines.append(f"{_params(m['parameters'])} parameters ({r['model']['source']}); per {'GPU' if t.use_gpu else 'worker'}: "
                     f"model states {m['model_states_gib']:.1f} + activations {m['activations_gib']:.1f} + logits "
                     f"{m['logits_gib']:.1f} = {m['total_gib']:.1f} GiB"
                     + (f" ({'fits' if r['fits'] else 'does NOT fit'} in {r['gpu_memory_gib']:.0f} GiB)" if t.use_gpu else ""))
        return lines

    def execute(self, ctx: Context, plan: Plan) -> dict[str, Any]:
        reader = plan.detail
        update = {"packed": str(ctx.inputs["pack"]), "output": str(ctx.output.parent), "run_name": ctx.output.name}
        if ctx.remote_output is not None and not ctx.recipe.train.checkpoint_storage:
            # staged: the workers write the logs and model into their node's copy and upload them; the checkpoints
            # go straight to the bucket, into the step's output there, as they go into the step's output on disk
            update["checkpoint_storage"] = str(ctx.remote_output.parent)
        cfg = ctx.recipe.train.model_copy(update=update)
        remote = _remote_run(ctx)
        after_fit = None
        if remote is not None and remote.run:  # what the workers uploaded, into this copy (then pushed as pulled)
            def after_fit():
                return ctx.staging.pull_files(ctx.remote_output, ctx.output, RUN_FILES, fresh=(LOGS,))
        s = run_training(cfg, remote=remote, after_fit=after_fit).summary
        s["base_model"] = cfg.model.path or str(ctx.output / INIT_MODEL)  # what evaluation compares the model with
        left = reader.num_steps - s["steps"]
        s["counts"] = counts(s["steps"], left, dropped_by_reason={"beyond train.max_steps": left} if left else {},
                             item="steps")
        return s

    def describe(self, stats: dict[str, Any]) -> str:
        loss = (f", loss {stats['first_loss']:.3f} -> {stats['last_loss']:.3f}" if stats.get("first_loss") is not None
                else "")
        return f"{stats['steps']:,} steps trained{loss}; model: {stats.get('model') or '-'}"


def _remote_run(ctx: Context) -> RemoteRun | None:
    """Where the pack and the run directory are in a bucket, for the workers (None: both on a disk)."""
    pack = ctx.remote_inputs.get("pack")
    run = str(ctx.remote_output) if ctx.remote_output is not None else None
    if pack is None and run is None:
        return None
    return RemoteRun(staging_dir=ctx.recipe.run.staging_dir, pack=pack[0] if pack else None,
                     pack_skip=tuple(pack[1]) if pack else (), run=run)


def _params(n: float) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"
