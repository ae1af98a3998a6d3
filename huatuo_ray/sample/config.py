"""Settings of the priority sampler: sources with priorities beta^K and epochs, presets, seed.

Presets fill in ``K`` and ``epochs`` from a source's ``type`` wherever a source leaves them unset:

- ``paper``: the paper's text (appendix J): pre-training instructions 3 epochs, SFT 1.
- ``release``: the public code: weights 32/16/8/4/1 (K = 5, 4, 3, 2, 0 for web, literature,
  encyclopedia, books, sft), SFT 3 epochs, the others 1.

The paper's text gives beta = 2 and the order web -> literature -> encyclopedia -> books -> SFT but
not the K values (they are in Figure 4's table), so both presets use the release's K.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from huatuo_ray.names import check_source_name

SampleSourceType = Literal["web", "literature", "encyclopedia", "books", "sft"]
SOURCE_TYPES: tuple[str, ...] = ("web", "literature", "encyclopedia", "books", "sft")
_RELEASE_K = {"web": 5, "literature": 4, "encyclopedia": 3, "books": 2, "sft": 0}
PRESETS: dict[str, dict[str, dict[str, int]]] = {
    "paper": {"K": dict(_RELEASE_K), "epochs": {"web": 3, "literature": 3, "encyclopedia": 3, "books": 3, "sft": 1}},
    "release": {"K": dict(_RELEASE_K), "epochs": {"web": 1, "literature": 1, "encyclopedia": 1, "books": 1, "sft": 3}},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SampleSource(_Strict):
    """One source of instructions to order: where its item ids are, its priority and its epochs."""

    name: str = Field(description="Source name; part of every item's random stream, recorded in the output.")
    path: str | None = Field(
        None, description="Parquet file, directory or glob with an `id` column (integers or strings, unique)."
    )
    type: SampleSourceType | None = Field(None, description="Source type; with a preset it gives K and epochs.")
    K: int | None = Field(None, ge=-64, le=64, description="Priority exponent: every item weighs beta^K.")
    epochs: int | None = Field(None, ge=1, le=1000, description="Times each item appears (each copy is its own item).")
    optional: bool = Field(False, description="A path with no Parquet file counts as an empty source instead of an "
                           "error (sources the run derives, e.g. a source type that kept no pairs).")

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, v: str) -> str:
        return check_source_name(v)


class SamplerConfig(_Strict):
    """The priority sampler: P_t(x in D_i) = |D_i^t| beta^K_i / sum_j |D_j^t| beta^K_j, without replacement."""

    preset: Literal["paper", "release"] | None = Field(
        "paper", description="Fills K and epochs from each source's type where unset: paper (text) or release (code)."
    )
    beta: float = Field(2.0, gt=0, description="Relative priority; 2 in the paper, 1 mixes uniformly.")
    seed: int = Field(42, ge=0, lt=2**63, description="The order is a function of the seed and the items only.")
    sources: list[SampleSource] = Field(
        default_factory=list, validate_default=True,
        description="Sources to order; empty: the run derives them (the unified pairs of each source type, and "
        "each SFT source), with K and epochs from the preset.",
    )
    local_max_items: int = Field(
        10_000_000, ge=0, description="Inputs of at most this many items (epochs counted) are ordered in one process."
    )
    workers: int | None = Field(
        None, gt=0, description="Ray tasks for keys and sort partitions (default: the cluster's CPUs); never changes the order."
    )
    block_rows: int = Field(2_000_000, gt=0, description="Target rows per Ray block; never changes the order.")
    sort_shuffle: Literal["sort_shuffle_pull_based", "sort_shuffle_push_based", "shuffle_v2"] = Field(
        "sort_shuffle_pull_based", description="Ray Data shuffle behind the distributed sort; never changes the order."
    )
    plot_windows: int = Field(200, ge=2, description="Consecutive windows of the order in the source-share plot.")

    @field_validator("sources")
    @classmethod
    def _resolve_sources(cls, v: list[SampleSource], info: ValidationInfo) -> list[SampleSource]:
        preset = info.data.get("preset")
        names = [s.name for s in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"sample source names must be unique, repeated: {dup}")
        table = PRESETS[preset] if preset else None
        out = []
        for s in v:
            k, epochs = s.K, s.epochs
            if k is None:
                if s.type is None or table is None:
                    raise ValueError(f"sample source {s.name!r} has no K: give K, or a type together with a preset "
                                     "(paper or release)")
                k = table["K"][s.type]
            if epochs is None:
                epochs = table["epochs"][s.type] if (table and s.type) else 1
            out.append(s.model_copy(update={"K": k, "epochs": epochs}))
        return out

    @model_validator(mode="after")
    def _weights_are_finite(self) -> "SamplerConfig":
        for s in self.sources:
            w = self.weight(s)
            if not (1e-300 < w < 1e300) or not math.isfinite(w):
                raise ValueError(f"sample source {s.name!r}: beta^K = {self.beta}^{s.K} is not a usable weight")
        return self

    def weight(self, source: SampleSource) -> float:
        """The priority beta^K of every item of ``source``."""
        try:
            return float(self.beta) ** int(source.K or 0)
        except OverflowError:
            return math.inf
