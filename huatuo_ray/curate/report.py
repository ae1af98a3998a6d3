"""End of a curation run: add up unit ledgers, verify the files, write stats.json, table and plots."""

from __future__ import annotations

import io
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from huatuo_ray.curate import registry
from huatuo_ray.curate.config import CurateConfig
from huatuo_ray.curate.histograms import LENGTH_BIN, LENGTH_BINS, Histograms
from huatuo_ray.curate.spec import HistogramSpec
from huatuo_ray.errors import LedgerError
from huatuo_ray.io.atomic import atomic_path, write_json_atomic
from huatuo_ray.io.output import OutputDir
from huatuo_ray.ledger import Ledger
from huatuo_ray.recipe import Recipe


def finish_run(
    recipe: Recipe, stages: list[str], out_dir: OutputDir, unit_ids: list[str], started: float, done_before: int, ran: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Aggregate every unit's marker, check the ledger against the files, write stats and plots."""
    markers = out_dir.markers(unit_ids)
    missing = len(unit_ids) - len(markers)
    if missing:
        raise LedgerError(f"{missing} work units have no completion marker after the run")
    total, by_source, hist, seconds = Ledger(), {}, Histograms(), Counter()
    for m in markers:
        unit = Ledger.from_dict(m["ledger"])
        unit.check(f"unit {m['unit_id']}")
        _verify_files(out_dir, m["unit_id"], unit)
        total.merge(unit)
        by_source.setdefault(m["unit"]["source"], Ledger()).merge(unit)
        hist.merge(Histograms.from_dict(m["hist"]))
        seconds.update(m["seconds"])
    total.check("run")
    stats = {
        "output": str(out_dir.root),
        "stages": stages,
        "units": {"total": len(unit_ids), "done_before_this_run": done_before, "run_now": ran},
        "elapsed_s": round(time.time() - started, 3),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "balanced": True,
        "ledger": total.to_dict(),
        "by_source": {k: v.to_dict() for k, v in sorted(by_source.items())},
        "histograms": hist.to_dict(),
        "worker_seconds": {k: round(v, 3) for k, v in seconds.items()},
        **(extra or {}),
    }
    stats["plots"] = write_plots(hist, out_dir.root / "plots", recipe.curate)
    write_json_atomic(out_dir.root / "stats.json", stats)  # as a step of a run, the run rewrites it with its identity
    print(summary_table(stats))
    return stats


def _verify_files(out_dir: OutputDir, unit_id: str, ledger: Ledger) -> None:
    rows = out_dir.row_counts(unit_id)
    expected = {
        "kept": ledger.kept_rows,
        "dropped": sum(s.dropped_total for s in ledger.stages),
        "quarantined": ledger.quarantined_total,
    }
    if rows != expected:
        raise LedgerError(f"unit {unit_id}: rows on disk {rows} != ledger {expected}")


def summary_table(stats: dict[str, Any]) -> str:
    """The readable end-of-run table: per step rows in / kept / dropped and the top reasons."""
    led = stats["ledger"]
    table = Table(title=f"curation ledger: {stats['output']}", show_lines=False)
    secs = stats.get("worker_seconds", {})
    mchars = led["input_chars"] / 1e6
    for col in ("step", "in", "kept", "out", "dropped / quarantined", "worker s", "top reasons"):
        table.add_column(col, justify="left" if col in ("step", "top reasons") else "right")
    table.add_row("read", f"{led['records']:,}", f"{led['records'] - led['quarantined']:,}",
                  f"{led['records'] - led['quarantined']:,}", f"{led['quarantined']:,}",
                  _secs(secs.get("read")), _top(led["quarantined_by_reason"]))
    for s in led["stages"]:
        table.add_row(s["name"], f"{s['rows_in']:,}", f"{s['kept_in']:,}", f"{s['rows_out']:,}",
                      f"{s['dropped']:,}", _secs(secs.get(s["name"])), _top(s["dropped_by_reason"]))
    table.add_row("write", "", "", "", "", _secs(secs.get("write")), "")
    buf = io.StringIO()
    Console(file=buf, width=140, force_terminal=False).print(table)
    balance = (f"input records {led['records']:,} = kept documents {led['kept_documents']:,} + dropped "
               f"{led['dropped_documents']:,} + quarantined {led['quarantined']:,}   (kept rows: {led['kept_rows']:,}; "
               f"units: {stats['units']['total']}, {stats['units']['done_before_this_run']} resumed; "
               f"{mchars:.1f} M chars read)")
    return buf.getvalue() + balance


def _secs(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}"


def _top(reasons: dict[str, int], n: int = 3) -> str:
    items = list(reasons.items())[:n]
    more = len(reasons) - n
    text = "; ".join(f"{r} x{c:,}" for r, c in items)
    return text + (f"; +{more} more" if more > 0 else "")


def write_plots(hist: Histograms, folder: Path, curate: CurateConfig) -> list[str]:
    """Each declared score histogram (kept vs dropped, per language) and kept-row lengths, as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for s in registry.SPECS:
        for h in s.histograms:
            if hist.scores.get(h.name):
                written.append(_plot_scores(h, hist.scores[h.name], getattr(curate, s.name), folder / f"{h.name}.png",
                                            plt))
    if any(hist.kept_chars):
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.stairs(hist.kept_chars, [i * LENGTH_BIN for i in range(LENGTH_BINS + 1)], fill=True)  # one artist, not a bar each
        ax.set_title("kept rows by length")
        ax.set_xlabel(f"characters (last bar: >= {(LENGTH_BINS - 1) * LENGTH_BIN})")
        ax.set_ylabel("rows")
        written.append(_save(fig, folder / "kept_lengths.png", plt))
    return written


def _plot_scores(h: HistogramSpec, by_lang: dict[str, dict[str, list[int]]], stage_cfg, path: Path, plt) -> str:
    langs = sorted(by_lang)
    fig, axes = plt.subplots(1, len(langs), figsize=(6 * len(langs), 4), squeeze=False)
    edges = [i / h.bins for i in range(h.bins + 1)]
    for ax, lang in zip(axes[0], langs):
        for outcome, colour in (("dropped", "tab:red"), ("kept", "tab:green")):
            bins = by_lang[lang].get(outcome)
            if bins:
                ax.stairs(bins, edges, fill=True, alpha=0.6, color=colour, label=outcome)
        threshold = h.threshold(stage_cfg, lang)
        if threshold is not None:
            ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        ax.set_title(f"{h.title} ({lang})")
        ax.set_xlabel(h.x_label)
        ax.set_ylabel(h.y_label)
        if h.x_max < 1.0:
            ax.set_xlim(0, h.x_max)
        ax.legend()
    return _save(fig, path, plt)


def _save(fig, path: Path, plt) -> str:
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return str(path)
