"""The dry run: every selected step with its input, output and state, and what the machine or cluster lacks.

Nothing runs and nothing heavy is loaded: inputs are resolved (an upstream output on disk, or one that an earlier
step of this invocation will write), output states come from ``_run.json`` / ``stats.json`` compared with the
identity this recipe gives each step, and each step reports the models and files it cannot find here and the
workers it asks for.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from huatuo_ray.errors import HuatuoError
from huatuo_ray.io.storage import is_remote
from huatuo_ray.job import Ask
from huatuo_ray.run import rundir
from huatuo_ray.run.registry import step_named
from huatuo_ray.run.runner import Runner


@dataclass
class StepRow:
    step: str
    input: str
    output: str
    state: str
    problems: list[str] = field(default_factory=list)
    asks: list[Ask] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def step_state(runner: Runner, name: str) -> str:
    """done / partly done / to run / stale (with what changed), from the output's records."""
    out = runner.output(name)
    old = rundir.recorded(out)
    if old is None:
        return "stale: not an output of this version" if rundir.has_content(out) else "to run"
    want = runner.expected(name)
    if old["fingerprint"] != want.fingerprint:
        own = rundir.settings_changes(old, want.__dict__)
        if own:
            return "stale: " + "; ".join(own[:3])
        changed = rundir.lineage_changes(old.get("lineage", {}), want.lineage)
        return "stale: " + "; ".join(f"{s} changed ({', '.join(c[:2])})" for s, c in changed[:2])
    if rundir.finished(out):
        return "done"
    return "partly done"


def plan_rows(runner: Runner, names: list[str]) -> list[StepRow]:
    """One row per step of ``names`` (run order)."""
    rows, will_run = [], set()
    recipe = runner.recipe
    for name in names:
        step = step_named(name)
        ctx = runner.context(step)
        state = step_state(runner, name)
        row = StepRow(name, "", str(ctx.output), state)
        waits = []
        for u, d in ctx.inputs.items():
            if u in will_run:
                waits.append(u)
            elif rundir.finished(d) is None:
                row.problems.append(f"its input {d} is not a finished {u} output: run the {u} step first")
        row.problems += runner.remote_problems([name])
        try:
            row.problems += step.problems(recipe)
            row.asks = step.resources(recipe)
            row.notes = step.notes(recipe)
        except HuatuoError as e:
            row.problems.append(str(e))
        if waits:
            row.input = f"{' + '.join(waits)} (written earlier in this run)"
        elif step.staged and any(is_remote(d) for d in ctx.inputs.values()):  # a dry run downloads nothing
            row.input = ", ".join(f"{u}: {d}" for u, d in ctx.inputs.items()) + " (copied to local staging to run)"
        elif not row.problems or not ctx.inputs:
            try:
                plan = step.plan(ctx)
                row.input = plan.input
                if state == "partly done" and plan.units:
                    row.state = f"partly done ({step.units_done(ctx, plan):,}/{len(plan.units):,} units)"
            except HuatuoError as e:
                row.problems.append(str(e))
                row.input = "-"
        else:
            row.input = ", ".join(f"{u}: {d}" for u, d in ctx.inputs.items())
        row.problems = list(dict.fromkeys(row.problems))  # a missing source is found by problems() and by plan()
        if row.state != "done":
            will_run.add(name)
        rows.append(row)
    return rows


def machine() -> dict[str, Any]:
    """CPUs and GPUs where the run would go: the connected Ray cluster, else this machine."""
    try:
        import ray

        if ray.is_initialized():
            r = ray.cluster_resources()
            return {"where": "the Ray cluster", "cpus": r.get("CPU", 0), "gpus": r.get("GPU", 0)}
    except ImportError:
        pass
    gpus = 0
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:
        pass
    return {"where": "this machine (local Ray)", "cpus": os.cpu_count() or 1, "gpus": gpus}


def resource_notes(rows: list[StepRow], where: dict[str, Any]) -> list[str]:
    """Steps that cannot get their workers where the run would go."""
    out = []
    for r in rows:
        for a in r.asks:
            n = a.min_count if a.min_count is not None else a.count
            if a.gpus and n * a.gpus > where["gpus"]:
                out.append(f"{r.step}: {a.what} need {n * a.gpus:g} GPUs{' (' + a.accelerator + ')' if a.accelerator else ''}; "
                           f"{where['where']} has {where['gpus']:g}: run on a cluster whose autoscaler adds GPU nodes")
            elif a.cpus > where["cpus"]:
                out.append(f"{r.step}: {a.what} need {a.cpus:g} CPUs each; {where['where']} has {where['cpus']:g}")
    return out


def format_plan(rows: list[StepRow], run_dir: str) -> str:
    """The plan as a table, then what is missing, the resources asked and notes."""
    table = Table(title=f"run plan: {run_dir}", show_lines=False)
    for col in ("step", "input", "output", "state"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.step, r.input, r.output, r.state)
    buf = io.StringIO()
    Console(file=buf, width=160, force_terminal=False).print(table)
    lines = [buf.getvalue().rstrip()]
    problems = [(r.step, p) for r in rows for p in r.problems]
    lines.append("missing or wrong on this machine:" if problems else "missing on this machine: nothing")
    lines += [f"  {s}: {p}" for s, p in problems]
    asks = [(r.step, a) for r in rows for a in r.asks]
    if asks:
        lines.append("resources the steps ask for:")
        lines += [f"  {s}: {a}" for s, a in asks]
    where = machine()
    lines.append(f"{where['where']}: {where['cpus']:g} CPUs, {where['gpus']:g} GPUs")
    lines += [f"  {n}" for n in resource_notes(rows, where)]
    notes = [(r.step, n) for r in rows for n in r.notes]
    if notes:
        lines.append("notes:")
        lines += [f"  {s}: {n}" for s, n in notes]
    return "\n".join(lines)
