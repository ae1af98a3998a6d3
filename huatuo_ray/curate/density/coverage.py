"""Weighted coverage of a text by its term matches, and which matches are maximal.

A hit is one match ``(start, end, term)`` in units. Overlapping hits form a cluster; every unit of a cluster
counts once, at the largest weight among the hits covering it, so coverage never exceeds the text's length.
A hit is *maximal* when no other hit contains it (功能 inside 肾功能衰竭 is not). Two implementations per
question: plain Python for a few hits (:func:`coverage_py`) and numpy for many (:func:`coverage_np`, and
:func:`maximal_mask` / :func:`cluster_coverage` over the hits of a whole batch of documents).
"""

from __future__ import annotations

import numpy as np


def maximal_mask(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Mask of the maximal hits among hits (start ``s``, end ``e``) in order of end: those contained in no other
    hit ((start, end) pairs are unique: one key per term). A hit is contained iff a hit with the same end starts
    earlier, or a hit with a larger end starts at or before it; equivalent to the (start, -end) sweep of
    coverage_py ("end > largest end so far")."""
    m = len(s)
    new_end = np.empty(m, dtype=bool)
    new_end[:1] = True
    np.not_equal(e[1:], e[:-1], out=new_end[1:])
    group = np.cumsum(new_end) - 1
    gmin = np.minimum.reduceat(s, np.flatnonzero(new_end))
    later = np.empty_like(gmin)  # smallest start among hits with a larger end
    later[-1] = np.iinfo(np.int64).max
    later[:-1] = np.minimum.accumulate(gmin[:0:-1])[::-1]
    return (s == gmin[group]) & (later[group] > s)


def cluster_coverage(s: np.ndarray, e: np.ndarray, w: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(document, weighted coverage) of each cluster of overlapping hits, for ``np.bincount``.

    Hits (start ``s``, end ``e``, weight ``w``, document ``doc``) come in order of end. Clusters are contiguous
    in that order: hit i starts a new cluster iff every hit from i on starts at or after the end of hit i-1
    (the largest end so far). A one-hit cluster covers (e - s) units at its weight; in a cluster of several
    hits each unit counts once at the max weight of the hits covering it (np.maximum.at on a compact array
    holding only the spans of those clusters), as in coverage_py.
    """
    m = len(s)
    new_cluster = np.empty(m, dtype=bool)
    new_cluster[:1] = True
    if m > 1:
        suffix_min = np.minimum.accumulate(s[::-1])[-2::-1]  # suffix_min[i - 1] = min(s[i:]), i >= 1
        np.greater_equal(suffix_min, e[:-1], out=new_cluster[1:])
    first = np.flatnonzero(new_cluster)
    size = np.diff(first, append=m)
    contrib = (e[first] - s[first]) * w[first]  # right for one-hit clusters
    several = size > 1
    if several.any():
        in_several = np.repeat(several, size)
        c_first = first[several]
        c_start = np.minimum.reduceat(s, first)[several]
        c_span = e[c_first + size[several] - 1] - c_start  # the last hit has the largest end
        c_off = np.cumsum(c_span) - c_span  # where each cluster's span begins in the compact array
        hs, he = s[in_several], e[in_several]
        lens = he - hs
        hit_cluster = np.repeat(np.arange(len(c_first)), size[several])
        hit_off = hs - c_start[hit_cluster] + c_off[hit_cluster]
        pos = np.repeat(hit_off - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        cov = np.zeros(int(c_span.sum()), dtype=np.float64)
        np.maximum.at(cov, pos, np.repeat(w[in_several], lens))
        contrib[several] = np.add.reduceat(cov, c_off)
    return doc[first], contrib


def coverage_py(hits: list[tuple[int, int, int]], weights: list[float]) -> tuple[float, list[int]]:
    """Weighted coverage and maximal-match term ids of hits sorted by (start, -end) (plain Python).

    Runs of overlapping hits form clusters; a cluster of one hit contributes length * weight, a cluster of
    several hits takes the max weight position by position (clusters are short: a few terms).
    """
    covered = 0.0
    maximal: list[int] = []
    max_end = -1
    cluster: list[tuple[int, int, int]] = []

    def close(cl: list[tuple[int, int, int]]) -> float:
        if len(cl) == 1:
            s, e, t = cl[0]
            return (e - s) * weights[t]
        base = cl[0][0]
        cov = [0.0] * (max(e for _, e, _ in cl) - base)
        for s, e, t in cl:
            w = weights[t]
            for p in range(s - base, e - base):
                if w > cov[p]:
                    cov[p] = w
        return sum(cov)

    for hit in hits:
        s, e, t = hit
        if e > max_end:
            maximal.append(t)
        if s >= max_end and cluster:
            covered += close(cluster)
            cluster = []
        cluster.append(hit)
        if e > max_end:
            max_end = e
    covered += close(cluster)
    return covered, maximal


def coverage_np(hits: list[tuple[int, int, int]], weights: np.ndarray) -> tuple[float, list[int]]:
    """Same as :func:`coverage_py`, vectorized (for documents with many hits)."""
    h = np.asarray(hits, dtype=np.int64)
    starts, ends, ids = h[:, 0], h[:, 1], h[:, 2]
    lens = ends - starts
    w = weights[ids]
    base = int(starts.min())
    n_pos = int(lens.sum())
    offs = np.repeat(starts - base - np.cumsum(lens) + lens, lens) + np.arange(n_pos)
    cov = np.zeros(int(ends.max()) - base, dtype=np.float64)
    np.maximum.at(cov, offs, np.repeat(w, lens))
    prev_max = np.maximum.accumulate(np.concatenate(([-1], ends[:-1])))
    return float(cov.sum()), ids[ends > prev_max].tolist()


