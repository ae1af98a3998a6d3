"""Benchmark inputs: SFT conversation files validated by the real sft step (release-format Parquet per source)."""

from __future__ import annotations

from pathlib import Path


def sft_conversations(work: Path, files: dict[str, Path | str]) -> dict[str, Path]:
    """Run the sft step over ``files`` ({source name: path}) into ``work/run``; returns each source's kept folder."""
    from huatuo_ray.recipe import Recipe
    from huatuo_ray.run.runner import Runner

    recipe = Recipe.model_validate({"run": {"dir": str(work / "run")},
                                    "sources": [{"name": n, "path": str(p), "type": "sft"} for n, p in files.items()]})
    Runner(recipe, echo=lambda msg: None).run(["sft"])
    return {n: work / "run" / "sft" / n / "kept" for n in files}
