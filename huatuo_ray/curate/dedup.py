"""Semantic dedup (stage ``dedup``), a global stage run after the per-unit stages (SemDeDup style).

Layout and resume. When ``dedup`` is among the stages, the per-unit stages write into ``DIR/_pre_dedup/``
(same layout and markers as a normal run). Then, over the kept rows of every unit:

1. embed   ``DIR/embeddings/<unit>.npy`` (+ ``.json`` marker): sentence embeddings, Ray Data actor pool;
2. k-means ``DIR/_dedup/plan.json``, ``centroids.npy``: k = ceil(rows / cluster_size) clusters trained with
   faiss on a seeded sample (k * kmeans_points_per_cluster rows, at most kmeans_max_sample);
3. shard   ``DIR/_dedup/shards/b<bucket>/<unit>.parquet``: each row goes to its nearest centroid; clusters are
   grouped into buckets (cluster mod buckets) so one Ray task loads one bucket, never the whole corpus;
4. search  ``DIR/_dedup/drops/<unit>/b<bucket>.parquet`` (+ ``_dedup/buckets/b<bucket>.json`` marker): inside
   each cluster, the keep rule of :mod:`huatuo_ray.curate.dedup_search` (one Ray task per bucket);
5. apply   ``DIR/kept|dropped|quarantined/<unit>.parquet`` and ``DIR/_markers/<unit>.json``: the unit's
   pre-dedup output minus its dropped rows, its ledger extended with the ``dedup`` stage.

Each step writes its files atomically and a marker last, reads only the immutable output of the previous
step and is deterministic, so a rerun after a crash at any point skips what is done and gives the same
output as an uninterrupted run. Dropped rows carry ``duplicate_of`` (the kept row's id),
``dedup_similarity`` and reason ``near duplicate: cosine # >= #``; every row carries ``dedup_cluster`` and
``embedding_row`` (its row in ``DIR/embeddings/<unit>.npy``).
"""

from __future__ import annotations

import glob
import json
import math
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from huatuo_ray.curate.dedup_config import DedupConfig
from huatuo_ray.curate.dedup_embed import emb_path, embed_units
from huatuo_ray.curate.dedup_search import greedy_near_duplicates, rank_order
from huatuo_ray.curate.histograms import LENGTH_BIN, LENGTH_BINS, Histograms
from huatuo_ray.io.atomic import (
    save_npy_atomic,
    write_json_atomic,
    write_parquet_atomic,
)
from huatuo_ray.io.output import OutputDir
from huatuo_ray.ledger import Ledger, reason_key
from huatuo_ray.recipe import Recipe, StageRuntime

PRE_DEDUP = "_pre_dedup"
WORK = "_dedup"


def _task_options(rt: StageRuntime | None) -> dict[str, Any]:
    rt = rt or StageRuntime()
    return {"num_cpus": rt.num_cpus, **({"num_gpus": rt.num_gpus} if rt.num_gpus else {})}


def _wait_all(refs: list, what: str, every_s: float = 5.0) -> list:
    """ray.get every ref in order, printing progress."""
    results: dict = {}
    pending = list(refs)
    t0 = last = time.time()
    while pending:
        ready, pending = ray.wait(pending, num_returns=min(len(pending), 16), timeout=every_s)
        for r in ready:
            results[r] = ray.get(r)
        if time.time() - last >= every_s or not pending:
            last = time.time()
            print(f"[dedup] {what} {len(results)}/{len(refs)}  {last - t0:.1f} s", file=sys.stderr, flush=True)
    return [results[r] for r in refs]


# --- tasks -----------------------------------------------------------------------------------------


def _sample_unit(path: str, unit_id: str, fraction: float, seed: int) -> np.ndarray:
    emb = np.load(path, mmap_mode="r")
    rng = np.random.default_rng([seed, zlib.crc32(unit_id.encode())])
    return np.array(emb[rng.random(len(emb)) < fraction], dtype=np.float32)


def _check_gpu(gpu: bool) -> None:
    import faiss

    if gpu and faiss.get_num_gpus() == 0:
        raise RuntimeError("curate.dedup.faiss_gpu is set but faiss sees no GPU here (install faiss-gpu and give the "
                           "dedup tasks a GPU with curate.resources.dedup.num_gpus)")


def _train_kmeans(sample: np.ndarray, k: int, cfg: DedupConfig) -> np.ndarray:
    import faiss

    _check_gpu(cfg.faiss_gpu)
    k = max(1, min(k, len(sample)))
    km = faiss.Kmeans(sample.shape[1], k, niter=cfg.kmeans_iterations, seed=cfg.seed, spherical=True,
                      gpu=cfg.faiss_gpu, verbose=False, min_points_per_centroid=1, max_points_per_centroid=1 << 30)
    km.train(np.ascontiguousarray(sample, dtype=np.float32))
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


def nearest_centroid(emb: np.ndarray, centroids: np.ndarray, gpu: bool = False) -> np.ndarray:
    """Index of the nearest (largest inner product) centroid of each row."""
    import faiss

    if len(emb) == 0:
        return np.zeros(0, dtype=np.int64)
    index = faiss.IndexFlatIP(centroids.shape[1])
    if gpu:
        _check_gpu(gpu)
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(centroids)
    _, nearest = index.search(np.ascontiguousarray(emb, dtype=np.float32), 1)
    return nearest[:, 0].astype(np.int64)


def _shard_unit(unit_id: str, pre_root: str, out_root: str, centroids: np.ndarray, buckets: int, gpu: bool) -> float:
    t0 = time.perf_counter()
    out, work = Path(out_root), Path(out_root) / WORK
    emb = np.load(emb_path(out, unit_id))
    kept = Path(pre_root) / "kept" / f"{unit_id}.parquet"
    table = pq.read_table(kept, columns=["id", "text"]) if kept.exists() else pa.table({"id": [], "text": []})
    if table.num_rows != len(emb):
        raise RuntimeError(f"unit {unit_id}: {table.num_rows} kept rows but {len(emb)} embeddings")
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


def _search_bucket(bucket: int, out_root: str, threshold: float) -> dict:
    t0 = time.perf_counter()
    work = Path(out_root) / WORK
    files = sorted(glob.glob(str(work / "shards" / f"b{bucket}" / "*.parquet")))
    marker = {"bucket": bucket, "rows": 0, "clusters": 0, "dropped": 0, "cluster_sizes": [], "similarity_bins": [0] * 100}
    if files:
        t = pa.concat_tables([pq.read_table(f) for f in files])
        units, rows, ids = t.column("unit").to_pylist(), t.column("row").to_numpy(), t.column("id").to_pylist()
        lengths, clusters = t.column("length").to_numpy(), t.column("cluster").to_numpy()
        emb = t.column("emb").combine_chunks().flatten().to_numpy().reshape(t.num_rows, -1)
        drops: dict[str, list[dict]] = {}
        for c in np.unique(clusters).tolist():
            members = np.flatnonzero(clusters == c)
            m_units = [units[i] for i in members]
            m_ids = [ids[i] for i in members]
            order = rank_order(lengths[members], m_ids, m_units, rows[members])
            res = greedy_near_duplicates(emb[members], order, threshold)
            marker["cluster_sizes"].append(len(members))
            for local in np.flatnonzero(res.duplicate_of >= 0).tolist():
                rep = int(res.duplicate_of[local])
                drops.setdefault(m_units[local], []).append({
                    "row": int(rows[members[local]]), "duplicate_of": m_ids[rep], "duplicate_unit": m_units[rep],
                    "duplicate_row": int(rows[members[rep]]), "dedup_similarity": float(res.similarity[local]),
                })
        for items in drops.values():
            for d in items:
                marker["similarity_bins"][min(int(d["dedup_similarity"] * 100), 99)] += 1
        for unit_id, items in drops.items():
            write_parquet_atomic(pa.Table.from_pylist(items), work / "drops" / unit_id / f"b{bucket}.parquet")
        marker.update(rows=t.num_rows, clusters=len(marker["cluster_sizes"]), dropped=sum(map(len, drops.values())))
    marker["seconds"] = time.perf_counter() - t0
    write_json_atomic(work / "buckets" / f"b{bucket}.json", marker)
    return marker


def _apply_unit(unit_id: str, pre_root: str, out_root: str, threshold: float, keep_dropped_text: bool, seconds: float) -> dict:
    t0 = time.perf_counter()
    pre, out = OutputDir(pre_root), OutputDir(out_root)
    work = Path(out_root) / WORK
    marker = json.loads(pre.marker(unit_id).read_text(encoding="utf-8"))
    kept_path = pre.path("kept", unit_id)
    kept = pq.read_table(kept_path) if kept_path.exists() else pa.table({})
    n = kept.num_rows
    cluster = np.load(work / "assign" / f"{unit_id}.npy") if n else np.zeros(0, dtype=np.int64)
    drop_files = sorted(glob.glob(str(work / "drops" / unit_id / "*.parquet")))
    drops = pa.concat_tables([pq.read_table(f) for f in drop_files]).to_pylist() if drop_files else []
    by_row = {d["row"]: d for d in drops}
    if n:
        kept = kept.append_column("embedding_row", pa.array(np.arange(n), pa.int64()))
        kept = kept.append_column("dedup_cluster", pa.array(cluster, pa.int64()))
    is_dup = np.zeros(n, dtype=bool)
    is_dup[list(by_row)] = True
    final_kept = kept.filter(pa.array(~is_dup)) if n else kept
    dup_rows = kept.filter(pa.array(is_dup)) if n else kept
    ledger = Ledger.from_dict(marker["ledger"])
    count = ledger.stage("dedup")
    count.rows_in, count.kept_in, count.rows_out = n, final_kept.num_rows, final_kept.num_rows
    dropped_tables = []
    old_dropped = pre.path("dropped", unit_id)
    if old_dropped.exists():
        dropped_tables.append(pq.read_table(old_dropped))
    if dup_rows.num_rows:
        info = [by_row[r] for r in dup_rows.column("embedding_row").to_pylist()]
        reasons = [f"near duplicate: cosine {d['dedup_similarity']:.3f} >= {threshold}" for d in info]
        count.dropped.update(reason_key(r) for r in reasons)
        hist_rows = dup_rows.column("text").to_pylist()
        if not keep_dropped_text:
            dup_rows = dup_rows.drop_columns(["text"])
        for name, values, typ in (("stage", ["dedup"] * len(info), pa.string()), ("reason", reasons, pa.string()),
                                  ("duplicate_of", [d["duplicate_of"] for d in info], pa.string()),
                                  ("dedup_similarity", [round(d["dedup_similarity"], 6) for d in info], pa.float64())):
            dup_rows = dup_rows.append_column(name, pa.array(values, typ))
        dropped_tables.append(dup_rows)
    else:
        hist_rows = []
    ledger.check(f"unit {unit_id}")
    hist = Histograms.from_dict(marker["hist"])
    for text in hist_rows:  # the pre-dedup histogram counted these rows as kept
        hist.kept_chars[min(len(text) // LENGTH_BIN, LENGTH_BINS - 1)] -= 1
    for kind, table in (("kept", final_kept if final_kept.num_rows else None),
                        ("dropped", pa.concat_tables(dropped_tables, promote_options="permissive") if dropped_tables else None)):
        if table is not None and table.num_rows:
            write_parquet_atomic(table, out.path(kind, unit_id))
        else:
            out.path(kind, unit_id).unlink(missing_ok=True)
    quarantined = pre.path("quarantined", unit_id)
    if quarantined.exists():
        write_parquet_atomic(pq.read_table(quarantined), out.path("quarantined", unit_id))
    else:
        out.path("quarantined", unit_id).unlink(missing_ok=True)
    secs = {**marker["seconds"], "dedup": seconds + time.perf_counter() - t0}
    out.write_marker(unit_id, {**marker, "ledger": ledger.to_dict(), "hist": hist.to_dict(), "seconds": secs})
    return {"unit_id": unit_id, "dropped": int(is_dup.sum())}


def _plot(sizes: list[int], sim_bins: list[int], threshold: float, path: Path) -> str | None:
    """Cluster sizes and the similarity of dropped rows to their representative."""
    if not sizes:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    a.hist(sizes, bins=min(50, max(5, len(sizes) // 2)), color="tab:blue")
    a.set_title(f"k-means cluster sizes ({len(sizes)} clusters)")
    a.set_xlabel("rows in cluster")
    a.set_ylabel("clusters")
    if sim_bins and any(sim_bins):
        lo = int(threshold * 100)
        b.bar([i / 100 for i in range(lo, 100)], sim_bins[lo:], width=0.01, align="edge", color="tab:red")
    b.set_title("dropped rows: cosine to the kept representative")
    b.set_xlabel("cosine similarity")
    b.set_ylabel("rows")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def remove_dedup_state(root: Path) -> None:
    """Forget every dedup intermediate of an output directory (for --overwrite)."""
    import shutil

    for name in (PRE_DEDUP, WORK, "embeddings"):
        shutil.rmtree(Path(root) / name, ignore_errors=True)


# --- driver ----------------------------------------------------------------------------------------


def plan_clusters(rows: int, cfg: DedupConfig, cpus: int) -> dict[str, int]:
    """k, the k-means sample size and the bucket count for ``rows`` rows."""
    k = max(1, math.ceil(rows / cfg.cluster_size)) if rows else 0
    sample = min(rows, cfg.kmeans_max_sample, max(k, k * cfg.kmeans_points_per_cluster))
    buckets = max(1, min(k, max(2 * cpus, math.ceil(rows / cfg.bucket_rows)))) if k else 0
    return {"rows": rows, "k": k, "sample": sample, "buckets": buckets}


def run_dedup(recipe: Recipe, pre: OutputDir, out: OutputDir, unit_ids: list[str]) -> dict:
    """Dedup the kept rows of every unit of ``pre`` into ``out`` (resumable; see the module docstring)."""
    cfg = recipe.curate.dedup
    res = recipe.curate.resources
    work = out.root / WORK
    todo = [u for u in unit_ids if not out.is_done(u)]
    summary_path = work / "summary.json"
    if not todo:
        return json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    work.mkdir(parents=True, exist_ok=True)
    for sub in ("shards", "drops", "assign", "buckets", "sharded"):
        (work / sub).mkdir(exist_ok=True)
    timings: dict[str, float] = {}
    t = time.time()
    timings["embed"] = embed_units(unit_ids, cfg, res.get("embed"), pre.root, out.root)
    metas = {u: json.loads(emb_path(out.root, u).with_suffix(".json").read_text(encoding="utf-8")) for u in unit_ids}
    plan_path = work / "plan.json"
    if plan_path.exists():
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
    else:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        plan = plan_clusters(sum(m["rows"] for m in metas.values()), cfg, cpus)
        write_json_atomic(plan_path, plan)
    opts = _task_options(res.get("dedup"))
    t = time.time()
    centroids_path = work / "centroids.npy"
    if plan["k"] and not centroids_path.exists():
        fraction = plan["sample"] / plan["rows"]
        sample_task = ray.remote(_sample_unit).options(**opts)
        parts = _wait_all([sample_task.remote(str(emb_path(out.root, u)), u, fraction, cfg.seed)
                           for u in unit_ids if metas[u]["rows"]], "k-means sample units")
        sample = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
        if len(sample) == 0:  # tiny corpus: the sample missed every row
            sample = np.concatenate([np.load(emb_path(out.root, u)) for u in unit_ids if metas[u]["rows"]])
        centroids = ray.get(ray.remote(_train_kmeans).options(**opts).remote(sample, plan["k"], cfg))
        save_npy_atomic(centroids, centroids_path)
    timings["kmeans"] = time.time() - t
    t = time.time()
    if plan["k"]:
        centroids_ref = ray.put(np.load(centroids_path))
        shard_task = ray.remote(_shard_unit).options(**opts)
        _wait_all([shard_task.remote(u, str(pre.root), str(out.root), centroids_ref, plan["buckets"], cfg.faiss_gpu)
                   for u in unit_ids if not (work / "sharded" / f"{u}.json").exists()], "assigned units")
    timings["assign"] = time.time() - t
    t = time.time()
    search_task = ray.remote(_search_bucket).options(**opts)
    _wait_all([search_task.remote(b, str(out.root), cfg.threshold)
               for b in range(plan["buckets"]) if not (work / "buckets" / f"b{b}.json").exists()], "searched buckets")
    timings["search"] = time.time() - t
    t = time.time()
    per_unit = (timings["kmeans"] + timings["assign"] + timings["search"]) / max(1, len(unit_ids))
    apply_task = ray.remote(_apply_unit).options(num_cpus=1)
    _wait_all([apply_task.remote(u, str(pre.root), str(out.root), cfg.threshold, recipe.curate.keep_dropped_text,
                                 metas[u]["seconds"] + per_unit) for u in todo], "written units")
    timings["apply"] = time.time() - t
    buckets = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((work / "buckets").glob("b*.json"))]
    sizes = sorted(s for b in buckets for s in b["cluster_sizes"])
    summary = {**plan, "model": cfg.model, "threshold": cfg.threshold, "dropped": sum(b["dropped"] for b in buckets),
               "clusters_non_empty": len(sizes), "cluster_size_max": sizes[-1] if sizes else 0,
               "cluster_size_median": sizes[len(sizes) // 2] if sizes else 0,
               "wall_seconds_this_run": {k: round(v, 3) for k, v in timings.items()}}
    summary["plot"] = _plot(sizes, [sum(b) for b in zip(*(m["similarity_bins"] for m in buckets))], cfg.threshold,
                            out.root / "plots" / "dedup.png")
    write_json_atomic(summary_path, summary)
    print(f"[dedup] {summary['rows']:,} rows, {summary['clusters_non_empty']} clusters (max {summary['cluster_size_max']}), "
          f"{summary['dropped']:,} near duplicates dropped", file=sys.stderr, flush=True)
    return summary


