"""The ledger: per-unit and per-run record counts, and the conservation check.

Every raw input record ends in exactly one place. Per work unit:

    read:      records            = docs_read + quarantined
    stage i:   rows_in(i)         = kept_in(i) + dropped(i)        (kept_in counts input rows kept)
               rows_in(i + 1)     = rows_out(i)                     (a 1:N stage emits several rows)
    documents: records            = quarantined + dropped_documents + kept_documents

``dropped_documents`` sums drops of document-level stages (those up to and including the first 1:N
stage); later stages drop rows, counted at their own level. A unit whose counts do not add up raises
:class:`LedgerError` before its output is committed, and the run compares the rows in every output
file with its unit's ledger before it reports success.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from huatuo_ray.errors import LedgerError

_NUMBER = re.compile(r"(?<![\w.-])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def reason_key(reason: str) -> str:
    """Group reasons by template: numbers become '#' ("density 0.012 < 0.080 (zh)" -> "density # < # (zh)")."""
    return _NUMBER.sub("#", reason)


@dataclass
class StageCount:
    name: str
    rows_in: int = 0
    kept_in: int = 0
    rows_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows_in": self.rows_in,
            "kept_in": self.kept_in,
            "rows_out": self.rows_out,
            "dropped": self.dropped_total,
            "dropped_by_reason": dict(self.dropped.most_common()),
            "counters": dict(self.counters),
        }

    @classmethod
    def from_dict(cls, d: dict) -> StageCount:
        return cls(d["name"], d["rows_in"], d["kept_in"], d["rows_out"], Counter(d["dropped_by_reason"]), Counter(d["counters"]))


@dataclass
class Ledger:
    """Counts for one unit, or for a whole run (``merge`` adds units)."""

    records: int = 0
    blank_lines: int = 0
    quarantined: Counter = field(default_factory=Counter)
    stages: list[StageCount] = field(default_factory=list)
    input_chars: int = 0

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def docs_read(self) -> int:
        return self.records - self.quarantined_total

    @property
    def kept_rows(self) -> int:
        return self.stages[-1].rows_out if self.stages else self.docs_read

    def document_stages(self) -> list[StageCount]:
        """Stages that count whole documents: up to and including the first 1:N stage."""
        out = []
        for s in self.stages:
            out.append(s)
            if s.rows_out != s.kept_in:
                break
        return out

    @property
    def kept_documents(self) -> int:
        """Documents with at least one kept row: what the last document-level stage kept."""
        doc_stages = self.document_stages()
        return doc_stages[-1].kept_in if doc_stages else self.docs_read

    @property
    def dropped_documents(self) -> int:
        return sum(s.dropped_total for s in self.document_stages())

    def stage(self, name: str) -> StageCount:
        for s in self.stages:
            if s.name == name:
                return s
        s = StageCount(name)
        self.stages.append(s)
        return s

    def record(self, name: str, rows_in: int, kept_in: int, rows_out: int, reasons: Iterable[str],
               counters: Mapping[str, int] | None = None) -> StageCount:
        """Record what stage ``name`` did to this unit: rows in, input rows kept, rows out, each drop's reason
        (grouped by :func:`reason_key`) and the stage's own counters."""
        count = self.stage(name)
        count.rows_in, count.kept_in, count.rows_out = rows_in, kept_in, rows_out
        count.dropped.update(reason_key(r) for r in reasons)
        count.counters.update(counters or {})
        return count

    def check(self, what: str = "unit") -> None:
        """Raise LedgerError unless every equation of the module docstring holds."""
        problems = []
        if self.docs_read < 0:
            problems.append(f"quarantined {self.quarantined_total} > records {self.records}")
        expected_in = self.docs_read
        for s in self.stages:
            if s.rows_in != expected_in:
                problems.append(f"stage {s.name}: rows_in {s.rows_in} != {expected_in} rows from the previous step")
            if s.rows_in != s.kept_in + s.dropped_total:
                problems.append(f"stage {s.name}: rows_in {s.rows_in} != kept {s.kept_in} + dropped {s.dropped_total}")
            expected_in = s.rows_out
        if self.records != self.quarantined_total + self.dropped_documents + self.kept_documents:
            problems.append(
                f"records {self.records} != quarantined {self.quarantined_total} + dropped "
                f"{self.dropped_documents} + kept {self.kept_documents}"
            )
        if problems:
            raise LedgerError(f"{what}: counts do not add up: " + "; ".join(problems))

    def merge(self, other: Ledger) -> None:
        self.records += other.records
        self.blank_lines += other.blank_lines
        self.quarantined.update(other.quarantined)
        self.input_chars += other.input_chars
        for s in other.stages:
            mine = self.stage(s.name)
            mine.rows_in += s.rows_in
            mine.kept_in += s.kept_in
            mine.rows_out += s.rows_out
            mine.dropped.update(s.dropped)
            mine.counters.update(s.counters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "blank_lines": self.blank_lines,
            "input_chars": self.input_chars,
            "quarantined": self.quarantined_total,
            "quarantined_by_reason": dict(self.quarantined.most_common()),
            "stages": [s.to_dict() for s in self.stages],
            "kept_documents": self.kept_documents,
            "kept_rows": self.kept_rows,
            "dropped_documents": self.dropped_documents,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Ledger:
        return cls(
            records=d["records"],
            blank_lines=d["blank_lines"],
            quarantined=Counter(d["quarantined_by_reason"]),
            stages=[StageCount.from_dict(s) for s in d["stages"]],
            input_chars=d.get("input_chars", 0),
        )
