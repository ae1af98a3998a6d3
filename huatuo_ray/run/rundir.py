"""One step's output directory as the run sees it: ``_run.json`` (identity and lineage) and ``stats.json`` (done).

``_run.json`` is written when a step starts: the step, its fingerprint, the settings and behaviour-file digests
behind it, its work units and input files, and the lineage of every upstream output it reads (each ancestor's
fingerprint, settings and file digests). ``stats.json`` is written last, with the same fingerprint and
``complete: true``; a step counts as done only then. Comparing two lineages names the exact step and recipe
setting that changed, which is what every refusal message says.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from huatuo_ray.errors import InputError
from huatuo_ray.io.atomic import write_json_atomic
from huatuo_ray.io.lock import LOCK_FILE
from huatuo_ray.io.storage import location
from huatuo_ray.io.trash import discarding
from huatuo_ray.job import LLM_CACHE
from huatuo_ray.llm.server import SERVER_RECORD
from huatuo_ray.redact import mask

RUN_FILE = "_run.json"
STATS_FILE = "stats.json"


@dataclass
class Identity:
    """What makes a step's output what it is."""

    step: str
    fingerprint: str
    settings: dict[str, Any]
    files: dict[str, str]
    lineage: dict[str, dict[str, Any]]  # ancestor step -> {fingerprint, settings, files, dir}
    units: list[str] = field(default_factory=list)
    inputs: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def as_ancestor(self, output: Path) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "settings": self.settings, "files": self.files, "dir": str(output)}


def has_content(output: Path) -> bool:
    """Whether a directory holds anything but a request cache (which outlives the output it served), the lock
    file and leftover temporaries."""
    return output.is_dir() and any(p.name not in (LLM_CACHE, LOCK_FILE, SERVER_RECORD) and not p.name.startswith(".")
                                   for p in output.iterdir())


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when it is absent or unreadable (e.g. cut by a kill)."""
    try:
        data = json.loads(location(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def recorded(output: Path) -> dict[str, Any] | None:
    """The ``_run.json`` of an output directory, if it has one from this version of huatuo-ray."""
    if discarding(output):  # an object-store output half deleted by an interrupted --overwrite
        return None
    run = read_json(output / RUN_FILE)
    return run if run and "step" in run and "lineage" in run else None


def finished(output: Path) -> dict[str, Any] | None:
    """The stats of a finished step output (``stats.json`` complete and matching ``_run.json``), else None."""
    run, stats = recorded(output), read_json(output / STATS_FILE)
    if run and stats and stats.get("complete") is True and stats.get("fingerprint") == run["fingerprint"]:
        return stats
    return None


def write_identity(output: Path, identity: Identity) -> None:
    output.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output / RUN_FILE, mask(identity.to_dict()))  # the fingerprint is of the real values


def write_stats(output: Path, stats: dict[str, Any]) -> None:
    write_json_atomic(output / STATS_FILE, mask(stats))


def clear_stats(output: Path) -> None:
    """A step that (re)starts is not done until it writes its stats again."""
    (output / STATS_FILE).unlink(missing_ok=True)


def read_upstream(reader: str, upstream: str, directory: Path) -> dict[str, Any]:
    """The ``_run.json`` of a finished ``upstream`` output that ``reader`` reads; a clear error otherwise."""
    hint = f"run `huatuo-ray run --only {upstream}` (or `huatuo-ray {upstream}`) first"
    run = recorded(directory)
    if run is None:
        what = "does not exist" if not directory.exists() else f"is not a {upstream} output (no {RUN_FILE})"
        raise InputError(f"{reader} reads the {upstream} output {directory}, which {what}: {hint}")
    if run["step"] != upstream:
        raise InputError(f"{reader} reads {directory} as a {upstream} output, but it holds a {run['step']} output")
    if finished(directory) is None:
        raise InputError(f"{reader} reads the {upstream} output {directory}, which is not finished (no complete "
                         f"{STATS_FILE}: the step was interrupted or is still running): rerun `huatuo-ray run "
                         f"--only {upstream}` to finish it")
    return run


def diff_flat(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable differences between two JSON-like values, as 'key: old -> new'."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += diff_flat(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in diff_flat(a, b, f"{prefix}.{i}")]
    if old != new:
        return [f"{prefix}: {_short(old)} -> {_short(new)}"]
    return []


def _short(v: Any) -> str:
    s = json.dumps(v, ensure_ascii=False, default=str)
    return s if len(s) <= 80 else s[:77] + "..."


def _shown(lines: list[str], n: int = 6) -> str:
    return "; ".join(lines[:n]) + (f"; and {len(lines) - n} more" if len(lines) > n else "")


def settings_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Changed settings and behaviour files of one step record (``settings`` + ``files``); secrets stay masked."""
    lines = diff_flat(mask(old.get("settings", {})), mask(new.get("settings", {})))
    for key in sorted(set(old.get("files", {})) | set(new.get("files", {}))):
        if old.get("files", {}).get(key) != new.get("files", {}).get(key):
            lines.append(f"{key}: the file's content changed")
    return lines


def lineage_changes(old: dict[str, dict], new: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """Per ancestor step whose output differs: the settings that changed (or why, when the settings did not)."""
    out = []
    for step in sorted(set(old) | set(new), key=lambda s: list(new).index(s) if s in new else -1):
        a, b = old.get(step), new.get(step)
        if a is None or b is None:
            out.append((step, ["it is no longer read" if b is None else "it was not read before"]))
        elif a["fingerprint"] != b["fingerprint"]:
            out.append((step, settings_changes(a, b) or ["its own inputs changed"]))
    return out


def mismatch(output: Path, old: dict[str, Any], new: Identity) -> str | None:
    """Why ``output`` (recorded as ``old``) is not the output ``new`` would make; None when it is."""
    if old["fingerprint"] == new.fingerprint and old.get("units") == new.units and old.get("inputs") == new.inputs:
        return None
    step = new.step
    what = "training run" if step == "train" else f"{step} output"
    article = "an" if what[0] in "aeiou" else "a"
    redo = ("use another train.run_name, or --overwrite to start training afresh" if step == "train"
            else f"rerun with --overwrite to redo {step}, or use another run.dir / --output")
    own = settings_changes(old, new.__dict__)
    if own:
        return (f"{output} holds {article} {what} made with other settings ({_shown(own)}). Refusing to mix outputs: "
                f"{redo}.")
    upstream = lineage_changes(old.get("lineage", {}), new.lineage)
    if upstream:
        parts = [f"{s} changed ({_shown(lines)})" for s, lines in upstream]
        return (f"{output} holds {article} {what} made from other inputs: {'; '.join(parts)}. Refusing to mix outputs: "
                f"{redo}.")
    added = len(set(new.units) - set(old.get("units", [])))
    removed = len(set(old.get("units", [])) - set(new.units))
    resized = sorted(k for k in set(old.get("inputs", {})) & set(new.inputs) if old["inputs"][k] != new.inputs[k])
    detail = f"{added} work units added, {removed} removed" + (f", {len(resized)} files resized (e.g. {resized[0]})"
                                                              if resized else "")
    return f"the input of {step} changed since {output} was started ({detail}). Refusing to mix outputs: {redo}."
