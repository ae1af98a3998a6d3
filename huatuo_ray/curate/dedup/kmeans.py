"""The k-means partition of semantic dedup: how many clusters, the seeded sample they are trained on, faiss.

k = ceil(rows / cluster_size) clusters, trained with faiss (spherical k-means) on a seeded sample of
k * kmeans_points_per_cluster rows (at most kmeans_max_sample); each row then belongs to its nearest centroid.
Clusters are grouped into buckets (cluster mod buckets) so that one Ray task searches one bucket.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from huatuo_ray.curate.dedup.config import DedupConfig
from huatuo_ray.errors import SetupError
from huatuo_ray.io.storage import load_npy


def plan_clusters(rows: int, cfg: DedupConfig, cpus: int) -> dict[str, int]:
    """k, the k-means sample size and the bucket count for ``rows`` rows."""
    k = max(1, math.ceil(rows / cfg.cluster_size)) if rows else 0
    sample = min(rows, cfg.kmeans_max_sample, max(k, k * cfg.kmeans_points_per_cluster))
    buckets = max(1, min(k, max(2 * cpus, math.ceil(rows / cfg.bucket_rows)))) if k else 0
    return {"rows": rows, "k": k, "sample": sample, "buckets": buckets}


def sample_unit(path: str, unit_id: str, fraction: float, seed: int) -> np.ndarray:
    """A seeded ``fraction`` of one unit's embeddings (the same rows on every run)."""
    emb = load_npy(path, mmap=True)
    rng = np.random.default_rng([seed, zlib.crc32(unit_id.encode())])
    return np.array(emb[rng.random(len(emb)) < fraction], dtype=np.float32)


def _check_gpu(gpu: bool) -> None:
    import faiss

    if gpu and faiss.get_num_gpus() == 0:
        raise SetupError("curate.dedup.faiss_gpu is set but faiss sees no GPU here (install faiss-gpu and give the "
                         "dedup tasks a GPU with curate.resources.dedup.num_gpus)")


def train_kmeans(sample: np.ndarray, k: int, cfg: DedupConfig) -> np.ndarray:
    """The k (at most one per sampled row) centroids, float32."""
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

