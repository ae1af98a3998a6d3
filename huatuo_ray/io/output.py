"""A unit-based step's output: per-unit Parquet files written atomically, and completion markers.

    DIR/kept/<unit>.parquet          kept rows
    DIR/dropped/<unit>.parquet       dropped rows: id, stage, reason, ... (the record itself)
    DIR/quarantined/<unit>.parquet   unreadable or invalid input: id, stage, reason, excerpt, ...
    DIR/_markers/<unit>.json         written last: the unit is complete, with its ledger
    DIR/_parts/<unit>/<kind>-<n>.parquet   a unit written in parts: part n, until the parts are merged

Files are written to a temporary name and renamed (in an object store: uploaded whole, each in one upload), so a
reader never sees half a file; a unit counts as done only when its marker exists, and a rerun rewrites units
without one (a kind the rerun writes no rows for is deleted, so no stray object of an unmarked unit survives). A unit processed in
parts has each part written under ``_parts/``; :meth:`OutputDir.merge_parts` streams them, row group by row
group, into the unit's files (the same rows, in part order), then the marker is written and the parts go.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.io.atomic import (
    TMP_PREFIX,
    atomic_path,
    remove_temporaries,
    write_json_atomic,
    write_parquet_atomic,
)
from huatuo_ray.io.columns import Columns
from huatuo_ray.io.storage import ObjectPath, arrow_source, location, rmtree

KINDS = ("kept", "dropped", "quarantined")
PARTS = "_parts"


def rows_to_table(rows: "list[dict] | Columns") -> pa.Table:
    """Arrow table from dicts whose keys may differ (union of keys, first-seen order, missing -> null)."""
    if isinstance(rows, Columns):
        return rows.to_table()
    n = len(rows[0]) if rows else 0
    if rows and len(set().union(*rows)) == n and sum(map(len, rows)) == n * len(rows):
        # the usual case: every row has the first row's keys (no row has more keys than the union of all, which is
        # the first row's): from_pylist takes the first row's keys, in its order, which is then right
        return pa.Table.from_pylist(rows)
    keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            keys.setdefault(k, None)
    return pa.Table.from_pydict({k: [r.get(k) for r in rows] for k in keys})


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in its order: missing ones null, others cast (e.g. null -> string)."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


class OutputDir:
    """One job's output directory."""

    def __init__(self, root: "str | Path | ObjectPath"):
        self.root = location(root)

    def path(self, kind: str, unit_id: str) -> Path:
        return self.root / kind / f"{unit_id}.parquet"

    def marker(self, unit_id: str) -> Path:
        return self.root / "_markers" / f"{unit_id}.json"

    def is_done(self, unit_id: str) -> bool:
        return self.marker(unit_id).exists()

    def open(self, unit_ids: list[str]) -> int:
        """Create the folders (or reopen them after a crash: leftover temporaries go); returns units already done."""
        remove_temporaries(self.root)  # e.g. the markers of an interrupted clear()
        for kind in (*KINDS, "_markers"):
            (self.root / kind).mkdir(parents=True, exist_ok=True)
            remove_temporaries(self.root / kind)
        parts = self.root / PARTS
        for leftover in (parts.iterdir() if parts.is_dir() else []):
            if self.is_done(leftover.name):  # a kill between a unit's marker and the removal of its parts
                rmtree(leftover)
        return sum(1 for u in unit_ids if self.is_done(u))

    def clear(self) -> None:
        """Forget every unit (their files and markers) and the plots. The markers go first, in one rename: a kill
        at any moment leaves every unit complete or pending, never a marker whose files are gone. (In an object
        store, which has no rename, the markers are deleted first, one by one, with the same guarantee.)"""
        markers = self.root / "_markers"
        if isinstance(markers, ObjectPath):
            rmtree(markers)
        elif markers.exists():
            gone = self.root / f"{TMP_PREFIX}_markers-{uuid.uuid4().hex}"
            os.replace(markers, gone)
            rmtree(gone)
        for kind in (*KINDS, PARTS, "plots"):
            rmtree(self.root / kind)

    def write_rows(self, unit_id: str, rows: "dict[str, list[dict] | Columns | pa.Table]") -> None:
        """Write a unit's kept / dropped / quarantined rows (dicts, Columns or a Table), each file atomically (call before
        its marker); a kind without rows has no file."""
        for kind in KINDS:
            final = self.path(kind, unit_id)
            part = rows.get(kind)
            if part is not None and len(part):
                write_parquet_atomic(part if isinstance(part, pa.Table) else rows_to_table(part), final)
            else:
                final.unlink(missing_ok=True)

    def part_path(self, kind: str, unit_id: str, part: int) -> Path:
        return self.root / PARTS / unit_id / f"{kind}-{part:05d}.parquet"

    def write_part(self, unit_id: str, part: int, rows: "dict[str, list[dict] | Columns]") -> None:
        """Write part ``part`` of a unit (each kind atomically; a kind without rows has no file)."""
        for kind in KINDS:
            final, part_rows = self.part_path(kind, unit_id, part), rows.get(kind)
            if part_rows:
                write_parquet_atomic(rows_to_table(part_rows), final)
            else:
                final.unlink(missing_ok=True)

    def merge_parts(self, unit_id: str, parts: int) -> None:
        """Write a unit's files from its parts ``0 .. parts-1`` (call before its marker), one part's row group
        at a time: columns are the union of the parts' (first-seen order), a column a part lacks is null there."""
        for kind in KINDS:
            files = [p for p in (self.part_path(kind, unit_id, k) for k in range(parts)) if p.exists()]
            final = self.path(kind, unit_id)
            if not files:
                final.unlink(missing_ok=True)
                continue
            schema = pa.unify_schemas([pq.read_schema(arrow_source(f)) for f in files], promote_options="permissive")
            with atomic_path(final) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for f in files:
                    pf = pq.ParquetFile(arrow_source(f))
                    for g in range(pf.num_row_groups):
                        writer.write_table(_conform(pf.read_row_group(g), schema))

    def remove_parts(self, unit_id: str) -> None:
        """Forget a unit's parts (after its marker, or before it is redone)."""
        rmtree(self.root / PARTS / unit_id)

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
            counts[kind] = pq.ParquetFile(arrow_source(p)).metadata.num_rows if p.exists() else 0
        return counts
