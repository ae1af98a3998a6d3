"""Settings of the windowed segmentation (stage ``segment``) and its registration."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from huatuo_ray.curate.spec import StageSpec

NAME = "segment"


class SegmentConfig(BaseModel):
    """Settings of the windowed segmentation stage."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    max_chars: int = Field(
        512,
        gt=0,
        description=(
            "Hard upper limit on a segment's length in characters, context included. The released "
            "HuatuoGPT-II code truncated source text to 400 characters when generating questions and "
            "to 600 when generating answers; 512 keeps a segment between the two, so the answer step "
            "sees the whole segment and the question step sees a core of about 400 characters."
        ),
    )
    core_chars: int | None = Field(
        None,
        gt=0,
        description=(
            "Target length of a window's core (the new, non-overlapping part); the rest of max_chars is "
            "room for context sentences. Must be <= max_chars. Default: 3/4 of max_chars (384 for 512, "
            "close to the 400 characters the released code used for question generation) when any "
            "context is requested, else max_chars."
        ),
    )
    context_before: int = Field(
        1,
        ge=0,
        description="At most this many units (sentences) of context before the core (paper: 'sentences before').",
    )
    context_after: int = Field(
        1,
        ge=0,
        description="At most this many units (sentences) of context after the core (paper: 'and after the window').",
    )
    default_language: Literal["zh", "en"] = Field(
        "zh", description="Sentence rules used for a record whose 'language' is missing or not zh/en."
    )

    @model_validator(mode="after")
    def _core_fits(self) -> "SegmentConfig":
        if self.core_chars is not None and self.core_chars > self.max_chars:
            raise ValueError(f"core_chars ({self.core_chars}) must be <= max_chars ({self.max_chars})")
        return self

    @property
    def effective_core_chars(self) -> int:
        if self.core_chars is not None:
            return self.core_chars
        if self.context_before or self.context_after:
            return max(1, self.max_chars * 3 // 4)
        return self.max_chars


SPEC = StageSpec(
    name=NAME,
    config=SegmentConfig,
    impl="huatuo_ray.curate.segment.stage:SegmentStage",
    counters=("segments", "clause_splits", "hard_splits"),
)
