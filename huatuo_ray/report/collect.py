"""What a run directory holds, read as files: ``run.json``, each step's ``_run.json`` and ``stats.json``.

The report imports no step package (only the run directory's readers, :mod:`huatuo_ray.run.rundir`): it reads
the files every step writes under the job contract
(``<run.dir>/<step>/stats.json`` with ``complete: true`` once the step is done) and the few outputs it shows
(a sample of the unified pairs, the training metrics, the curation's kept and dropped rows). Reads of row files
are bounded (:data:`MAX_ROWS`), so the report of a terabyte run stays cheap; a bounded count says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from huatuo_ray.run.rundir import RUN_FILE, finished, read_json

# The steps in run order (tests/report checks this against huatuo_ray.run.registry).
STEPS = ("sft", "curate", "unify", "sample", "pack", "train", "eval")
MAX_ROWS = 2_000_000  # rows read from Parquet outputs per count (quality labels, dedup groups)


@dataclass
class StepOutput:
    """One step's output directory: ``stats`` when the step finished, ``started`` when it has a ``_run.json``."""

    name: str
    dir: Path
    stats: dict[str, Any] | None = None
    started: bool = False
    state: str | None = None  # from run.json: ran, done before, redone, ...

    @property
    def done(self) -> bool:
        return self.stats is not None

    def path(self, p: str | None) -> Path | None:
        """A path a stats file names (absolute, or relative to the step's output)."""
        if not p:
            return None
        q = Path(p)
        if not q.is_absolute():
            return self.dir / q
        old = Path((self.stats or {}).get("output") or self.dir)
        if not q.exists() and q.is_relative_to(old):  # the run directory was moved or copied since
            return self.dir / q.relative_to(old)
        return q

    def why_not(self) -> str:
        """The 'not run' line of a step without finished stats."""
        if self.started:
            return (f"{self.name} started but did not finish in this run directory ({self.dir} has a _run.json but no "
                    f"complete stats.json): rerun it to finish")
        return f"{self.name} did not run in this run directory (no {self.dir.name}/stats.json)"


@dataclass
class RunFiles:
    root: Path
    run: dict[str, Any] | None
    steps: dict[str, StepOutput] = field(default_factory=dict)


def _train_dir(root: Path, run: dict[str, Any] | None) -> Path:
    """``train/<run_name>``: the one run.json names, else the most recently finished one."""
    named = ((run or {}).get("steps", {}).get("train") or {}).get("output")
    if named and Path(named).is_dir():
        return Path(named)
    found = [(s.get("finished_at", ""), p.parent) for p in (root / "train").glob("*/stats.json")
             if (s := read_json(p)) is not None]
    if found:
        return max(found)[1]
    started = sorted((root / "train").glob("*/_run.json"))
    return started[-1].parent if started else root / "train"


def collect(root: Path) -> RunFiles:
    """Every step's output in ``root``, finished or not."""
    root = Path(root)
    run = read_json(root / "run.json")
    files = RunFiles(root, run)
    for name in STEPS:
        d = _train_dir(root, run) if name == "train" else root / name
        state = ((run or {}).get("steps", {}).get(name) or {}).get("state")
        files.steps[name] = StepOutput(name, d, finished(d), (d / RUN_FILE).is_file(), state)
    return files


def parquet_columns(folder: Path, columns: list[str], limit: int = MAX_ROWS) -> tuple[Iterator[dict], dict]:
    """Rows of the given columns (those a file lacks are None) from ``folder/*.parquet``, at most ``limit``.

    Returns the rows and ``{"files": n, "files_read": k, "rows_read": r, "bounded": bool}``.
    """
    import pyarrow.parquet as pq

    paths = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    info = {"files": len(paths), "files_read": 0, "rows_read": 0, "bounded": False}
    rows: list[dict] = []
    for p in paths:
        if info["rows_read"] >= limit:
            info["bounded"] = True
            break
        f = pq.ParquetFile(p)
        present = [c for c in columns if c in f.schema_arrow.names]
        t = f.read(columns=present).slice(0, limit - info["rows_read"])
        data = {c: t.column(c).to_pylist() for c in present}
        for i in range(t.num_rows):
            rows.append({c: (data[c][i] if c in data else None) for c in columns})
        info["files_read"] += 1
        info["rows_read"] += t.num_rows
    return iter(rows), info


def jsonl_head(path: Path, n: int) -> list[dict]:
    """The first ``n`` records of a JSONL file (read line by line: the file may be huge)."""
    out: list[dict] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if len(out) >= n:
                    break
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
    except OSError:
        return []
    return out
