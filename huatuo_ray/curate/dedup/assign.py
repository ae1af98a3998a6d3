"""Assign each pre-dedup kept row of a unit to its nearest centroid and write it to its cluster's bucket shard."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from huatuo_ray.curate.dedup.kmeans import nearest_centroid
from huatuo_ray.curate.dedup.layout import WORK, emb_path
from huatuo_ray.errors import LedgerError
from huatuo_ray.io.atomic import (
    save_npy_atomic,
    write_json_atomic,
    write_parquet_atomic,
)
from huatuo_ray.io.storage import load_npy, location, read_parquet


def shard_unit(unit_id: str, pre_root: str, out_root: str, centroids: np.ndarray, buckets: int, gpu: bool) -> float:
    """Write ``_dedup/assign/<unit>.npy`` and the unit's bucket shards, then its ``sharded`` marker; returns seconds."""
    t0 = time.perf_counter()
    out, work = location(out_root), location(out_root) / WORK
    emb = load_npy(emb_path(out, unit_id))
    kept = location(pre_root) / "kept" / f"{unit_id}.parquet"
    table = read_parquet(kept, columns=["id", "text"]) if kept.exists() else pa.table({"id": [], "text": []})
    if table.num_rows != len(emb):
        raise LedgerError(f"unit {unit_id}: {table.num_rows} kept rows but {len(emb)} embeddings")
    cluster = nearest_centroid(emb, centroids, gpu)
    save_npy_atomic(cluster, work / "assign" / f"{unit_id}.npy")
    lengths = np.array([len(t) for t in table.column("text").to_pylist()], dtype=np.int64)
    ids = table.column("id").cast(pa.string())
    dim = emb.shape[1]
    for b in np.unique(cluster % buckets).tolist():
        rows = np.flatnonzero(cluster % buckets == b)
        shard = pa.table({
            "unit": pa.array([unit_id] * len(rows), pa.string()),
            "row": pa.array(rows, pa.int64()),
            "id": ids.take(pa.array(rows)),
            "length": pa.array(lengths[rows]),
            "cluster": pa.array(cluster[rows]),
            "emb": pa.FixedSizeListArray.from_arrays(pa.array(emb[rows].reshape(-1)), dim),
        })
        write_parquet_atomic(shard, work / "shards" / f"b{b}" / f"{unit_id}.parquet")
    seconds = time.perf_counter() - t0
    write_json_atomic(work / "sharded" / f"{unit_id}.json", {"rows": len(emb), "seconds": seconds})
    return seconds

