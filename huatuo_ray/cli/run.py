"""``huatuo-ray run`` (the whole recipe), ``demo`` (the local recipe on the bundled corpus) and ``stats``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from huatuo_ray.cli.common import (
    ConfigOpt,
    SetOpt,
    app,
    echo,
    fail,
    load,
    setup_logging,
)
from huatuo_ray.io.storage import is_remote
from huatuo_ray.recipe import Recipe
from huatuo_ray.run.registry import STEP_NAMES
from huatuo_ray.run.runner import Runner, RunOptions, select_steps

REPO_ROOT = Path(__file__).resolve().parents[2]
STEPS_HELP = ", ".join(STEP_NAMES)


def _names(values: Optional[list[str]]) -> list[str] | None:
    return [n.strip() for v in values for n in v.split(",") if n.strip()] if values else None


def run_recipe(recipe: Recipe, options: RunOptions, start: str | None = None, stop: str | None = None,
               only: list[str] | None = None, dry_run: bool = False, report: bool = False) -> dict | None:
    """Run (or with ``dry_run`` describe) the selected steps; print the run table; returns run.json's content.

    With ``report`` (``huatuo-ray run`` and ``demo``) the run ends by writing ``<run.dir>/report.html``."""
    names = select_steps(recipe, start, stop, only)
    runner = Runner(recipe, options, echo)
    if dry_run:
        from huatuo_ray.run.plan import format_plan, plan_rows

        typer.echo(format_plan(plan_rows(runner, names), str(runner.root)))
        return None
    from huatuo_ray.run.summary import finish_run

    setup_logging()
    started = time.time()
    results = runner.run(names)
    in_run_dir = not options.outputs
    summary = finish_run(runner.root, results, runner.states, started, write=in_run_dir)
    typer.echo(summary.pop("table"))
    if in_run_dir:
        typer.echo(f"run summary: {runner.root / 'run.json'}")
        if report and is_remote(runner.root):
            typer.echo(f"run report: {remote_report(runner.root, recipe.run.staging_dir)}")
        elif report:
            from huatuo_ray.report import write_report

            typer.echo(f"run report: {write_report(runner.root)}")
    return summary


def remote_report(root, staging_dir: str | None = None):
    """``report.html`` of a run directory in an object store: rendered from a local copy of the files the report
    reads (stats, plots, logs, results; no data units), then uploaded as one object."""
    import tempfile

    from huatuo_ray.io.staging import pull_tree, staging_root
    from huatuo_ray.report import REPORT_FILE, write_report

    skip = {"_markers", "_llm_cache", "_dedup", "model", "model_init", "consumed", "decontam"}

    def wanted(rel) -> bool:
        parts = rel.parts
        if any(p in skip or p.startswith(("checkpoint_", ".")) for p in parts) or rel.name == REPORT_FILE:
            return False
        return (rel.suffix in (".json", ".png", ".svg") or "dropped" in parts
                or rel.name == "metrics.jsonl" or (rel.parent.name == "events" and rel.suffix == ".jsonl"))

    staging = staging_root(staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="report-", dir=staging) as tmp:
        local = Path(tmp) / "run"
        pull_tree(root, local, wanted)
        page = write_report(local).read_text(encoding="utf-8")
    (root / REPORT_FILE).write_text(page.replace(str(local), str(root)))  # one object, named as the bucket's
    return root / REPORT_FILE


@app.command()
def run(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    start: Annotated[Optional[str], typer.Option("--from", help=f"First step to run ({STEPS_HELP}).")] = None,
    stop: Annotated[Optional[str], typer.Option("--to", help="Last step to run.")] = None,
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Run only these steps (repeatable or comma-separated).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the whole chain and print the plan; run nothing.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Redo the steps whose output was made with other settings or inputs "
                                                 "(instead of refusing); outputs that match are kept.")] = False,
) -> None:
    """Run the recipe's steps in order: sft, curate, unify, sample, pack, train; every step resumes.

    Each step writes <run.dir>/<step> (run.dir defaults to runs/<name>) and reads the step before it. A step whose
    output was made with other settings or from another input is refused, naming what changed.
    """
    recipe = load(config, set_)
    run_recipe(recipe, RunOptions(overwrite="stale" if overwrite else "never"), start, stop, _names(only), dry_run,
               report=True)


@app.command()
def demo(
    run_dir: Annotated[Path, typer.Option("--run-dir", "--output", "-o", help="Where the demo writes its run.")] = Path("runs/demo"),
    overwrite: Annotated[bool, typer.Option(help="Redo the steps whose settings changed (e.g. --unify-segments).")] = False,
    unify_segments: Annotated[int, typer.Option(help="Segments to unify (SmolLM2 on CPU: a few minutes for 8).")] = 8,
    train_steps: Annotated[int, typer.Option(help="Training steps.")] = 6,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
) -> None:
    """The local recipe end to end on the bundled corpus: `huatuo-ray run --config configs/local.yaml` with a slice.

    The same as `run --config configs/local.yaml --set run.dir=DIR --set unify.max_segments=N
    --set train.max_steps=M`, with the recipe's source paths taken relative to the repository.
    """
    if unify_segments < 0 or train_steps <= 0:
        fail("--unify-segments must be >= 0 and --train-steps positive")
    recipe = load(REPO_ROOT / "configs" / "local.yaml",
                  [f"run.dir={run_dir.resolve()}", f"unify.max_segments={unify_segments}",
                   f"train.max_steps={train_steps}"], base_dir=REPO_ROOT)
    run_recipe(recipe, RunOptions(overwrite="stale" if overwrite else "never"), dry_run=dry_run, report=True)


@app.command()
def stats(where: Annotated[str, typer.Argument(help="A step's output directory, or a run directory (a local path "
                                                    "or an s3:// / gs:// URI).")]) -> None:
    """Print what a finished step (its ledger) or a whole run did."""
    from huatuo_ray.io.storage import location
    from huatuo_ray.run.rundir import read_json
    from huatuo_ray.run.summary import summary_table

    output = location(where)
    run = read_json(output / "run.json")
    if run is not None:
        steps = {n: {**s, "elapsed_s": s.get("elapsed_s") or 0} for n, s in run["steps"].items()}
        typer.echo(summary_table(steps, {n: s["state"] for n, s in run["steps"].items()}, output))
        return
    s = read_json(output / "stats.json")
    if s is None:
        fail(f"{output} has no stats.json or run.json (has the step or run finished?)")
    if s.get("step") == "curate":
        from huatuo_ray.curate.report import summary_table as curate_table

        typer.echo(curate_table(s))
    else:
        typer.echo(json.dumps({k: s[k] for k in ("step", "counts", "output", "elapsed_s") if k in s}, indent=1,
                              ensure_ascii=False))
