"""The ``huatuo-ray`` command: a thin typer app over the run (:mod:`huatuo_ray.run`) and the tools.

Any error of the family in :mod:`huatuo_ray.errors` is printed as one line (``error: ...``, exit code 2) by the
root command group (:class:`~huatuo_ray.cli.common.Commands`); anything else keeps its traceback (it is a bug).
``run`` holds ``run``, ``demo`` and ``stats``; ``steps`` one command per step; ``tools`` the recipe, density,
quality and llm helpers; ``model`` the base-model converter; ``ops`` the run report and the capacity plan.
"""

from __future__ import annotations

from huatuo_ray.cli import model, ops, run, steps, tools  # noqa: F401  (register the commands)
from huatuo_ray.cli.common import app


def main(args: list[str] | None = None) -> None:
    """The ``huatuo-ray`` entry point (``jobs/*.py`` call it with their step's arguments)."""
    app(args=args)


__all__ = ["app", "main"]
