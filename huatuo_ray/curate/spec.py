"""How a curation stage declares itself: :class:`StageSpec`, with its Ray resources and its histograms.

Each stage's ``config.py`` declares one ``SPEC``; :mod:`huatuo_ray.curate.registry` lists them in the default
order. This module imports only pydantic and the standard library, so the recipe can be built from the specs
without loading any stage's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class StageRuntime(BaseModel):
    """How one stage maps onto Ray: tasks (default, fused with neighbours) or an actor pool."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    num_cpus: float = Field(1.0, gt=0)
    num_gpus: float = Field(0.0, ge=0)
    actors: tuple[int, int] | None = Field(
        None, description="(min, max) actor-pool size; null runs the stage as Ray tasks."
    )

    def task_options(self) -> dict[str, float]:
        """``num_cpus`` (and ``num_gpus`` when set), as ``ray.remote(...).options`` and ``map_batches`` take them."""
        return {"num_cpus": self.num_cpus, **({"num_gpus": self.num_gpus} if self.num_gpus else {})}


@dataclass(frozen=True)
class HistogramSpec:
    """A per-record score in [0, 1] that a stage writes on its rows, binned per language and outcome.

    The pipeline counts ``field`` of the stage's kept and dropped rows into ``bins`` equal bins; the report
    plots them as ``plots/<name>.png``, one panel per language, with a dashed line at ``threshold(stage
    config, language)`` when that returns a number.
    """

    name: str
    field: str
    title: str
    x_label: str
    y_label: str
    threshold: Callable[[Any, str], float | None]
    bins: int = 100
    x_max: float = 1.0  # right end of the plotted x axis


def _no_files(stage_cfg: Any) -> dict[str, str]:
    return {}


def _no_problems(stage_cfg: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class StageSpec:
    """One curation stage, as the recipe, the pipeline and the report see it.

    name: the stage's name in ``curate.stages``, its recipe section (``curate.<name>``), its ledger entry.
    config: the pydantic model of that section (defaults reproduce the paper).
    impl: ``"module:Class"`` of the implementation, imported only when the stage is built.
    kind: ``"unit"`` (runs on each work unit) or ``"global"`` (needs every unit's output; must run last).
    resources: Ray resources used when ``curate.resources.<name>`` is not set.
    extra_resources: further ``curate.resources`` keys the stage reads, with their defaults.
    counters: the names of the counters the stage reports in the ledger.
    histograms: the per-record scores the pipeline bins and the report plots.
    behaviour_files: ``{setting: local path}`` of the files that decide the stage's output (hash them to
        fingerprint a run); builtin names are resolved.
    problems: what is missing on this machine for the stage to run, found without loading anything heavy.
    """

    name: str
    config: type[BaseModel]
    impl: str
    kind: Literal["unit", "global"] = "unit"
    resources: StageRuntime = field(default_factory=StageRuntime)
    extra_resources: dict[str, StageRuntime] = field(default_factory=dict)
    counters: tuple[str, ...] = ()
    histograms: tuple[HistogramSpec, ...] = ()
    behaviour_files: Callable[[Any], dict[str, str]] = _no_files
    problems: Callable[[Any], list[str]] = _no_problems
