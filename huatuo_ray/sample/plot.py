"""The share of each source over training progress (the paper's Figure 4), as a stacked-area PNG.

The ordered stream is cut into consecutive windows of equal size; each writer counts its rows
per (window, source), so the plot never needs the whole order in one place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def window_counts(first: int, src: np.ndarray, window: int, n_windows: int, n_sources: int) -> np.ndarray:
    """Rows per (window, source) of a run of the order starting at position ``first``."""
    pos = np.arange(first, first + len(src), dtype=np.int64)
    flat = (pos // window) * n_sources + src.astype(np.int64)
    return np.bincount(flat, minlength=n_windows * n_sources)[: n_windows * n_sources].reshape(n_windows, n_sources)


def write_share_plot(counts: np.ndarray, names: list[str], window: int, total: int, path: Path,
                     title: str = "source share over training") -> str | None:
    """Stacked area of each source's share per window against training progress (% of the stream)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(counts, dtype=np.float64)
    if counts.size == 0 or total == 0:
        return None
    sizes = counts.sum(axis=1, keepdims=True)
    shares = counts / np.maximum(sizes, 1)
    mid = (np.arange(len(counts)) * window + sizes[:, 0] / 2) / total * 100
    order = np.argsort(shares.argmax(axis=0), kind="stable")  # sources stacked by when they peak, earliest lowest
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.stackplot(mid, shares[:, order].T, labels=[names[i] for i in order], alpha=0.85)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"training progress (% of {total:,} items; windows of {window:,})")
    ax.set_ylabel("share of window")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)

