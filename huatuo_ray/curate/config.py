"""The recipe's ``curate`` section, built from the stage registry.

Its per-stage sections (``curate.<stage>``), the allowed and default values of ``curate.stages`` (every stage,
in the paper's order) and the allowed ``curate.resources`` keys all come from
:data:`huatuo_ray.curate.registry.SPECS`; nothing here names a stage.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from huatuo_ray.curate import registry
from huatuo_ray.curate.spec import StageRuntime, StageSpec

IO_RESOURCES = ("read", "write")  # the reader and writer operators take resources like stages


class _CurateBase(BaseModel):
    """Validators and lookups of every :func:`make_curate_config` model; ``stage_specs`` are its stages."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    stage_specs: ClassVar[tuple[StageSpec, ...]] = ()

    @classmethod
    def resource_defaults(cls) -> dict[str, StageRuntime]:
        """Every allowed ``curate.resources`` key, with the resources used when the recipe does not set it."""
        out = {key: StageRuntime() for key in IO_RESOURCES}
        for s in cls.stage_specs:
            out[s.name] = s.resources
            out.update(s.extra_resources)
        return out

    @field_validator("stages", check_fields=False)
    @classmethod
    def _global_stage_last(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"stages must not repeat: {v}")
        kinds = {s.name: s.kind for s in cls.stage_specs}
        for name in v[:-1]:
            if kinds[name] == "global":
                raise ValueError(f"{name} needs every record, so it must be the last stage: {v}")
        return v

    @field_validator("resources", check_fields=False)
    @classmethod
    def _known_resource_keys(cls, v: dict[str, StageRuntime]) -> dict[str, StageRuntime]:
        unknown = set(v) - set(cls.resource_defaults())
        if unknown:
            raise ValueError(f"unknown stage(s) in resources: {sorted(unknown)}")
        return v

    def runtime(self, key: str) -> StageRuntime:
        """The Ray resources of ``key`` (read, write, a stage or a stage's extra key): the recipe's, else the default."""
        return self.resources.get(key) or self.resource_defaults()[key]


def make_curate_config(specs: list[StageSpec]) -> type[_CurateBase]:
    """The ``curate`` section's model for these stages (the recipe uses :data:`registry.SPECS`)."""
    stage_names = tuple(s.name for s in specs)
    keys = ", ".join(dict.fromkeys([*IO_RESOURCES, *stage_names, *(k for s in specs for k in s.extra_resources)]))
    fields: dict[str, Any] = {
        "stages": (list[Literal[stage_names]], Field(
            default_factory=lambda: list(stage_names),
            description="Curation stages, in order (a global stage, which needs every record, must come last).",
        )),
        **{s.name: (s.config, Field(default_factory=s.config)) for s in specs},
        "unit_bytes": (int, Field(
            32 * 1024 * 1024, gt=0, description="Uncompressed JSONL files are split into work units of about this size.",
        )),
        "part_bytes": (int, Field(
            32 * 1024 * 1024, gt=0, description="A unit is read, curated and written in parts of about this many raw "
            "bytes (JSONL, Parquet): what bounds a worker's memory, whatever the file size. The output is the same.",
        )),
        "parquet_rows_per_unit": (int, Field(
            100_000, gt=0, description="Parquet row groups are grouped up to this many rows.",
        )),
        "max_record_bytes": (int, Field(
            64 * 1024 * 1024, gt=0, description="Records larger than this are quarantined instead of processed.",
        )),
        "keep_dropped_text": (bool, Field(True, description="Store the text of dropped records in dropped/ for audit.")),
        "excerpt_chars": (int, Field(300, ge=0, description="Length of the raw excerpt kept with quarantined records.")),
        "resources": (dict[str, StageRuntime], Field(
            default_factory=dict, description=f"Per-stage Ray resources, keyed by {keys}.",
        )),
    }
    model = create_model("CurateConfig", __base__=_CurateBase, __module__=__name__,
                         __doc__="The curation job: which stages run, in which order, with what settings.", **fields)
    model.stage_specs = tuple(specs)
    return model


CurateConfig = make_curate_config(registry.SPECS)
