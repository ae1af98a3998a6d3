"""The typer app, its sub-apps and the options every command shares."""

from __future__ import annotations

import re

import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from huatuo_ray.errors import HuatuoError
from huatuo_ray.recipe import Recipe, load_recipe
from huatuo_ray.redact import MaskingFilter, mask_text


class Commands(TyperGroup):
    """The root command group: the one place that turns the error family into one message (exit code 2)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HuatuoError as e:
            typer.secho(f"error: {mask_text(str(e))}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None


app = typer.Typer(cls=Commands, help="HuatuoGPT-II one-stage domain adaptation on Ray.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
recipe_app = typer.Typer(help="Inspect and validate recipes.", no_args_is_help=True)
app.add_typer(recipe_app, name="recipe")
density_app = typer.Typer(help="Calibrate and inspect the dictionary-density filter.", no_args_is_help=True)
app.add_typer(density_app, name="density")
quality_app = typer.Typer(help="Label samples and train the fastText quality classifier.", no_args_is_help=True)
app.add_typer(quality_app, name="quality")
llm_app = typer.Typer(help="The LLM backend: run a local vLLM server.", no_args_is_help=True)
app.add_typer(llm_app, name="llm")

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="Recipe YAML file (default: built-in defaults).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a recipe value for this run: dotted.key=value (repeatable).")]
OverwriteOpt = Annotated[bool, typer.Option(help="Discard this step's existing output and start it afresh.")]


def setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("HUATUO_LOG", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # secrets never reach a log line
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())


def fail(msg: str) -> None:
    typer.secho(f"error: {mask_text(msg)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def local_path(path: Path, what: str) -> Path:
    """``path``, unless it is an object-store URI that the shell handed over as a path (``s3:/b/k``): ``what``
    reads local files only."""
    if re.match(r"^(?:s3|gs|gcs):/(?!/)", str(path)):
        fail(f"{what} reads a local directory: {str(path).replace(':/', '://', 1)} is in an object store. Copy it "
             "down first (e.g. `aws s3 sync`)")
    return path


def load(config: Optional[Path], overrides: Optional[list[str]], base_dir: Path | None = None) -> Recipe:
    return load_recipe(config, overrides or [], base_dir=base_dir)


def echo(msg: str) -> None:
    typer.echo(mask_text(msg), err=True)
