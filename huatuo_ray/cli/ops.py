"""Operating a run: ``report`` (one HTML page per run), ``calibrate`` and ``plan`` (the capacity plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from huatuo_ray.cli.common import ConfigOpt, SetOpt, app, load, local_path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CALIBRATION = REPO_ROOT / "cluster" / "calibration.json"
DEFAULT_CAPACITY = REPO_ROOT / "cluster" / "capacity.yaml"


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (<run.dir> of a recipe).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Where to write the page "
                                                   "(default: RUN_DIR/report.html).")] = None,
) -> None:
    """Write one self-contained HTML page on a run: funnel, curation, unification, sampler, packing, training,
    evaluation (plots embedded; a step that did not run says so)."""
    from huatuo_ray.report import write_report

    typer.echo(f"run report: {write_report(local_path(run_dir, 'the report'), output)}")


@app.command()
def calibrate(
    run_dirs: Annotated[list[Path], typer.Argument(help="Finished run directories (`huatuo-ray run`), made on this "
                                                   "machine; two or more sizes separate fixed from per-unit time.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The calibration file to write.")] = DEFAULT_CALIBRATION,
    note: Annotated[Optional[str], typer.Option(help="A note stored with the machine (e.g. 'loaded machine').")] = None,
) -> None:
    """Store per-step rates measured by finished runs, with the machine they ran on (CPUs, model, date)."""
    from huatuo_ray.capacity.calibrate import calibrate as measure
    from huatuo_ray.io.atomic import write_json_atomic

    data = measure([local_path(d, "calibrate") for d in run_dirs], note)
    write_json_atomic(output, data)
    for name, s in data["steps"].items():
        typer.echo(f"{name:7} {s['fixed_s']:8.1f} s fixed + {s['per_unit_s']:.4g} s per {s['unit']}  ({s['how']})")
    typer.echo(f"calibration: {output} ({data['machine']['cpus']} x {data['machine']['cpu_model']})")


@app.command()
def plan(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    corpus_size: Annotated[Optional[str], typer.Option(help="Raw corpus size, e.g. 1.1TB, 500GB, 4MB "
                                                       "(powers of 1000; KiB, MiB, GiB, TiB of 1024).")] = None,
    sft_size: Annotated[Optional[str], typer.Option(help="SFT data size (default: the capacity file's count of "
                                                    "conversations, or on this machine the calibration's).")] = None,
    like_run: Annotated[Optional[Path], typer.Option(help="Take the corpus and SFT sizes from a run directory's "
                                                     "recorded inputs (to check the plan against that run).")] = None,
    calibration: Annotated[Path, typer.Option(help="Calibration file (`huatuo-ray calibrate`).")] = DEFAULT_CALIBRATION,
    nodes: Annotated[str, typer.Option(help="`local` (this machine, as calibrated) or a capacity file with the "
                                       "cluster's node types and configured GPU figures.")] = str(DEFAULT_CAPACITY),
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Estimate wall time and node-hours per step for a corpus size, printing where every number comes from."""
    import json

    from huatuo_ray.capacity.calibrate import load_calibration
    from huatuo_ray.capacity.config import load_capacity, parse_size
    from huatuo_ray.capacity.plan import estimate, format_plan
    from huatuo_ray.errors import InputError
    from huatuo_ray.run.rundir import read_json

    recipe = load(config, set_)
    if like_run is not None:
        like_run = local_path(like_run, "plan --like-run")
        inputs = {s: sum(((read_json(like_run / s / "_run.json") or {}).get("inputs") or {}).values())
                  for s in ("curate", "sft")}
        if not inputs["curate"]:
            raise InputError(f"{like_run} has no curate/_run.json with its inputs")
        corpus, sft, origin = inputs["curate"], inputs["sft"] or None, f"the inputs recorded in {like_run}"
    elif corpus_size is None:
        raise InputError("give --corpus-size (e.g. 1.1TB) or --like-run RUN_DIR")
    else:
        corpus, sft = parse_size(corpus_size), parse_size(sft_size) if sft_size else None
        origin = "--corpus-size" + (" / --sft-size" if sft_size else "")
    capacity = None if nodes == "local" else load_capacity(nodes)
    result = estimate(recipe, load_calibration(calibration), corpus, sft, capacity, origin)
    typer.echo(json.dumps(result.to_dict(), indent=1) if as_json else format_plan(result))
