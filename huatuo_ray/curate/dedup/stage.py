"""Stage ``dedup``: semantic dedup (SemDeDup style), a global stage run after the per-unit stages.

When ``dedup`` is among the stages, the per-unit stages write into ``DIR/_pre_dedup/`` (same layout and
markers as a normal run). Then, over the kept rows of every unit (files: :mod:`.layout`):

1. embed   sentence embeddings per unit, a Ray Data actor pool (:mod:`.embed`);
2. k-means k = ceil(rows / cluster_size) centroids trained with faiss on a seeded sample (:mod:`.kmeans`);
3. assign  each row to its nearest centroid, written to its cluster's bucket (:mod:`.assign`);
4. search  inside each cluster, the keep rule, one Ray task per bucket (:mod:`.search`);
5. apply   each unit's final output: its pre-dedup output minus its near duplicates (:mod:`.apply`).

Each step writes its files atomically and a marker last, reads only the immutable output of the previous
step and is deterministic, so a rerun after a crash at any point skips what is done and gives the same
output as an uninterrupted run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import ray

from huatuo_ray.curate.base import GlobalStage
from huatuo_ray.curate.dedup.apply import apply_unit
from huatuo_ray.curate.dedup.assign import shard_unit
from huatuo_ray.curate.dedup.config import NAME, DedupConfig
from huatuo_ray.curate.dedup.embed import embed_units, model_path
from huatuo_ray.curate.dedup.kmeans import plan_clusters, sample_unit, train_kmeans
from huatuo_ray.curate.dedup.layout import (
    PRE_DEDUP,
    WORK,
    WORK_FOLDERS,
    emb_path,
    remove_state,
)
from huatuo_ray.curate.dedup.search import search_bucket
from huatuo_ray.curate.dedup.summary import summarize
from huatuo_ray.io.atomic import save_npy_atomic, write_json_atomic
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.storage import load_npy

if TYPE_CHECKING:
    from huatuo_ray.curate.config import CurateConfig


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


class SemanticDedup(GlobalStage):
    """Drop rows whose embedding is within ``threshold`` cosine of a kept row of the same k-means cluster."""

    name = NAME
    staging = PRE_DEDUP

    def __init__(self, config: DedupConfig):
        self.config = config

    def setup(self) -> None:
        """Find the embedding model now (ModelNotFound naming curate.dedup.model), not after the unit stages."""
        model_path(self.config)

    def remove_state(self, root: Path) -> None:
        remove_state(root)

    def run(self, curate: CurateConfig, staged: OutputDir, out: OutputDir, unit_ids: list[str]) -> dict:
        """Dedup the kept rows of every unit of ``staged`` into ``out`` (resumable; see the module docstring)."""
        cfg = self.config
        work = out.root / WORK
        todo = [u for u in unit_ids if not out.is_done(u)]
        summary_path = work / "summary.json"
        if not todo:
            return json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
        for sub in WORK_FOLDERS:
            (work / sub).mkdir(parents=True, exist_ok=True)
        timings: dict[str, float] = {"embed": embed_units(unit_ids, cfg, curate.runtime("embed"), staged.root, out.root)}
        metas = {u: json.loads(emb_path(out.root, u).with_suffix(".json").read_text(encoding="utf-8")) for u in unit_ids}
        plan = self._plan(work, metas)
        opts = curate.runtime(NAME).task_options()
        t = time.time()
        self._train_centroids(work, plan, metas, out.root, opts)
        timings["kmeans"] = time.time() - t
        t = time.time()
        if plan["k"]:
            centroids_ref = ray.put(load_npy(work / "centroids.npy"))
            shard_task = ray.remote(shard_unit).options(**opts)
            _wait_all([shard_task.remote(u, str(staged.root), str(out.root), centroids_ref, plan["buckets"],
                                         cfg.faiss_gpu)
                       for u in unit_ids if not (work / "sharded" / f"{u}.json").exists()], "assigned units")
        timings["assign"] = time.time() - t
        t = time.time()
        search_task = ray.remote(search_bucket).options(**opts)
        _wait_all([search_task.remote(b, str(out.root), cfg.threshold)
                   for b in range(plan["buckets"]) if not (work / "buckets" / f"b{b}.json").exists()], "searched buckets")
        timings["search"] = time.time() - t
        t = time.time()
        per_unit = (timings["kmeans"] + timings["assign"] + timings["search"]) / max(1, len(unit_ids))
        apply_task = ray.remote(apply_unit).options(num_cpus=1)
        _wait_all([apply_task.remote(u, str(staged.root), str(out.root), cfg.threshold, curate.keep_dropped_text,
                                     metas[u]["seconds"] + per_unit) for u in todo], "written units")
        timings["apply"] = time.time() - t
        summary = summarize(plan, cfg, work, timings, out.root / "plots")
        write_json_atomic(summary_path, summary)
        print(f"[dedup] {summary['rows']:,} rows, {summary['clusters_non_empty']} clusters (max "
              f"{summary['cluster_size_max']}), {summary['dropped']:,} near duplicates dropped",
              file=sys.stderr, flush=True)
        return summary

    def _plan(self, work: Path, metas: dict[str, dict]) -> dict[str, int]:
        """The cluster plan of this run, made once (``_dedup/plan.json``) from the total row count."""
        plan_path = work / "plan.json"
        if plan_path.exists():
            return json.loads(plan_path.read_text(encoding="utf-8"))
        cpus = int(ray.cluster_resources().get("CPU", 1))
        plan = plan_clusters(sum(m["rows"] for m in metas.values()), self.config, cpus)
        write_json_atomic(plan_path, plan)
        return plan

    def _train_centroids(self, work: Path, plan: dict, metas: dict[str, dict], root: Path, opts: dict) -> None:
        """``_dedup/centroids.npy``: k-means on a seeded sample of the embeddings (once per run)."""
        centroids_path = work / "centroids.npy"
        if not plan["k"] or centroids_path.exists():
            return
        units = [u for u in metas if metas[u]["rows"]]
        sample_task = ray.remote(sample_unit).options(**opts)
        parts = _wait_all([sample_task.remote(str(emb_path(root, u)), u, plan["sample"] / plan["rows"], self.config.seed)
                           for u in units], "k-means sample units")
        sample = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
        if len(sample) == 0:  # tiny corpus: the sample missed every row
            sample = np.concatenate([load_npy(emb_path(root, u)) for u in units])
        centroids = ray.get(ray.remote(train_kmeans).options(**opts).remote(sample, plan["k"], self.config))
        save_npy_atomic(centroids, centroids_path)
