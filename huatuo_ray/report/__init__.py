"""One self-contained HTML page per run: ``<run.dir>/report.html`` (``huatuo-ray report RUN_DIR``; also written at
the end of ``huatuo-ray run``).

The page reads the run directory as files (``collect``: run.json, each step's stats.json and a few bounded
reads of its outputs), embeds the plots the steps wrote and draws what they do not (``figures``: the funnel,
quality labels, dedup group sizes, unification outcomes, training throughput), one section per subject
(``sections``). Images are data URIs, so the file can be mailed. A section whose step did not run says so.

    from huatuo_ray.report import write_report
    write_report("runs/local")          # -> runs/local/report.html
"""

from __future__ import annotations

import time
from pathlib import Path

from huatuo_ray.errors import InputError
from huatuo_ray.io.atomic import write_text_atomic
from huatuo_ray.report.collect import collect
from huatuo_ray.report.sections import Section, build_sections

REPORT_FILE = "report.html"


def render(sections: list[Section], title: str) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("huatuo_ray.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(sections=sections, title=title,
                                                     written=time.strftime("%Y-%m-%d %H:%M:%S %z"))


def write_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the report of ``run_dir`` (to ``output``, default ``<run_dir>/report.html``); returns its path."""
    root = Path(run_dir)
    if not root.is_dir():
        raise InputError(f"{root} is not a directory (a run directory: <run.dir> of a recipe)")
    run = collect(root)
    if run.run is None and not any(s.started for s in run.steps.values()):
        raise InputError(f"{root} holds no step output (no run.json and no <step>/_run.json): is it a run directory?")
    out = Path(output) if output else root / REPORT_FILE
    write_text_atomic(out, render(build_sections(run), str(root.resolve())))
    return out


__all__ = ["REPORT_FILE", "write_report"]
