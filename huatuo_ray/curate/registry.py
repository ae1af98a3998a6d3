"""The curation stages, each registered once, in the paper's order; everything else derives its stage list here.

The recipe's ``curate`` section (:mod:`huatuo_ray.curate.config`), the pipeline, the histograms and the report
read the stages from :data:`SPECS`. A stage's code is imported only when :func:`build_stage` builds it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from huatuo_ray.curate.dedup.config import SPEC as _DEDUP
from huatuo_ray.curate.density.config import SPEC as _DENSITY
from huatuo_ray.curate.quality.config import SPEC as _QUALITY
from huatuo_ray.curate.segment.config import SPEC as _SEGMENT
from huatuo_ray.curate.spec import StageSpec
from huatuo_ray.errors import InputError

if TYPE_CHECKING:
    from huatuo_ray.curate.base import CurationStage, GlobalStage
    from huatuo_ray.curate.config import CurateConfig

SPECS: list[StageSpec] = [_DENSITY, _SEGMENT, _QUALITY, _DEDUP]
"""Every stage, in the default order (which is also the default ``curate.stages``)."""


def spec(name: str) -> StageSpec:
    """The spec of the stage ``name`` (ValueError for an unknown name)."""
    for s in SPECS:
        if s.name == name:
            return s
    raise ValueError(f"unknown curation stage {name!r} (known: {', '.join(names())})")


def names() -> list[str]:
    return [s.name for s in SPECS]


def build_stage(name: str, cfg: CurateConfig) -> CurationStage | GlobalStage:
    """Instantiate the stage ``name`` with its section of the recipe."""
    s = spec(name)
    module, _, cls = s.impl.partition(":")
    return getattr(import_module(module), cls)(getattr(cfg, name))


def select_stages(recipe_order: list[str], requested: list[str] | None) -> list[str]:
    """The stages to run: ``requested`` (a subset of the recipe's stages) in recipe order."""
    if not requested:
        return list(recipe_order)
    unknown = [s for s in requested if s not in recipe_order]
    if unknown:
        raise InputError(f"--stages {','.join(unknown)}: not among the recipe's stages {recipe_order}")
    return [s for s in recipe_order if s in requested]


def behaviour_files(cfg: CurateConfig) -> dict[str, str]:
    """``{setting: local path}`` of every file that decides the output of the recipe's stages."""
    return {k: v for name in cfg.stages for k, v in spec(name).behaviour_files(getattr(cfg, name)).items()}


def problems(cfg: CurateConfig) -> list[str]:
    """What is missing on this machine for the recipe's stages (nothing heavy is loaded)."""
    return [p for name in cfg.stages for p in spec(name).problems(getattr(cfg, name))]
