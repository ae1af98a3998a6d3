"""Where semantic dedup keeps its intermediates under a curation output directory ``DIR``.

    DIR/_pre_dedup/                  the unit stages' output (usual layout and markers), dedup's input
    DIR/embeddings/<unit>.npy        embeddings of the unit's pre-dedup kept rows (+ .json marker)
    DIR/_dedup/plan.json             k, sample size, buckets;  centroids.npy: the k-means centroids
    DIR/_dedup/assign/<unit>.npy     each row's cluster;  sharded/<unit>.json: the unit is assigned
    DIR/_dedup/shards/b<bucket>/<unit>.parquet   the unit's rows of the clusters of one bucket
    DIR/_dedup/drops/<unit>/b<bucket>.parquet    near duplicates found in one bucket;  buckets/b<bucket>.json
    DIR/_dedup/summary.json          the dedup summary of the run
"""

from __future__ import annotations

from pathlib import Path

from huatuo_ray.io.storage import location, rmtree

PRE_DEDUP = "_pre_dedup"
WORK = "_dedup"
EMBEDDINGS = "embeddings"
WORK_FOLDERS = ("shards", "drops", "assign", "buckets", "sharded")


def emb_path(root: Path, unit_id: str) -> Path:
    return location(root) / EMBEDDINGS / f"{unit_id}.npy"


def emb_done(root: Path, unit_id: str) -> bool:
    return emb_path(root, unit_id).with_suffix(".json").exists()


def remove_state(root: Path) -> None:
    """Forget every dedup intermediate of an output directory (for --overwrite)."""
    for name in (PRE_DEDUP, WORK, EMBEDDINGS):
        rmtree(location(root) / name)
