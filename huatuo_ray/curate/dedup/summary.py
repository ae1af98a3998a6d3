"""What semantic dedup reports in stats.json: the cluster plan, cluster sizes, drops, timings, and a plot."""

from __future__ import annotations

import json
from pathlib import Path

from huatuo_ray.curate.dedup.config import DedupConfig
from huatuo_ray.io.atomic import atomic_path


def summarize(plan: dict, cfg: DedupConfig, work: Path, timings: dict[str, float], plots: Path) -> dict:
    """The summary of a finished dedup, from the plan and every bucket's marker; draws ``plots/dedup.png``."""
    buckets = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((work / "buckets").glob("b*.json"))]
    sizes = sorted(s for b in buckets for s in b["cluster_sizes"])
    summary = {**plan, "model": cfg.model, "threshold": cfg.threshold, "dropped": sum(b["dropped"] for b in buckets),
               "clusters_non_empty": len(sizes), "cluster_size_max": sizes[-1] if sizes else 0,
               "cluster_size_median": sizes[len(sizes) // 2] if sizes else 0,
               "wall_seconds_this_run": {k: round(v, 3) for k, v in timings.items()}}
    summary["plot"] = _plot(sizes, [sum(b) for b in zip(*(m["similarity_bins"] for m in buckets))], cfg.threshold,
                            plots / "dedup.png")
    return summary


def _plot(sizes: list[int], sim_bins: list[int], threshold: float, path: Path) -> str | None:
    """Cluster sizes and the similarity of dropped rows to their representative."""
    if not sizes:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return str(path)
