"""The registry of curation stages: name -> how to build it from the recipe."""

from __future__ import annotations

from huatuo_ray.curate.base import CurationStage
from huatuo_ray.curate.density import DensityFilter
from huatuo_ray.curate.quality import QualityFilter
from huatuo_ray.curate.segment import SegmentStage
from huatuo_ray.recipe import CurateConfig


def build_stage(name: str, cfg: CurateConfig) -> CurationStage:
    """Instantiate the stage ``name`` with its section of the recipe."""
    if name == "density":
        return DensityFilter(cfg.density)
    if name == "segment":
        return SegmentStage(cfg.segment)
    if name == "quality":
        return QualityFilter(cfg.quality)
    raise ValueError(f"unknown curation stage {name!r}")


def select_stages(recipe_order: list[str], requested: list[str] | None) -> list[str]:
    """The stages to run: ``requested`` (a subset of the recipe's stages) in recipe order."""
    if not requested:
        return list(recipe_order)
    unknown = [s for s in requested if s not in recipe_order]
    if unknown:
        raise ValueError(f"--stages {','.join(unknown)}: not among the recipe's stages {recipe_order}")
    return [s for s in recipe_order if s in requested]
