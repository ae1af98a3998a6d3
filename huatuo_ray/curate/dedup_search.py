"""Near-duplicate search inside one cluster, and the keep rule.

Keep rule (deterministic): the rows of a cluster are ranked by (longer text first, then smaller record id,
then work unit and row). Walking that ranking, a row is dropped when its cosine similarity to an
already *kept* row is >= the threshold, and names the most similar such row (ties: the higher-ranked one)
as ``duplicate_of``; otherwise it is kept. So every dropped row is within the threshold of a row that is
kept in the output (a representative always exists), partial copies lose to the fuller text, and the
result does not depend on input order, worker count or bucket layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
