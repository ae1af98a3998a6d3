"""The Ray Data path: keys computed in parallel over work units, one distributed sort, parallel writes.

The driver cuts every source's Parquet files into work units (a file and a row range, about
``block_rows`` items each once epochs are counted, and at least ``workers`` units in all), like the
curation job. Each unit becomes one block of keyed rows (``map_batches``), ``Dataset.sort`` orders
all blocks by (key, src, epoch, id) across the cluster, and one task per sorted block writes its
part with positions from the blocks' row counts. Keys depend only on (seed, source, epoch, id) and
the sort is on a total order, so units, blocks and workers never change the result.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa

from huatuo_ray.io.parquet_rows import read_rows
from huatuo_ray.sample.order import SORT_COLUMNS, keyed_table, without
from huatuo_ray.sample.parts import part_path, write_part
from huatuo_ray.sample.plan import SamplePlan


def plan_units(plan: SamplePlan, workers: int) -> list[dict]:
    """Work units (source, file, start, stop) covering every source's rows."""
    cfg, units = plan.config, []
    for s in plan.sources:
        if not s.items:
            continue
        pieces = max(1, math.ceil(workers * s.count / plan.total), math.ceil(s.count / cfg.block_rows))
        rows = max(1, math.ceil(s.items / pieces))
        for f, n in zip(s.files, s.file_rows):
            units += [{"source": s.name, "file": f, "start": a, "stop": min(n, a + rows)} for a in range(0, n, rows)]
    return units


def read_ids(path: str, start: int, stop: int) -> pa.ChunkedArray:
    """Rows ``start:stop`` of a Parquet file's ``id`` column, reading only the row groups they touch."""
    return read_rows(path, start, stop, ["id"]).column("id")


def keys_for_units(batch: dict[str, np.ndarray], sources: dict[str, tuple[int, float, int, list[str]]],
                   seed: int) -> pa.Table:
    """Ray Data operator: work units -> keyed rows (key, src, epoch, id), dropped ids left out."""
    tables = []
    for name, path, start, stop in zip(batch["source"], batch["file"], batch["start"], batch["stop"]):
        code, weight, epochs, drop = sources[str(name)]
        ids = without(read_ids(str(path), int(start), int(stop)), drop)
        tables.append(keyed_table(ids, str(name), code, weight, epochs, seed))
    return pa.concat_tables(tables)


def order_on_ray(plan: SamplePlan, folder: Path, window: int, n_windows: int) -> list[dict]:
    """Order the plan's items on the connected Ray cluster; write the parts into ``folder``."""
    import ray

    cfg = plan.config
    workers = cfg.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    units = plan_units(plan, workers)
    sources = {s.name: (s.code, s.weight, s.epochs, sorted(s.drop)) for s in plan.sources}
    ds = ray.data.from_items(units, override_num_blocks=len(units))
    ds = ds.map_batches(keys_for_units, batch_size=1, batch_format="numpy",
                        fn_kwargs={"sources": sources, "seed": cfg.seed})
    ds = ds.sort(SORT_COLUMNS)  # partitions: one per input block
    ds.context.shuffle_strategy = cfg.sort_shuffle
    ds.context.default_hash_shuffle_parallelism = len(units)  # shuffle_v2's partitions (Ray's default: 200)
    refs = ds.materialize().to_arrow_refs()
    rows = ray.get([ray.remote(_num_rows).remote(r) for r in refs])  # each runs where its block is
    firsts = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int).tolist()
    writer = ray.remote(write_part)
    pending = [(r, f) for r, f, n in zip(refs, firsts, rows) if n]
    return ray.get([writer.remote(r, f, part_path(folder, i), plan.names, window, n_windows)
                    for i, (r, f) in enumerate(pending)])


def _num_rows(table: pa.Table) -> int:
    return table.num_rows
