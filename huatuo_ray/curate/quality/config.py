"""Settings of the quality-classifier cleaning (stage ``quality``) and its registration."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from huatuo_ray.curate.spec import HistogramSpec, StageSpec
from huatuo_ray.models import problem

NAME = "quality"
SEED_SET = "builtin:seed"
MODEL_SETTING = f"curate.{NAME}.model"
MODEL_HINT = (f"Train one: `huatuo-ray quality label` (an LLM labels a sample of curated segments), then "
              f"`huatuo-ray quality train`, and set {MODEL_SETTING} to the model file; or set it to {SEED_SET} "
              f"(a classifier trained on the packaged demo seed set: demo and tests only); or remove {NAME} from "
              "curate.stages.")


def seed_set_path() -> Path:
    """The packaged demo seed set (see huatuo_ray/data/quality/NOTICE.md)."""
    return Path(str(resources.files("huatuo_ray") / "data" / "quality" / "seed.jsonl"))


class QualityConfig(BaseModel):
    """Configuration of the quality classifier stage."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        description="fastText model file from `huatuo-ray quality train`, or 'builtin:seed' to train one on the "
        "packaged demo seed set when the stage starts (demo and tests only).",
    )
    drop_labels: list[str] = Field(
        default_factory=lambda: ["advertising", "low_quality"],
        description="Labels that mean 'remove' (the paper: advertising and low quality); others are kept.",
    )
    threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Drop a row when the probability of drop_labels together is at least this."
    )


def _model_file(cfg: QualityConfig) -> str | None:
    """The file that decides the stage's output: the model, or the seed set a builtin:seed model is trained on."""
    return str(seed_set_path()) if cfg.model == SEED_SET else cfg.model


def _model_files(cfg: QualityConfig) -> dict[str, str]:
    path = _model_file(cfg)
    return {MODEL_SETTING: str(Path(path).expanduser().absolute())} if path else {}


def _missing_model(cfg: QualityConfig) -> list[str]:
    found = problem(_model_file(cfg), MODEL_SETTING, MODEL_HINT)
    return [found] if found else []


def _threshold_line(cfg: QualityConfig, language: str) -> float:
    return cfg.threshold


SPEC = StageSpec(
    name=NAME,
    config=QualityConfig,
    impl="huatuo_ray.curate.quality.stage:QualityFilter",
    histograms=(HistogramSpec(name=NAME, field="quality_drop_prob", title="quality classifier",
                              x_label="probability of the drop labels", y_label="rows", threshold=_threshold_line),),
    behaviour_files=_model_files,
    problems=_missing_model,
)
