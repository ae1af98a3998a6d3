"""Output directory layout, atomic per-unit writes, completion markers and the run manifest.

    DIR/kept/<unit>.parquet          kept rows
    DIR/dropped/<unit>.parquet       dropped rows: id, stage, reason, ... (the record itself)
    DIR/quarantined/<unit>.parquet   unreadable or invalid input: id, stage, reason, excerpt, ...
    DIR/_markers/<unit>.json         written last: the unit is complete, with its ledger
    DIR/_run.json                    recipe fingerprint and unit plan of the run
    DIR/stats.json                   the run's ledger (written at the end of every run)

Files are written to a temporary name and renamed, so a reader never sees half a file; a unit
counts as done only when its marker exists, and a rerun rewrites units without one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.errors import OutputMismatch
from huatuo_ray.io.atomic import (
    remove_temporaries,
    write_json_atomic,
    write_parquet_atomic,
)

KINDS = ("kept", "dropped", "quarantined")


def rows_to_table(rows: list[dict]) -> pa.Table:
    """Arrow table from dicts whose keys may differ (union of keys, first-seen order, missing -> null)."""
    keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            keys.setdefault(k, None)
    return pa.Table.from_pydict({k: [r.get(k) for r in rows] for k in keys})


class OutputDir:
    """One job's output directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, kind: str, unit_id: str) -> Path:
        return self.root / kind / f"{unit_id}.parquet"

    def marker(self, unit_id: str) -> Path:
        return self.root / "_markers" / f"{unit_id}.json"

    def is_done(self, unit_id: str) -> bool:
        return self.marker(unit_id).exists()

    def prepare(self, job: str, fingerprint: str, recipe: dict, unit_ids: list[str], overwrite: bool) -> int:
        """Create or reopen the directory; refuse a different recipe or input. Returns units already done."""
        manifest_path = self.root / "_run.json"
        if overwrite and self.root.exists():
            for kind in (*KINDS, "_markers", "plots"):
                shutil.rmtree(self.root / kind, ignore_errors=True)
            for name in ("_run.json", "stats.json"):
                (self.root / name).unlink(missing_ok=True)
        if manifest_path.exists():
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
            if old.get("job") != job:
                raise OutputMismatch(f"{self.root} holds the output of a {old.get('job')!r} job, not {job!r}")
            if old["fingerprint"] != fingerprint:
                changes = diff_flat(old["recipe"], recipe)
                shown = "; ".join(changes[:8]) + (" ..." if len(changes) > 8 else "")
                raise OutputMismatch(
                    f"{self.root} was written with a different recipe ({shown}). Refusing to mix outputs: "
                    "use a new --output directory, or --overwrite to discard the old output."
                )
            if old["units"] != unit_ids:
                added = len(set(unit_ids) - set(old["units"]))
                removed = len(set(old["units"]) - set(unit_ids))
                raise OutputMismatch(
                    f"the input changed since {self.root} was started ({added} work units added, {removed} removed, "
                    "or files resized). Use a new --output directory, or --overwrite to start again."
                )
        for kind in (*KINDS, "_markers"):
            (self.root / kind).mkdir(parents=True, exist_ok=True)
        if not manifest_path.exists():
            write_json_atomic(manifest_path, {"job": job, "fingerprint": fingerprint, "recipe": recipe, "units": unit_ids})
        self._remove_temporaries()
        return sum(1 for u in unit_ids if self.is_done(u))

    def _remove_temporaries(self) -> None:
        for kind in (*KINDS, "_markers"):
            remove_temporaries(self.root / kind)

    def write_rows(self, unit_id: str, rows: dict[str, list[dict]]) -> None:
        """Write a unit's kept / dropped / quarantined rows, each file atomically (call before its marker)."""
        for kind in KINDS:
            final = self.path(kind, unit_id)
            if rows.get(kind):
                write_parquet_atomic(rows_to_table(rows[kind]), final)
            else:
                final.unlink(missing_ok=True)

    def write_marker(self, unit_id: str, marker: dict) -> None:
        """Commit a unit: after this its files count as complete."""
        write_json_atomic(self.marker(unit_id), marker)

    def markers(self, unit_ids: list[str]) -> list[dict]:
        return [json.loads(self.marker(u).read_text(encoding="utf-8")) for u in unit_ids if self.is_done(u)]

    def row_counts(self, unit_id: str) -> dict[str, int]:
        """Rows per output kind of one unit, from Parquet footers (no data read)."""
        counts = {}
        for kind in KINDS:
            p = self.path(kind, unit_id)
            counts[kind] = pq.ParquetFile(p).metadata.num_rows if p.exists() else 0
        return counts


def diff_flat(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable differences between two JSON-like values, as 'key: old -> new'."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += diff_flat(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    if old != new:
        return [f"{prefix}: {json.dumps(old, ensure_ascii=False)} -> {json.dumps(new, ensure_ascii=False)}"]
    return []
