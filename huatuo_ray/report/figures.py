"""The plots the steps do not draw themselves, as PNG bytes (matplotlib, Agg): the funnel, quality labels, dedup
group sizes, unification outcomes, training throughput. The steps' own plots are embedded as they are."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

KEPT, DROPPED, QUARANTINED = "tab:green", "tab:red", "tab:orange"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def file_uri(path: Path) -> str | None:
    """A PNG file as a data URI, or None when it is missing or not a PNG."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return data_uri(data) if data.startswith(b"\x89PNG") else None


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig, plt) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


@dataclass
class FunnelRow:
    label: str  # stage
    unit: str  # what is counted
    inp: int
    kept: int
    dropped: int
    quarantined: int = 0
    out: str = ""  # what comes out, when it is not the kept items (e.g. "715 segments")


def funnel(rows: list[FunnelRow]) -> bytes:
    """One bar per stage, its input as 100%: kept, dropped and quarantined shares, with the counts written."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(rows) + 1.2))
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        total = max(r.inp, 1)
        left = 0.0
        for value, colour in ((r.kept, KEPT), (r.dropped, DROPPED), (r.quarantined, QUARANTINED)):
            ax.barh(y, value / total, left=left, color=colour, height=0.6)
            left += value / total
        text = f"{r.inp:,} {r.unit}: {r.kept:,} kept"
        text += f", {r.dropped:,} dropped" if r.dropped else ""
        text += f", {r.quarantined:,} quarantined" if r.quarantined else ""
        text += f" -> {r.out}" if r.out else ""
        ax.text(1.02, y, text, va="center", fontsize=9)
    ax.set_yticks(ys, [r.label for r in rows])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the stage's input")
    ax.set_title("funnel: every stage's input, kept (green), dropped (red), quarantined (orange)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.subplots_adjust(right=0.55)
    return _png(fig, plt)


def stacked_bars(categories: list[str], series: dict[str, list[int]], colours: dict[str, str], title: str,
                 xlabel: str) -> bytes:
    """Horizontal bars, one per category, stacked by series (e.g. quality label x outcome)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(categories) + 1.5))
    ys = list(range(len(categories)))[::-1]
    left = [0] * len(categories)
    for name, values in series.items():
        ax.barh(ys, values, left=left, color=colours.get(name), label=name, height=0.6)
        left = [a + b for a, b in zip(left, values)]
    for y, total in zip(ys, left):
        ax.text(total, y, f" {total:,}", va="center", fontsize=9)
    ax.set_yticks(ys, categories)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.set_xlim(0, max(left + [1]) * 1.15)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig, plt)


def group_sizes(sizes: dict[int, int]) -> bytes:
    """Near-duplicate groups by size (a kept representative plus the rows dropped as its duplicates)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    xs = sorted(sizes)
    ax.bar(xs, [sizes[x] for x in xs], color="tab:purple", width=0.8)
    ax.set_xlabel("rows in the group (the kept representative + its dropped near duplicates)")
    ax.set_ylabel("groups")
    if max(sizes.values()) > 50:
        ax.set_yscale("log")
    ax.set_title(f"near-duplicate groups: {sum(sizes.values()):,} with at least one duplicate")
    ax.set_xticks(xs if len(xs) <= 20 else xs[:: max(1, len(xs) // 20)])
    return _png(fig, plt)


def throughput(metrics: list[dict]) -> bytes:
    """Tokens per second per step (all workers) and MFU, from the training metrics log."""
    plt = _plt()
    steps = [r["step"] for r in metrics]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(steps, [r.get("tokens_per_s") or 0 for r in metrics], marker="o", color="tab:blue", label="tokens/s")
    ax.set_xlabel("global step")
    ax.set_ylabel("tokens per second (all workers)")
    if any(r.get("mfu") is not None for r in metrics):
        ax2 = ax.twinx()
        ax2.plot(steps, [100 * (r.get("mfu") or 0) for r in metrics], color="tab:gray", alpha=0.6, label="MFU %")
        ax2.set_ylabel("MFU % (of train.peak_flops)")
    ax.set_title("training throughput")
    return _png(fig, plt)
