"""The end-of-evaluation table (rich) and the accuracy plot (matplotlib, Agg)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from rich.table import Table

from huatuo_ray.io.atomic import atomic_path


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def results_table(results: dict) -> str:
    """Benchmarks as rows; per model: accuracy % (correct / n), unanswered, errors, log-likelihood accuracy."""
    models = list(results["models"])
    table = Table(title="zero-shot multiple choice")
    table.add_column("benchmark")
    table.add_column("n", justify="right")
    loglik = {m for b in results["results"].values() for m, r in b.items() if "loglik" in r}
    for m in models:
        table.add_column(f"{m} acc %", justify="right")
        table.add_column("unans.", justify="right")
        table.add_column("err.", justify="right")
        if m in loglik:
            table.add_column(f"{m} loglik %", justify="right")
    for bench, per_model in results["results"].items():
        row = [bench, str(results["benchmarks"][bench]["items"])]
        for m in models:
            r = per_model[m]
            row += [f"{_pct(r['accuracy'])} ({r['correct']}/{r['n']})", str(r["unanswered"]), str(r["errored"])]
            if m in loglik:
                row.append(_pct(r["loglik"]["accuracy"]) if "loglik" in r else "-")
        table.add_row(*row)
    buf = io.StringIO()
    Console(file=buf, width=160, force_terminal=False).print(table)
    errors = sum(r["errored"] for b in results["results"].values() for r in b.values())
    note = (f"accuracy = correct / replies; {errors} request(s) failed after retries (not scored; rerun to retry)\n"
            if errors else "")
    return buf.getvalue() + note + f"results: {results['output']}/results.json   predictions: {results['output']}/predictions/"


def plot_accuracy(results: dict, path: Path) -> str:
    """Grouped bars: accuracy per benchmark, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches, models = list(results["results"]), list(results["models"])
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(benches) * max(1, len(models)) ** 0.5), 4))
    for k, m in enumerate(models):
        ys = [100 * (results["results"][b][m]["accuracy"] or 0) for b in benches]
        ax.bar([i + k * width for i in range(len(benches))], ys, width=width, label=m)
    ax.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(benches))], benches)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("zero-shot multiple choice")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return str(path)
