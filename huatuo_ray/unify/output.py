"""Unify output rows (HuatuoGPT2 release format + lineage), the end-of-run release files and stats.

    DIR/kept/<unit>.parquet         one row per kept pair: id, conversations, lineage, checks, attempts_json
    DIR/dropped/<unit>.parquet      segments whose pair failed its checks (reason = last attempt's reason)
    DIR/quarantined/<unit>.parquet  segments whose requests failed (LLM errors): pending, a rerun retries them
    DIR/_markers, _run.json         as in curation (huatuo_ray/io/output.py)
    DIR/release/huatuogpt2.jsonl    every kept pair, release format + lineage, in unit order
    DIR/release/huatuogpt2.parquet  the same as one Parquet file
    DIR/stats.json, DIR/plots/      ledger, request counts, deviation histogram
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.errors import LedgerError
from huatuo_ray.io.atomic import atomic_path, write_json_atomic, write_parquet_atomic
from huatuo_ray.io.output import OutputDir
from huatuo_ray.ledger import Ledger
from huatuo_ray.unify.generate import PairOutcome

LINEAGE = ("source", "source_type", "language", "doc_id", "span_start", "span_end", "path")
RELEASE_COLUMNS = ("id", "conversations", "segment_id", "doc_id", "source", "source_type", "language",
                   "target_language", "span_start", "span_end")


def lineage(segment: dict) -> dict[str, Any]:
    return {"segment_id": segment.get("id"), **{k: segment.get(k) for k in LINEAGE}}


def kept_row(segment: dict, o: PairOutcome, target_language: str, model: str, keep_attempts: bool) -> dict:
    """A release-format row: the model's text only ever lands in the two ``value`` strings."""
    return {
        "id": str(segment.get("id")),
        "conversations": [{"from": "human", "value": o.question}, {"from": "gpt", "value": o.answer}],
        **lineage(segment),
        "target_language": target_language,
        "deviation": o.deviation,
        "deviation_kind": o.deviation_kind,
        "attempts": len(o.attempts),
        "truncated_source": o.truncated,
        "model": model,
        "attempts_json": json.dumps(o.attempts, ensure_ascii=False) if keep_attempts else None,
    }


def rejected_row(segment: dict, o: PairOutcome, target_language: str, model: str) -> dict:
    return {
        "id": str(segment.get("id")),
        **lineage(segment),
        "stage": "unify",
        "reason": o.reason,
        "target_language": target_language,
        "attempts": len(o.attempts),
        "model": model,
        "text": segment.get("text"),
        "attempts_json": json.dumps(o.attempts, ensure_ascii=False),
    }


def finish_unify(out_dir: OutputDir, unit_ids: list[str], started: float, done_before: int, ran: int,
                 fingerprint: str) -> dict[str, Any]:
    """Check every unit's ledger against its files, write the release files, stats.json and a plot."""
    markers = out_dir.markers(unit_ids)
    if len(markers) != len(unit_ids):
        raise LedgerError(f"{len(unit_ids) - len(markers)} units have no completion marker after the run")
    total, counters, hist = Ledger(), Counter(), Counter()
    for m in markers:
        unit = Ledger.from_dict(m["ledger"])
        unit.check(f"unit {m['unit_id']}")
        rows = out_dir.row_counts(m["unit_id"])
        expected = {"kept": unit.kept_rows, "dropped": sum(s.dropped_total for s in unit.stages),
                    "quarantined": unit.quarantined_total}
        if rows != expected:
            raise LedgerError(f"unit {m['unit_id']}: rows on disk {rows} != ledger {expected}")
        total.merge(unit)
        counters.update(m.get("requests", {}))
        hist.update(m.get("deviation_hist", {}))
    total.check("run")
    n_release = write_release(out_dir, unit_ids)
    stats = {
        "job": "unify",
        "output": str(out_dir.root),
        "recipe_fingerprint": fingerprint,
        "units": {"total": len(unit_ids), "done_before_this_run": done_before, "run_now": ran},
        "elapsed_s": round(time.time() - started, 3),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "balanced": True,
        "segments": total.records,
        "pairs": total.kept_rows,
        "llm_errors": total.quarantined_total,
        "ledger": total.to_dict(),
        "requests": dict(counters),
        "release": {"rows": n_release, "jsonl": "release/huatuogpt2.jsonl", "parquet": "release/huatuogpt2.parquet"},
        "deviation_hist": dict(sorted(hist.items())),
    }
    stats["plots"] = _plot(hist, out_dir.root / "plots")
    write_json_atomic(out_dir.root / "stats.json", stats)
    return stats


def write_release(out_dir: OutputDir, unit_ids: list[str]) -> int:
    """Concatenate kept pairs into release/huatuogpt2.{jsonl,parquet}; fails on a duplicate id."""
    rel = out_dir.root / "release"
    rel.mkdir(exist_ok=True)
    tables = [pq.read_table(p, columns=list(RELEASE_COLUMNS)) for u in unit_ids
              if (p := out_dir.path("kept", u)).exists()]
    table = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({c: [] for c in RELEASE_COLUMNS})
    ids = table.column("id").to_pylist()
    if len(set(ids)) != len(ids):
        raise LedgerError(f"duplicate ids in the release: {len(ids) - len(set(ids))}")
    write_parquet_atomic(table, rel / "huatuogpt2.parquet")
    with atomic_path(rel / "huatuogpt2.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in table.to_pylist():
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(ids)


def _plot(hist: Counter, plots: Path) -> list[str]:
    if not hist:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.mkdir(exist_ok=True)
    keys = sorted(hist)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar([float(k.split(":")[1]) for k in keys], [hist[k] for k in keys], width=0.045,
           color=["tab:blue" if k.startswith("jaccard") else "tab:orange" for k in keys])
    ax.set_xlabel("deviation score of accepted and rejected answers (blue: Jaccard, orange: embedding)")
    ax.set_ylabel("answers")
    fig.tight_layout()
    path = plots / "deviation.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [str(path.relative_to(plots.parent))]
