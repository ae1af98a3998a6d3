"""The priority sampler job: every source's items in one ordered stream, written as Parquet.

Every item (an item repeated for e epochs is e items) gets the key ``-ln(U) / beta^K`` of
:mod:`huatuo_ray.sample.keys`; the stream is the items in ascending key order, ties broken by
(source name, epoch, id). Inputs of at most ``local_max_items`` items are ordered in this process
with numpy; larger ones on Ray Data (:mod:`huatuo_ray.sample.distributed`). Both paths compute the
keys with the same function and sort on the same total order, so they write the same sequence,
whatever the number of workers or blocks.

Output (a rerun replaces it; ``stats.json`` is written last and removed before an order is replaced, so an
interrupted run never leaves a summary beside an order it does not describe)::

    DIR/order/part-00000.parquet   position, source, epoch, id, key   (parts in order, rows in order)
    DIR/plots/source_share.png     share of each source over training progress (the paper's Figure 4)
    DIR/stats.json                 beta, seed, K, weights, epochs and counts per source, files, timings
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.io.atomic import atomic_path, remove_temporaries, write_json_atomic
from huatuo_ray.job import counts
from huatuo_ray.ledger import reason_key
from huatuo_ray.sample.config import SamplerConfig
from huatuo_ray.sample.order import keyed_table, sort_keyed, without
from huatuo_ray.sample.parts import check_parts, part_path, write_part
from huatuo_ray.sample.plan import SamplePlan, plan_sample
from huatuo_ray.sample.plot import write_share_plot

log = logging.getLogger(__name__)

SUMMARY = "stats.json"


@dataclass
class SampleResult:
    """A finished sampling run: its directory and the content of its ``stats.json``."""

    output: Path
    summary: dict[str, Any]


def order_locally(plan: SamplePlan, folder: Path, window: int, n_windows: int) -> list[dict]:
    """The single-process path: read all ids, key them, one numpy sort, write parts of ``block_rows``."""
    cfg = plan.config
    parts = [keyed_table(without(pq.read_table(s.files, columns=["id"]).column("id"), s.drop), s.name, s.code,
                         s.weight, s.epochs, cfg.seed) for s in plan.sources if s.items]
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
    shares = np.sum([p["counts"] for p in parts], axis=0)
    plot = write_share_plot(shares, plan.names, window, total, out / "plots" / "source_share.png",
                            title=f"source share over training (beta={cfg.beta:g}, seed={cfg.seed})")
    summary = {
        "engine": plan.engine,
        "beta": cfg.beta,
        "seed": cfg.seed,
        "preset": cfg.preset,
        "key": "-ln(U)/beta^K, U = f(seed, source, epoch, id); ascending; ties by (source, epoch, id)",
        "sources": [{"name": s.name, "type": s.type, "K": s.K, "weight": s.weight, "epochs": s.epochs,
                     "items": s.items, "dropped": len(s.drop), "count": s.count, "path": s.path, "files": len(s.files)}
                    for s in plan.sources],
        "total": total,
        "counts": counts(total, sum(len(s.drop) * s.epochs for s in plan.sources), item="items",
                         dropped_by_reason=dict(sum((Counter({reason_key(r): s.epochs for r in s.drop.values()})
                                                     for s in plan.sources), Counter()))),
        "id_kind": plan.id_kind,
        "files": [{"path": f"order/{Path(p['path']).name}", "first": p["first"], "rows": p["rows"]} for p in parts],
        "windows": {"size": window, "sources": plan.names, "counts": shares.tolist()},
        "plot": "plots/source_share.png" if plot else None,
        "seconds": round(time.time() - started, 3),
    }
    write_json_atomic(out / SUMMARY, summary)
    return SampleResult(out, summary)
