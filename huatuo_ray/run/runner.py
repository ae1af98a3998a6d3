"""``huatuo-ray run``: the recipe's steps in order, each resumable, none mixing outputs of different inputs.

For every selected step the runner resolves its output and upstream directories (``<run.dir>/<step>`` unless
overridden), checks that every upstream output is finished and was made by this recipe, computes the step's
identity (fingerprint of its settings, behaviour files and upstream lineage), compares it with the output's
``_run.json`` and then resumes, refuses (naming the step and setting that changed) or starts afresh
(``--overwrite``), runs the step and writes ``stats.json`` last. Single-step commands (``huatuo-ray unify`` ...)
are the same call with one step and explicit directories.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal

from huatuo_ray import metrics
from huatuo_ray.errors import InputError, LedgerError, OutputMismatch
from huatuo_ray.io.atomic import remove_temporaries
from huatuo_ray.io.lock import OutputLock
from huatuo_ray.io.staging import Staging, staging_root
from huatuo_ray.io.storage import ObjectPath, is_remote, resolved
from huatuo_ray.io.trash import clear_trash
from huatuo_ray.job import LLM_CACHE, Context, Plan, Step
from huatuo_ray.recipe import Recipe
from huatuo_ray.redact import mask_text
from huatuo_ray.run import rundir
from huatuo_ray.run.fingerprint import digest_files, fingerprint
from huatuo_ray.run.registry import STEPS, step_named

Overwrite = Literal["never", "stale", "always"]


@dataclass
class RunOptions:
    """Which steps, where, and what to do with outputs that do not match."""

    steps: list[str] | None = None  # None: every enabled step
    overwrite: Overwrite = "never"  # stale: redo outputs that do not match; always: redo the selected steps
    outputs: dict[str, Path] = field(default_factory=dict)  # step -> output directory (overrides run.dir)
    inputs: dict[str, Path] = field(default_factory=dict)  # upstream step -> directory its readers read


def select_steps(recipe: Recipe, start: str | None = None, stop: str | None = None,
                 only: list[str] | None = None) -> list[str]:
    """Enabled step names in run order: ``only``, else ``start`` .. ``stop`` (inclusive)."""
    names = [s.name for s in STEPS]
    for n in [start, stop, *(only or [])]:
        if n is not None and n not in names:
            raise InputError(f"unknown step {n!r}: the steps are {', '.join(names)}")
    enabled = [s.name for s in STEPS if s.enabled(recipe)]
    if only:
        off = [n for n in only if n not in enabled]
        if off:
            raise InputError(f"step(s) {', '.join(off)} have nothing to do with this recipe "
                             "(e.g. sft needs a source of type sft, curate a corpus source)")
        return [n for n in enabled if n in only]
    a = names.index(start) if start else 0
    b = names.index(stop) if stop else len(names) - 1
    return [n for n in enabled if a <= names.index(n) <= b]


class Runner:
    """Resolves directories and identities for one recipe; runs or describes its steps."""

    def __init__(self, recipe: Recipe, options: RunOptions | None = None, echo: Callable[[str], None] = print):
        self.recipe, self.options = recipe, options or RunOptions()
        self.echo = lambda msg: echo(mask_text(msg))  # messages quote settings: secrets stay out of them
        self.root = recipe.run.path(recipe.name)
        self._expected: dict[str, rundir.Identity] = {}
        self.states: dict[str, str] = {}  # step -> what this invocation did: done before / ran / resumed / redone

    # --- directories ---------------------------------------------------------------------------------------
    def output(self, name: str) -> Path:
        if name in self.options.outputs:
            return resolved(self.options.outputs[name])
        if name == "train":
            t = self.recipe.train
            base = resolved(t.output) if t.output else self.root / "train"
            return base / t.run_name
        return self.root / name

    def input_dir(self, upstream: str) -> tuple[Path, bool]:
        """Where readers of ``upstream`` read it, and whether that place was given explicitly."""
        if upstream in self.options.inputs:
            return resolved(self.options.inputs[upstream]), True
        if upstream == "pack" and self.recipe.train.packed:
            return resolved(self.recipe.train.packed), True
        return self.output(upstream), upstream in self.options.outputs

    def context(self, step: Step) -> Context:
        inputs = {u: self.input_dir(u)[0] for u in step.upstream(self.recipe)}
        cache, out = self.recipe.llm.cache_dir, self.output(step.name)
        return Context(self.recipe, out, inputs, self.echo,
                       resolved(cache) if cache else out / LLM_CACHE)

    # --- identities ----------------------------------------------------------------------------------------
    def expected(self, name: str) -> rundir.Identity:
        """The identity this recipe gives a step's output (upstream outputs as this recipe would make them)."""
        if name not in self._expected:
            step = step_named(name)
            lineage: dict[str, dict] = {}
            for u in step.upstream(self.recipe):
                e = self.expected(u)
                lineage.update(e.lineage)
                lineage[u] = e.as_ancestor(self.output(u))
            self._expected[name] = self._identity(step, lineage)
        return self._expected[name]

    def _identity(self, step: Step, lineage: dict[str, dict], plan: Plan | None = None) -> rundir.Identity:
        settings = step.settings(self.recipe)
        files = digest_files(step.behaviour_files(self.recipe))
        ups = {u: lineage[u]["fingerprint"] for u in step.upstream(self.recipe)}
        return rundir.Identity(step.name, fingerprint(step.name, settings, files, ups), settings, files, lineage,
                               plan.units if plan else [], plan.inputs if plan else {})

    def actual_lineage(self, step: Step) -> dict[str, dict]:
        """The lineage of the upstream outputs ``step`` would read now; refuses unfinished or foreign ones."""
        lineage: dict[str, dict] = {}
        for u in step.upstream(self.recipe):
            directory, explicit = self.input_dir(u)
            run = rundir.read_upstream(step.name, u, directory)
            if not explicit:
                want = self.expected(u)
                if run["fingerprint"] != want.fingerprint:
                    changes = rundir.lineage_changes({**run["lineage"], u: run},
                                                     {**want.lineage, u: want.as_ancestor(directory)})
                    shown = "; ".join(f"{s}: {', '.join(c[:4])}" for s, c in changes)
                    raise InputError(
                        f"{step.name} reads {directory}, a {u} output made with other settings than this recipe's "
                        f"(on disk -> recipe: {shown}). Run `huatuo-ray run --from {changes[0][0] if changes else u} "
                        f"--overwrite` to redo it with this recipe, or pass it explicitly to use it as it is")
            lineage.update(run["lineage"])
            lineage[u] = {k: run[k] for k in ("fingerprint", "settings", "files")} | {"dir": str(directory)}
        return lineage

    def remote_problems(self, names: list[str]) -> list[str]:
        """Why a step of ``names`` cannot run here: it would write or read an object store it does not support."""
        out = []
        for name in names:
            step = step_named(name)
            ctx = self.context(step)
            remote = [str(p) for p in (ctx.output, *ctx.inputs.values()) if is_remote(p)]
            if ctx.llm_cache is not None and step.keep_on_discard and is_remote(ctx.llm_cache):
                remote.append(str(ctx.llm_cache))
            why = step.remote_unsupported(ctx) if remote else None
            if why:
                out.append(f"step {name} cannot use an object store ({', '.join(remote[:2])}): {why}. Give it a local "
                           f"run.dir (or --output), see docs/run.md, 'Object storage'")
        return out

    # --- running -------------------------------------------------------------------------------------------
    def run(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """Run the named steps in order; returns each step's stats. Refuses before anything runs when a step
        cannot use the object store its run directory is in."""
        problems = self.remote_problems(names)
        if problems:
            raise InputError("; ".join(problems))
        if self.recipe.ray.metrics_export_port or self.recipe.ray.address or os.environ.get("RAY_ADDRESS"):
            from huatuo_ray.runtime import init_ray

            init_ray(self.recipe.ray)  # connected from the first step on, so every step's metrics are exported
        results = {}
        for name in names:
            results[name] = self.run_step(step_named(name))
        return results

    def run_step(self, step: Step) -> dict[str, Any]:
        """Run one step under the lock of its output: one run per output at a time."""
        ctx = self.context(step)
        lineage = self.actual_lineage(step)
        with OutputLock(ctx.output, f"huatuo-ray {step.name}") as lock:
            clear_trash(ctx.output, step.keep_on_discard)  # what an interrupted --overwrite left
            remove_temporaries(ctx.output)  # what an interrupted write left (writers below clear their own)
            return self._run_locked(step, ctx, lineage, lock)

    def _staged_context(self, step: Step, ctx: Context, lineage: dict[str, dict]) -> tuple[Staging | None, Context]:
        """For a staged step (:attr:`Step.staged`) whose output or inputs are in an object store: a context on local
        copies of its finished inputs (:mod:`huatuo_ray.io.staging`); else ``ctx`` itself."""
        through = [(u, ObjectPath(str(lineage[u]["dir"]))) for u in step.stage_through(self.recipe)
                   if u in lineage and is_remote(str(lineage[u]["dir"])) and u not in ctx.inputs]
        if not step.staged or not (is_remote(ctx.output) or through
                                   or any(is_remote(p) for p in ctx.inputs.values())):
            return None, ctx
        staging = Staging(staging_root(self.recipe.run.staging_dir))
        if is_remote(ctx.output):
            staging.local(ctx.output)  # known before any pull: paths into it are rewritten from the start
        remote_inputs = {u: p for u, p in ctx.inputs.items() if is_remote(p)}
        for _u, p in [*remote_inputs.items(), *through]:
            staging.local(p)
        for u, p in [*remote_inputs.items(), *through]:
            self.echo(f"[{step.name}] staging {p} -> {staging.local(p)}")
            staging.pull_input(p, self._stage_skip(u))
        inputs = {u: staging.local(p) if is_remote(p) else p for u, p in ctx.inputs.items()}
        return staging, replace(ctx, inputs=inputs, staging=staging,
                                remote_inputs={u: (p.uri, self._stage_skip(u)) for u, p in remote_inputs.items()})

    def _stage_skip(self, name: str) -> tuple[str, ...]:
        try:
            step = step_named(name)
        except InputError:
            return (LLM_CACHE,)
        return (LLM_CACHE, *step.keep_on_discard, *step.stage_skip(self.recipe))

    def _run_locked(self, step: Step, ctx: Context, lineage: dict[str, dict], lock: OutputLock) -> dict[str, Any]:
        out = ctx.output
        staging, ctx = self._staged_context(step, ctx, lineage)
        plan = step.plan(ctx)
        identity = self._identity(step, lineage, plan)
        old = rundir.recorded(out)
        why = rundir.mismatch(out, old, identity) if old else (
            f"{out} exists and is not a {step.name} output of this huatuo-ray version" if rundir.has_content(out)
            else None)
        overwrite = self.options.overwrite
        if why and overwrite == "never":
            raise OutputMismatch(why)
        if (why and overwrite in ("stale", "always")) or (not why and overwrite == "always" and out.exists()):
            self.echo(f"[{step.name}] starting afresh in {out}" + (f": {why}" if why else ""))
            step.discard(out, lock)
            old = None
            self.states[step.name] = "redone"
        elif old is not None:
            stats = rundir.finished(out)
            if stats is not None:
                self.echo(f"[{step.name}] done: {out} ({step.describe(stats)})")
                self.states[step.name] = "done before"
                return stats
        t0 = time.time()
        if old is None:
            rundir.write_identity(out, identity)
        rundir.clear_stats(out)
        if staging is not None and is_remote(out):  # the step's own objects so far (resume), then it runs here
            local = staging.pull_output(out, self._stage_skip(step.name))
            self.echo(f"[{step.name}] staging {out} -> {local}")
            ctx = replace(ctx, output=local, remote_output=out)
        done = step.units_done(ctx, plan)
        metrics.units(step.name, done, len(plan.units))
        self.states.setdefault(step.name, "resumed" if old is not None else "ran")
        self.echo(f"[{step.name}] {step.summary}: {plan.input}; {len(plan.units):,} work units"
                  + (f", {done:,} already done" if done else "") + f" -> {out}")
        if step.needs_ray(ctx, plan):
            from huatuo_ray.runtime import init_ray

            init_ray(self.recipe.ray)
        stats = step.execute(ctx, plan)
        check_counts(step.name, stats)
        if staging is not None:
            stats = staging.remote_value(stats)  # local staging paths -> the objects' URIs
            if is_remote(out):
                n = staging.push(ctx.output, out, self._stage_skip(step.name))
                self.echo(f"[{step.name}] pushed {n:,} files to {out}")
        stats.update(step=step.name, fingerprint=identity.fingerprint, output=str(out), complete=True,
                     elapsed_s=round(time.time() - t0, 3), finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        rundir.write_stats(out, stats)
        metrics.units(step.name, len(plan.units), len(plan.units))
        metrics.step_finished(step.name, stats)
        self.echo(f"[{step.name}] finished in {stats['elapsed_s']:.0f} s: {step.describe(stats)}")
        return stats


def check_counts(step: str, stats: dict[str, Any]) -> None:
    """Every step's ``counts``: in = kept + dropped + quarantined, each reason total matching."""
    c = stats.get("counts")
    if not c:
        raise LedgerError(f"{step}: the step reported no counts")
    problems = []
    if c["in"] != c["kept"] + c["dropped"] + c["quarantined"]:
        problems.append(f"in {c['in']} != kept {c['kept']} + dropped {c['dropped']} + quarantined {c['quarantined']}")
    for kind in ("dropped", "quarantined"):
        by = c.get(f"{kind}_by_reason") or {}
        if by and sum(by.values()) != c[kind]:
            problems.append(f"{kind} {c[kind]} != the sum of its reasons {sum(by.values())}")
    if problems:
        raise LedgerError(f"{step}: counts do not add up: {'; '.join(problems)}")
