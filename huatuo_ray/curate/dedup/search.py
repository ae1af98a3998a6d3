"""Near-duplicate search: the keep rule inside one cluster, and the search over the clusters of one bucket.

Keep rule (deterministic): the rows of a cluster are ranked by (longer text first, then smaller record id,
then work unit and row). Walking that ranking, a row is dropped when its cosine similarity to an
already *kept* row is >= the threshold, and names the most similar such row (ties: the higher-ranked one)
as ``duplicate_of``; otherwise it is kept. So every dropped row is within the threshold of a row that is
kept in the output (a representative always exists), partial copies lose to the fuller text, and the
result does not depend on input order, worker count or bucket layout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from huatuo_ray.curate.dedup.layout import WORK
from huatuo_ray.io.atomic import write_json_atomic, write_parquet_atomic
from huatuo_ray.io.storage import location, read_parquet

_BLOCK_CELLS = 1 << 24  # similarity cells per block: 64 MB of float32, whatever the cluster size


@dataclass
class ClusterResult:
    """For each input row (in input order): index of the kept row it duplicates (-1 if kept), and the cosine."""

    duplicate_of: np.ndarray
    similarity: np.ndarray


def rank_order(lengths: np.ndarray, ids: list[str], units: list[str], rows: np.ndarray) -> np.ndarray:
    """Input indices sorted by the keep rule's ranking."""
    return np.array(sorted(range(len(ids)), key=lambda i: (-int(lengths[i]), ids[i], units[i], int(rows[i]))),
                    dtype=np.int64)


def greedy_near_duplicates(emb: np.ndarray, order: np.ndarray, threshold: float) -> ClusterResult:
    """Apply the keep rule to L2-normalised embeddings ``emb`` ranked by ``order``.

    Similarities are computed in row blocks against the higher-ranked rows only (lower triangle), so memory
    stays below ``_BLOCK_CELLS`` floats however large the cluster is.
    """
    n = len(order)
    dup = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float32)
    if n < 2:
        return ClusterResult(dup, sim)
    e = np.ascontiguousarray(emb[order], dtype=np.float32)
    kept = np.zeros(n, dtype=bool)
    block = max(1, min(n, _BLOCK_CELLS // n))
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        s = e[b0:b1] @ e[:b1].T  # (rows of the block) x (all rows ranked up to the block's end)
        r_idx = np.arange(b0, b1)
        s[np.arange(b1)[None, :] >= r_idx[:, None]] = -2.0  # only higher-ranked rows count
        candidates = np.flatnonzero((s >= threshold).any(axis=1))
        kept[b0:b1] = True
        for r in candidates:
            i = b0 + r
            row = np.where(kept[:i], s[r, :i], -2.0)
            j = int(np.argmax(row))
            if row[j] >= threshold:
                kept[i] = False
                dup[order[i]] = order[j]
                sim[order[i]] = row[j]
    return ClusterResult(dup, sim)


def search_bucket(bucket: int, out_root: str, threshold: float) -> dict:
    """Apply the keep rule to every cluster of one bucket; write its drops per unit, then the bucket's marker."""
    t0 = time.perf_counter()
    work = location(out_root) / WORK
    files = sorted(str(f) for f in (work / "shards" / f"b{bucket}").glob("*.parquet"))
    marker = {"bucket": bucket, "rows": 0, "clusters": 0, "dropped": 0, "cluster_sizes": [], "similarity_bins": [0] * 100}
    if files:
        t = pa.concat_tables([read_parquet(f) for f in files])
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
