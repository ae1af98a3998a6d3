"""The end of a run: one table of every step's counts, the hand-offs between steps checked, ``run.json``.

Each step's ``counts`` adds up on its own (in = kept + dropped + quarantined); here the hand-offs are checked
too: the segments curation kept are the segments unification read, the pairs and SFT conversations kept are the
rows the sampler ordered (times epochs), the ordered items are the samples packed.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from huatuo_ray.errors import LedgerError
from huatuo_ray.io.atomic import write_json_atomic
from huatuo_ray.redact import mask


def handoffs(stats: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Equalities between what a step wrote and what the next one read."""
    out = []

    def check(what: str, a: int, b: int) -> None:
        out.append({"check": what, "left": a, "right": b, "ok": a == b})

    if "curate" in stats and "unify" in stats:
        check("segments kept by curate = segments read by unify", stats["curate"]["counts"]["out"],
              stats["unify"]["counts"]["in"])
    if "sample" in stats:
        by_name = {s["name"]: s for s in stats["sample"]["sources"]}
        if "unify" in stats:
            for typ, part in stats["unify"]["release"]["by_type"].items():
                if typ in by_name:
                    check(f"unified {typ} pairs = {typ} rows ordered + dropped", part["rows"],
                          by_name[typ]["items"] + by_name[typ].get("dropped", 0))
        if "sft" in stats:
            for name, part in stats["sft"]["by_source"].items():
                if name in by_name:
                    check(f"SFT conversations of {name} = its rows ordered + dropped", part["conversations"],
                          by_name[name]["items"] + by_name[name].get("dropped", 0))
    if "sample" in stats and "pack" in stats:
        check("items ordered = samples packed, truncated or dropped", stats["sample"]["total"],
              stats["pack"]["counts"]["in"])
    return out


def summary_table(stats: dict[str, dict[str, Any]], states: dict[str, str], root: Path) -> str:
    table = Table(title=f"run: {root}", show_lines=False)
    for col in ("step", "state", "items", "in", "kept", "dropped", "quarantined", "out", "seconds"):
        table.add_column(col, justify="left" if col in ("step", "state", "items") else "right")
    for name, s in stats.items():
        c = s["counts"]
        table.add_row(name, states.get(name, ""), c["item"], f"{c['in']:,}", f"{c['kept']:,}", f"{c['dropped']:,}",
                      f"{c['quarantined']:,}", f"{c['out']:,}", f"{s.get('elapsed_s', 0):.0f}")
    buf = io.StringIO()
    Console(file=buf, width=140, force_terminal=False).print(table)
    return buf.getvalue().rstrip()


def finish_run(root: Path, stats: dict[str, dict[str, Any]], states: dict[str, str], started: float,
               write: bool = True) -> dict:
    """Check the hand-offs, write ``<run.dir>/run.json`` (unless ``write`` is false: a step run into a directory of
    its own) and return it, with the printable table."""
    checks = handoffs(stats)
    bad = [c for c in checks if not c["ok"]]
    if bad:
        raise LedgerError("; ".join(f"{c['check']}: {c['left']:,} != {c['right']:,}" for c in bad))
    summary = {
        "run_dir": str(root), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_s": round(time.time() - started, 1),
        "steps": {n: {"state": states.get(n), "output": s["output"], "counts": s["counts"],
                      "elapsed_s": s.get("elapsed_s"), "plots": s.get("plots") or ([s["plot"]] if s.get("plot") else [])}
                  for n, s in stats.items()},
        "handoffs": checks,
    }
    if write:
        root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(root / "run.json", mask(summary))
    summary["table"] = summary_table(stats, states, root)
    return summary
