"""The priority sampler job: every source's items in one ordered stream, written as Parquet.

Every item (an item repeated for e epochs is e items) gets the key ``-ln(U) / beta^K`` of
:mod:`huatuo_ray.sample.keys`; the stream is the items in ascending key order, ties broken by
(source name, epoch, id). Inputs of at most ``local_max_items`` items are ordered in this process
with numpy; larger ones on Ray Data (:mod:`huatuo_ray.sample.distributed`). Both paths compute the
keys with the same function and sort on the same total order, so they write the same sequence,
whatever the number of workers or blocks.

Output (a rerun replaces it; ``_sample.json`` is written last and removed before an order is replaced, so an
interrupted run never leaves a summary beside an order it does not describe)::

    DIR/order/part-00000.parquet   position, source, epoch, id, key   (parts in order, rows in order)
    DIR/plots/source_share.png     share of each source over training progress (the paper's Figure 4)
    DIR/_sample.json               beta, seed, K, weights, epochs and counts per source, files, timings
"""

from __future__ import annotations

import glob
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.io.atomic import atomic_path, remove_temporaries, write_json_atomic
from huatuo_ray.sample.config import SamplerConfig
from huatuo_ray.sample.order import keyed_table, sort_keyed, source_codes
from huatuo_ray.sample.parts import check_parts, part_path, write_part
from huatuo_ray.sample.plot import write_share_plot

log = logging.getLogger(__name__)

SUMMARY = "_sample.json"


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

    @property
    def items(self) -> int:
        """Rows of the input."""
        return sum(self.file_rows)

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


@dataclass
class SampleResult:
    """A finished sampling run: its directory and the content of ``_sample.json``."""

    output: Path
    summary: dict[str, Any]


def plan_sample(cfg: SamplerConfig, engine: Literal["auto", "local", "ray"] = "auto") -> SamplePlan:
    """Find every source's Parquet files, count rows from the footers, check the ids, pick the engine."""
    if not cfg.sources:
        raise ValueError("the sampler has no sources: add `sample.sources` to the recipe")
    missing = [s.name for s in cfg.sources if not s.path]
    if missing:
        raise ValueError(f"sample source(s) without a path: {', '.join(missing)} "
                         "(set `path` for each entry of `sample.sources` in the recipe)")
    codes = source_codes(cfg)
    sources, kinds = [], {}
    for s in cfg.sources:
        p = PlannedSource(s.name, codes[s.name], s.type, int(s.K), cfg.weight(s), int(s.epochs), str(s.path))
        p.files = _parquet_files(p.name, p.path)
        for f in p.files:
            meta = pq.ParquetFile(f).metadata
            schema = meta.schema.to_arrow_schema()
            if "id" not in schema.names:
                raise ValueError(f"sample source {p.name!r}: {f} has no 'id' column (columns: {schema.names})")
            kinds.setdefault(_id_kind(p.name, f, schema.field("id").type), set()).add(p.name)
            p.file_rows.append(meta.num_rows)
        sources.append(p)
    if len(kinds) > 1:
        shown = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in sorted(kinds.items()))
        raise ValueError(f"sample sources mix integer and string ids ({shown}): use one id type for all sources")
    plan = SamplePlan(cfg, sources, "local", next(iter(kinds)))
    if plan.total == 0:
        raise ValueError("nothing to sample: every source is empty")
    plan.engine = engine if engine != "auto" else ("local" if plan.total <= cfg.local_max_items else "ray")
    return plan


def _parquet_files(name: str, path: str) -> list[str]:
    p = Path(path)
    if p.is_file():
        return [str(p)]
    if p.is_dir():
        found = [f for f in p.rglob("*.parquet") if not any(part[0] in "._" for part in f.relative_to(p).parts)]
    else:
        found = [Path(f) for f in glob.glob(path, recursive=True) if f.endswith(".parquet") and os.path.isfile(f)]
    if not found:
        raise ValueError(f"sample source {name!r}: {path} matches no Parquet file")
    return sorted(str(f) for f in found)


def _id_kind(name: str, path: str, t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    raise ValueError(f"sample source {name!r}: {path} has 'id' of type {t}; ids must be integers or strings")


def order_locally(plan: SamplePlan, folder: Path, window: int, n_windows: int) -> list[dict]:
    """The single-process path: read all ids, key them, one numpy sort, write parts of ``block_rows``."""
    cfg = plan.config
    parts = [keyed_table(pq.read_table(s.files, columns=["id"]).column("id"), s.name, s.code, s.weight, s.epochs,
                         cfg.seed) for s in plan.sources if s.items]
    table = sort_keyed(pa.concat_tables(parts))
    del parts
    step = cfg.block_rows
    return [write_part(table.slice(a, step), a, part_path(folder, i), plan.names, window, n_windows)
            for i, a in enumerate(range(0, table.num_rows, step))]


def run_sample(plan: SamplePlan | SamplerConfig, output: str | Path) -> SampleResult:
    """Order every source's items into ``output`` (replacing an earlier order there) and plot the mix.

    The Ray path needs a connected Ray (``huatuo_ray.runtime.init_ray``); the local path does not.

    Example::

        plan = plan_sample(load_recipe("recipe.yaml").sample)
        if plan.engine == "ray":
            init_ray(RayConfig())
        result = run_sample(plan, "runs/x/sample")
        print(result.summary["total"], result.summary["files"][0])
    """
    from huatuo_ray.sample.distributed import order_on_ray

    started = time.time()
    plan = plan if isinstance(plan, SamplePlan) else plan_sample(plan)
    cfg, total = plan.config, plan.total
    window = max(1, math.ceil(total / cfg.plot_windows))
    n_windows = math.ceil(total / window)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    remove_temporaries(out)  # an interrupted earlier run's order
    log.info("sample: %s items from %d sources, %s", f"{total:,}", len(plan.sources), plan.engine)
    (out / SUMMARY).unlink(missing_ok=True)  # the summary is the completion marker: written last, again
    with atomic_path(out / "order") as tmp:
        tmp.mkdir()
        order = order_locally if plan.engine == "local" else order_on_ray
        parts = order(plan, tmp, window, n_windows)
        check_parts(parts, total, plan.names)
    counts = np.sum([p["counts"] for p in parts], axis=0)
    plot = write_share_plot(counts, plan.names, window, total, out / "plots" / "source_share.png",
                            title=f"source share over training (beta={cfg.beta:g}, seed={cfg.seed})")
    summary = {
        "job": "sample",
        "engine": plan.engine,
        "beta": cfg.beta,
        "seed": cfg.seed,
        "preset": cfg.preset,
        "key": "-ln(U)/beta^K, U = f(seed, source, epoch, id); ascending; ties by (source, epoch, id)",
        "sources": [{"name": s.name, "type": s.type, "K": s.K, "weight": s.weight, "epochs": s.epochs,
                     "items": s.items, "count": s.count, "path": s.path, "files": len(s.files)} for s in plan.sources],
        "total": total,
        "id_kind": plan.id_kind,
        "files": [{"path": f"order/{Path(p['path']).name}", "first": p["first"], "rows": p["rows"]} for p in parts],
        "windows": {"size": window, "sources": plan.names, "counts": counts.tolist()},
        "plot": "plots/source_share.png" if plot else None,
        "seconds": round(time.time() - started, 3),
    }
    write_json_atomic(out / SUMMARY, summary)
    return SampleResult(out, summary)
