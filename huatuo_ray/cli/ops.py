"""Operating a run: ``report`` (one HTML page per run), ``calibrate`` and ``plan`` (the capacity plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from huatuo_ray.cli.common import app


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (<run.dir> of a recipe).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Where to write the page "
                                                   "(default: RUN_DIR/report.html).")] = None,
) -> None:
    """Write one self-contained HTML page on a run: funnel, curation, unification, sampler, packing, training,
    evaluation (plots embedded; a step that did not run says so)."""
    from huatuo_ray.report import write_report

    typer.echo(f"run report: {write_report(run_dir, output)}")
