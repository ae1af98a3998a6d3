"""The last step of semantic dedup: a unit's pre-dedup output minus its near duplicates becomes its final output.

Kept rows gain ``embedding_row`` (their row in ``DIR/embeddings/<unit>.npy``) and ``dedup_cluster``; dropped
near duplicates carry ``duplicate_of`` (the kept row's id), ``dedup_similarity`` and the reason
``near duplicate: cosine # >= #``. The unit's ledger gains the dedup stage, and its marker is written last.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from huatuo_ray.curate.dedup.config import NAME
from huatuo_ray.curate.dedup.layout import WORK
from huatuo_ray.curate.histograms import Histograms
from huatuo_ray.io.atomic import write_parquet_atomic
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.storage import load_npy, location, read_parquet
from huatuo_ray.ledger import Ledger


def _drops(work: Path, unit_id: str) -> dict[int, dict]:
    """The unit's near duplicates found by every bucket, by row."""
    files = sorted(str(f) for f in (work / "drops" / unit_id).glob("*.parquet"))
    rows = pa.concat_tables([read_parquet(f) for f in files]).to_pylist() if files else []
    return {d["row"]: d for d in rows}


def _annotate(dups: pa.Table, by_row: dict[int, dict], threshold: float, keep_text: bool) -> tuple[pa.Table, list[str]]:
    """The dropped-row table of the near duplicates ``dups``, and their reasons."""
    info = [by_row[r] for r in dups.column("embedding_row").to_pylist()]
    reasons = [f"near duplicate: cosine {d['dedup_similarity']:.3f} >= {threshold}" for d in info]
    if not keep_text:
        dups = dups.drop_columns(["text"])
    for name, values, typ in (("stage", [NAME] * len(info), pa.string()), ("reason", reasons, pa.string()),
                              ("duplicate_of", [d["duplicate_of"] for d in info], pa.string()),
                              ("dedup_similarity", [round(d["dedup_similarity"], 6) for d in info], pa.float64())):
        dups = dups.append_column(name, pa.array(values, typ))
    return dups, reasons


def _write(out: OutputDir, kind: str, unit_id: str, table: pa.Table | None) -> None:
    if table is not None and table.num_rows:
        write_parquet_atomic(table, out.path(kind, unit_id))
    else:
        out.path(kind, unit_id).unlink(missing_ok=True)


def _read(pre: OutputDir, kind: str, unit_id: str) -> pa.Table | None:
    path = pre.path(kind, unit_id)
    return read_parquet(path) if path.exists() else None


def apply_unit(unit_id: str, pre_root: str, out_root: str, threshold: float, keep_dropped_text: bool,
               seconds: float) -> dict:
    """Write the unit's final kept / dropped / quarantined files and marker; ``seconds``: its share of dedup so far."""
    t0 = time.perf_counter()
    pre, out = OutputDir(pre_root), OutputDir(out_root)
    work = location(out_root) / WORK
    marker = json.loads(pre.marker(unit_id).read_text(encoding="utf-8"))
    kept = _read(pre, "kept", unit_id)
    kept = pa.table({}) if kept is None else kept
    n = kept.num_rows
    by_row = _drops(work, unit_id)
    is_dup = np.zeros(n, dtype=bool)
    is_dup[list(by_row)] = True
    if n:
        kept = kept.append_column("embedding_row", pa.array(np.arange(n), pa.int64()))
        kept = kept.append_column("dedup_cluster", pa.array(load_npy(work / "assign" / f"{unit_id}.npy"), pa.int64()))
        final_kept, dups = kept.filter(pa.array(~is_dup)), kept.filter(pa.array(is_dup))
    else:
        final_kept, dups = kept, kept
    dropped = [t for t in (_read(pre, "dropped", unit_id),) if t is not None]
    reasons: list[str] = []
    hist = Histograms.from_dict(marker["hist"])
    if dups.num_rows:
        hist.forget_kept(dups.column("text").to_pylist())  # the pre-dedup histogram counted them as kept
        table, reasons = _annotate(dups, by_row, threshold, keep_dropped_text)
        dropped.append(table)
    ledger = Ledger.from_dict(marker["ledger"])
    ledger.record(NAME, rows_in=n, kept_in=final_kept.num_rows, rows_out=final_kept.num_rows, reasons=reasons)
    ledger.check(f"unit {unit_id}")
    _write(out, "kept", unit_id, final_kept)
    _write(out, "dropped", unit_id, pa.concat_tables(dropped, promote_options="permissive") if dropped else None)
    _write(out, "quarantined", unit_id, _read(pre, "quarantined", unit_id))
    secs = {**marker["seconds"], NAME: seconds + time.perf_counter() - t0}
    out.write_marker(unit_id, {**marker, "ledger": ledger.to_dict(), "hist": hist.to_dict(), "seconds": secs})
    return {"unit_id": unit_id, "dropped": int(is_dup.sum())}
