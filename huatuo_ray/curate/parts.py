"""Units processed in parts: a unit's parts flow through the stages one by one and are committed together.

The reader cuts a large unit (a compressed JSONL file cannot be split into byte ranges) into parts of about
``curate.part_bytes`` raw bytes; each part runs through every stage and is written to ``_parts/<unit>/``
(:meth:`~huatuo_ray.io.output.OutputDir.write_part`). A unit of one part is written as before, marker and
all, by the writer. For a unit of several parts, the driver collects the parts' ledgers (counts only, never
rows) and, once every part is written, starts :func:`commit` as a Ray task: it checks the unit's merged
ledger, streams the parts into the unit's files, writes the marker last and removes the parts. A unit whose
commit never ran (a kill, a failed part) has no marker and is redone whole on the rerun.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import ray

from huatuo_ray.curate.histograms import Histograms
from huatuo_ray.errors import LedgerError
from huatuo_ray.io.output import OutputDir
from huatuo_ray.ledger import Ledger


@dataclass
class _Unit:
    parts: dict[int, dict] = field(default_factory=dict)
    n_parts: int | None = None  # known once the last part is seen


class PartTracker:
    """The driver's view of units in flight: which parts of each unit are written."""

    def __init__(self) -> None:
        self._units: dict[str, _Unit] = {}

    def add(self, row: dict) -> list[dict] | None:
        """Note one written part (the writer's row); returns the unit's parts, in order, once all are written."""
        u = self._units.setdefault(row["unit_id"], _Unit())
        u.parts[row["part"]] = row
        if row["last"]:
            u.n_parts = row["part"] + 1
        if u.n_parts is not None and len(u.parts) == u.n_parts:
            del self._units[row["unit_id"]]
            return [u.parts[k] for k in range(u.n_parts)]
        return None


def unit_marker(parts: list[dict]) -> dict:
    """The marker of a unit from its parts' rows: ledgers and histograms added up, seconds summed per operator."""
    ledger, hist, seconds = Ledger(), Histograms(), {}
    for p in parts:
        ledger.merge(Ledger.from_dict(p["ledger"]))
        hist.merge(Histograms.from_dict(p["hist"]))
        for k, v in p["seconds"].items():
            seconds[k] = seconds.get(k, 0.0) + v
    return {"unit": parts[0]["unit"], "unit_id": parts[0]["unit_id"], "ledger": ledger.to_dict(),
            "hist": hist.to_dict(), "seconds": seconds, "parts": len(parts)}


def commit(output: str, parts: list[dict]) -> str:
    """Merge a unit's written parts into its files, check the counts, write the marker last; returns the marker.

    Rows on disk are compared with the merged ledger before the marker is written: a part lost between the
    writer and the merge fails the commit (the unit stays pending) instead of committing a short unit."""
    marker = unit_marker(parts)
    ledger, unit_id = Ledger.from_dict(marker["ledger"]), marker["unit_id"]
    ledger.check(f"unit {unit_id}")
    out = OutputDir(output)
    out.merge_parts(unit_id, len(parts))
    rows = out.row_counts(unit_id)
    expected = {"kept": ledger.kept_rows, "dropped": sum(s.dropped_total for s in ledger.stages),
                "quarantined": ledger.quarantined_total}
    if rows != expected:
        raise LedgerError(f"unit {unit_id}: rows merged from {len(parts)} parts {rows} != ledger {expected}")
    out.write_marker(unit_id, marker)
    out.remove_parts(unit_id)
    return json.dumps(marker)


commit_unit = ray.remote(commit)  # the driver runs it as a Ray task (with the writer's resources)
