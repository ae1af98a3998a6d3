"""The run directory's logs: per-step metrics, consumed sequences per rank, restart events per rank, the loss plot.

Every file has one writer (metrics.jsonl: rank 0; ``consumed/``, ``events/`` and ``workers/``: the rank they are
named after), so each rank can keep its own files on its own node and upload them (:mod:`huatuo_ray.train.node_files`).

All logs describe the lineage of the current model: when a run resumes from the checkpoint taken before
step s, lines for steps >= s (work lost with the failed attempt) are removed and the restore is recorded in
``events/``, so ``consumed/`` lists exactly the sequences whose gradients are in the model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable

from huatuo_ray.io.atomic import write_text_atomic


def log_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "train_log"


def _rewrite_before(path: Path, next_step: int) -> int:
    """Keep only the lines of ``path`` with step < next_step (atomic rewrite); returns lines removed."""
    if not path.exists():
        return 0
    kept, removed = [], 0
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill mid-write
            removed += 1
            continue
        if rec.get("step", -1) < next_step:
            kept.append(line)
        else:
            removed += 1
    write_text_atomic(path, "".join(x + "\n" for x in kept))
    return removed


class RunLog:
    """Append-only JSONL logs of one rank, rolled back to a checkpoint on resume."""

    def __init__(self, run_dir: str | Path, rank: int):
        self.dir = log_dir(run_dir)
        self.rank = rank
        (self.dir / "consumed").mkdir(parents=True, exist_ok=True)
        self.consumed_path = self.dir / "consumed" / f"rank{rank:05d}.jsonl"
        (self.dir / "events").mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.events_path = events_path(run_dir, rank)

    def roll_back(self, next_step: int) -> int:
        """Drop records of steps >= next_step (not in the restored model). Rank 0 also trims metrics."""
        removed = _rewrite_before(self.consumed_path, next_step)
        if self.rank == 0:
            _rewrite_before(self.metrics_path, next_step)
        return removed

    def event(self, kind: str, **fields: Any) -> None:
        _append(self.events_path, {"event": kind, "time": time.time(), "rank": self.rank, **fields})

    def consumed(self, step: int, sequence_index: list[int], sample_ids: list[list[str]]) -> None:
        _append(self.consumed_path, {"step": step, "sequence_index": sequence_index, "sample_ids": sample_ids})

    def metrics(self, record: dict[str, Any]) -> None:
        _append(self.metrics_path, record)


def _append(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line (one write of one line: a kill cuts at most this line). A line left cut by an earlier
    kill is closed first, so the new record starts a line of its own instead of extending the broken one."""
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with open(path, "ab") as fh:
        if fh.tell() > 0:
            with open(path, "rb") as tail:
                tail.seek(-1, 2)
                if tail.read(1) != b"\n":
                    line = "\n" + line
        fh.write(line.encode("utf-8"))
        fh.flush()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSONL log; a line cut by a kill (not JSON, or not an object) is skipped."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_bytes().decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line) if line.strip() else None
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def events_path(run_dir: str | Path, rank: int) -> Path:
    return log_dir(run_dir) / "events" / f"rank{rank:05d}.jsonl"


def read_events(run_dir: str | Path) -> list[dict[str, Any]]:
    """The events of every rank, in time order (a line cut by a kill is skipped)."""
    rows = [rec for f in sorted((log_dir(run_dir) / "events").glob("rank*.jsonl")) for rec in read_jsonl(f)]
    return sorted(rows, key=lambda r: (r.get("time", 0.0), r.get("rank", 0)))


def consumed_sequence(run_dir: str | Path) -> list[tuple[int, int, tuple[str, ...]]]:
    """(step, global sequence index, sample ids) of every consumed sequence, all ranks, in stream order."""
    rows = []
    for f in sorted((log_dir(run_dir) / "consumed").glob("rank*.jsonl")):
        for rec in read_jsonl(f):
            rows += [(rec["step"], i, tuple(ids)) for i, ids in zip(rec["sequence_index"], rec["sample_ids"])]
    return sorted(rows)


def repair_logs(run_dir: str | Path) -> int:
    """Drop the lines a kill cut from the run's logs of events and metrics; call it while no worker writes
    (before and after a submission). Returns the lines dropped."""
    dropped = 0
    for path in (*sorted((log_dir(run_dir) / "events").glob("rank*.jsonl")), log_dir(run_dir) / "metrics.jsonl"):
        if not path.exists():
            continue
        lines = path.read_bytes().decode("utf-8", "replace").splitlines()
        good = [x for x in lines if x.strip() and _is_record(x)]
        if len(good) != len([x for x in lines if x.strip()]) or not path.read_bytes().endswith(b"\n"):
            dropped += len([x for x in lines if x.strip()]) - len(good)
            write_text_atomic(path, "".join(x + "\n" for x in good))
    return dropped


def _is_record(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def log_summary(run_dir: str | Path) -> dict[str, Any]:
    """What the end of a run reports from its logs (a line cut by a kill does not count); writes loss.png."""
    logs = log_dir(run_dir)
    metrics = [m for m in read_jsonl(logs / "metrics.jsonl") if "step" in m and "loss" in m]
    events = read_events(run_dir)
    plot = plot_loss(metrics, logs / "loss.png")
    return {"steps": len(metrics), "first_loss": metrics[0]["loss"] if metrics else None,
            "last_loss": metrics[-1]["loss"] if metrics else None,
            "mean_step_seconds": (sum(m.get("step_seconds", 0.0) for m in metrics) / len(metrics)) if metrics else None,
            "restores": [e for e in events if e.get("event") == "resume" and e.get("rank") == 0],
            "loss_plot": str(plot) if plot else None}


def plot_loss(metrics: Iterable[dict[str, Any]], dest: str | Path) -> Path | None:
    """loss.png: training loss (and the learning rate) per global step."""
    rows = sorted(metrics, key=lambda r: r["step"])
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [r["loss"] for r in rows], label="loss", color="tab:blue")
    ax.set_xlabel("global step")
    ax.set_ylabel("training loss (answer tokens)")
    ax2 = ax.twinx()
    ax2.plot(steps, [r["lr"] for r in rows], label="lr", color="tab:orange", alpha=0.6)
    ax2.set_ylabel("learning rate")
    ax.set_title("Training loss")
    fig.tight_layout()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest
