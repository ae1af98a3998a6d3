"""What a sampling run will do: every source with its priority, files and row counts, and where it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.errors import InputError
from huatuo_ray.io.files import parquet_files
from huatuo_ray.sample.config import SamplerConfig
from huatuo_ray.sample.order import source_codes


@dataclass
class PlannedSource:
    """A source with its priority resolved and its input files counted."""

    name: str
    code: int
    type: str | None
    K: int
    weight: float
    epochs: int
    path: str
    files: list[str] = field(default_factory=list)
    file_rows: list[int] = field(default_factory=list)
    drop: dict[str, str] = field(default_factory=dict)  # id -> reason: rows left out of the order (decontamination)

    @property
    def rows(self) -> int:
        """Rows of the input."""
        return sum(self.file_rows)

    @property
    def items(self) -> int:
        """Rows that are ordered: the input's rows but those dropped."""
        return self.rows - len(self.drop)

    @property
    def count(self) -> int:
        """Items in the stream: each input row once per epoch."""
        return self.items * self.epochs


@dataclass
class SamplePlan:
    """What a sampling run will do: sources, item counts, and where it runs."""

    config: SamplerConfig
    sources: list[PlannedSource]
    engine: Literal["local", "ray"]
    id_kind: str

    @property
    def total(self) -> int:
        return sum(s.count for s in self.sources)

    @property
    def names(self) -> list[str]:
        return sorted(s.name for s in self.sources)


def plan_total(sources: list[PlannedSource]) -> int:
    return sum(s.count for s in sources)


def plan_sample(cfg: SamplerConfig, engine: Literal["auto", "local", "ray"] = "auto") -> SamplePlan:
    """Find every source's Parquet files, count rows from the footers, check the ids, pick the engine."""
    if not cfg.sources:
        raise InputError("the sampler has no sources: list `sample.sources` in the recipe, or let the run derive "
                         "them (unified pairs by source type, and each SFT source)")
    missing = [s.name for s in cfg.sources if not s.path]
    if missing:
        raise InputError(f"sample source(s) without a path: {', '.join(missing)} "
                         "(set `path` for each entry of `sample.sources` in the recipe)")
    codes = source_codes(cfg)
    sources, kinds = [], {}
    for s in cfg.sources:
        p = PlannedSource(s.name, codes[s.name], s.type, int(s.K), cfg.weight(s), int(s.epochs), str(s.path))
        p.files = parquet_files(p.name, p.path, allow_none=s.optional)
        for f in p.files:
            meta = pq.ParquetFile(f).metadata
            schema = meta.schema.to_arrow_schema()
            if "id" not in schema.names:
                raise InputError(f"sample source {p.name!r}: {f} has no 'id' column (columns: {schema.names})")
            kinds.setdefault(_id_kind(p.name, f, schema.field("id").type), set()).add(p.name)
            p.file_rows.append(meta.num_rows)
        sources.append(p)
    if len(kinds) > 1:
        shown = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in sorted(kinds.items()))
        raise InputError(f"sample sources mix integer and string ids ({shown}): use one id type for all sources")
    if plan_total(sources) == 0:
        raise InputError("nothing to sample: every source is empty")
    plan = SamplePlan(cfg, sources, "local", next(iter(kinds)))
    plan.engine = engine if engine != "auto" else ("local" if plan.total <= cfg.local_max_items else "ray")
    return plan


def _id_kind(name: str, path: str, t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    raise InputError(f"sample source {name!r}: {path} has 'id' of type {t}; ids must be integers or strings")
