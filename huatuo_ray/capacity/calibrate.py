"""Per-step rates measured on this machine, from finished runs (``huatuo-ray calibrate RUN_DIR [RUN_DIR ...]``).

Each step's wall time is modelled as ``fixed + per_unit x volume``, its volume counted in the step's own unit
(corpus bytes for curation, SFT bytes, segments sent to the LLM, items ordered, tokens packed, optimizer steps,
benchmark answers). With runs of two or more sizes the two numbers are a least-squares fit; with one size the
step's own split is used where it records one (training: the median step time from its metrics log), else the
time is taken as proportional. Curation also keeps the split a cluster needs: CPU-core seconds per byte of its
CPU stages (their worker seconds), embedding seconds per row and search seconds per row and cluster size.
The volumes that link the steps (segments per corpus byte, tokens per pair, ...) come from the same runs.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from huatuo_ray.errors import InputError
from huatuo_ray.run.rundir import RUN_FILE, finished, read_json

FORMAT = "huatuo-ray/calibration/v1"
UNITS = {"sft": "SFT input bytes", "curate": "corpus input bytes", "unify": "segments sent to the LLM",
         "sample": "items ordered", "pack": "tokens packed", "train": "optimizer steps", "eval": "benchmark answers"}
CPU_STAGES = ("read", "density", "segment", "quality", "write")


def machine() -> dict[str, Any]:
    """This machine: CPUs, CPU model, memory, the date and the load average now."""
    model = platform.processor() or platform.machine()
    mem = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gib": mem, "platform": platform.platform(),
            "calibrated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def _inputs(output: Path) -> int:
    return sum(((read_json(output / RUN_FILE) or {}).get("inputs") or {}).values())


def _pack_tokens(pack_dir: Path, pair_sources: set[str]) -> dict[str, float]:
    import pyarrow.parquet as pq

    t = pq.read_table(pack_dir / "samples", columns=["source", "n_tokens"]).to_pydict()
    pairs = [n for s, n in zip(t["source"], t["n_tokens"]) if s in pair_sources]
    sft = [n for s, n in zip(t["source"], t["n_tokens"]) if s not in pair_sources]
    return {"tokens_per_pair": statistics.fmean(pairs) if pairs else None,
            "tokens_per_sft_item": statistics.fmean(sft) if sft else None}


def _outputs(run_dir: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Finished step outputs of a run: those run.json names, and ``<run_dir>/<step>`` for steps run on their own."""
    run = read_json(run_dir / "run.json") or {}
    dirs = {n: Path(s["output"]) for n, s in (run.get("steps") or {}).items()}
    for name in UNITS:
        dirs.setdefault(name, run_dir / name)
    return {n: (d, st) for n, d in dirs.items() if (st := finished(d)) is not None}


def measure_run(run_dir: Path) -> dict[str, Any]:
    """What one finished run measured: per step its volume and wall seconds, and the linking volumes."""
    stats = _outputs(Path(run_dir))
    if not stats:
        raise InputError(f"{run_dir} holds no finished step output: calibrate from a run directory")
    run = read_json(Path(run_dir) / "run.json") or {}
    m: dict[str, Any] = {"run_dir": str(run_dir), "finished_at": run.get("finished_at"), "steps": {},
                         "volumes": {"corpus_bytes": 0, "sft_bytes": 0}}
    vol = m["volumes"]

    def step(name: str, volume: float, **extra: Any) -> None:
        m["steps"][name] = {"volume": volume, "wall_s": stats[name][1]["elapsed_s"], **extra}

    if "curate" in stats:
        cdir, c = stats["curate"]
        vol["corpus_bytes"] = _inputs(cdir)
        seconds, dedup = c.get("worker_seconds", {}), c.get("dedup") or {}
        walls = dedup.get("wall_seconds_this_run") or {}
        step("curate", vol["corpus_bytes"], cpu_core_s=sum(seconds.get(k, 0) for k in CPU_STAGES),
             dedup_rows=dedup.get("rows", 0), embed_s=walls.get("embed", 0),
             search_s=sum(v for k, v in walls.items() if k != "embed"),
             rows_per_cluster=dedup["rows"] / dedup["k"] if dedup.get("k") else None)
        vol["segments_per_corpus_byte"] = c["counts"]["out"] / vol["corpus_bytes"]
        vol["dedup_rows_per_segment"] = dedup["rows"] / c["counts"]["out"] if dedup.get("rows") and c["counts"]["out"] \
            else 1.0
    if "sft" in stats:
        sdir, s = stats["sft"]
        vol["sft_bytes"] = _inputs(sdir)
        step("sft", vol["sft_bytes"])
        vol["conversations_per_sft_byte"] = s["counts"]["kept"] / vol["sft_bytes"]
    if "unify" in stats:
        u = stats["unify"][1]
        counters = next((x["counters"] for x in u["ledger"]["stages"] if x["name"] == "unify"), {})
        sent = counters.get("sent", u["counts"]["in"])
        step("unify", sent)
        vol["unify_acceptance"] = u["counts"]["kept"] / sent if sent else None
        vol["attempts_per_segment"] = counters.get("attempts", 0) / sent if sent else None
    if "sample" in stats:
        step("sample", stats["sample"][1]["total"])
    if "pack" in stats:
        pdir, p = stats["pack"]
        step("pack", p["tokens"], tokenize_s=(p.get("seconds") or {}).get("tokenize"))
        sources = (stats["sample"][1] if "sample" in stats else p)["sources"]
        vol.update(_pack_tokens(pdir, {x["name"] for x in sources if x["type"] != "sft"}))
        vol["real_token_fraction"] = p["real_token_fraction"]
    if "train" in stats:
        from huatuo_ray.train.metrics import read_jsonl

        tdir, t = stats["train"]
        rows = read_jsonl(tdir / "train_log" / "metrics.jsonl")
        steps = [r["step_seconds"] for r in rows if r.get("step_seconds")]
        step("train", t["steps"], step_s=statistics.median(steps) if steps else None)
    if "eval" in stats:
        step("eval", stats["eval"][1]["counts"]["in"])
    return m


def fit(points: list[tuple[float, float]], known_per_unit: float | None = None) -> dict[str, Any]:
    """``wall = fixed + per_unit x volume`` from (volume, wall) points; how it was found in ``how``."""
    vols = {v for v, _ in points}
    if len(vols) >= 2:
        mv, mw = statistics.fmean(v for v, _ in points), statistics.fmean(w for _, w in points)
        b = sum((v - mv) * (w - mw) for v, w in points) / sum((v - mv) ** 2 for v, _ in points)
        a = mw - b * mv
        if b < 0:  # noise larger than the growth: the time does not depend on the volume here; what the points
            # still bound is the per-unit time (wall >= per_unit x volume at every point), for larger volumes
            return {"fixed_s": mw, "per_unit_s": 0.0, "per_unit_bound_s": min(w / v for v, w in points if v),
                    "how": f"constant: no growth over {len(vols)} sizes"}
        if a < 0:
            b = sum(w for _, w in points) / sum(v for v, _ in points)
            return {"fixed_s": 0.0, "per_unit_s": b, "how": f"proportional fit over {len(vols)} sizes"}
        return {"fixed_s": a, "per_unit_s": b, "how": f"least squares over {len(vols)} sizes"}
    v = vols.pop()
    w = statistics.fmean(w for _, w in points)
    if known_per_unit is not None and known_per_unit * v <= w:
        return {"fixed_s": w - known_per_unit * v, "per_unit_s": known_per_unit,
                "how": "one size: the step's own per-unit time, the rest fixed"}
    return {"fixed_s": 0.0, "per_unit_s": w / v if v else 0.0, "how": "one size: taken as proportional"}


def calibrate(run_dirs: list[Path], note: str | None = None) -> dict[str, Any]:
    """The calibration of this machine from finished runs (one or more sizes)."""
    runs = [measure_run(Path(d)) for d in run_dirs]
    steps: dict[str, Any] = {}
    for name, unit in UNITS.items():
        pts = [r["steps"][name] for r in runs if name in r["steps"]]
        if not pts:
            continue
        known = statistics.fmean(p["step_s"] for p in pts) if name == "train" and all(p.get("step_s") for p in pts) else None
        steps[name] = {"unit": unit, **fit([(p["volume"], p["wall_s"]) for p in pts], known),
                       "points": [[p["volume"], p["wall_s"]] for p in pts]}
    cur = [r["steps"]["curate"] for r in runs if "curate" in r["steps"]]
    total_bytes = sum(p["volume"] for p in cur)
    rows = sum(p["dedup_rows"] for p in cur)
    if cur:
        steps["curate"]["split"] = {
            "cpu_core_s_per_byte": sum(p["cpu_core_s"] for p in cur) / total_bytes,
            "embed_s_per_row": sum(p["embed_s"] for p in cur) / rows if rows else None,
            "search_s_per_row_and_cluster_row": (sum(p["search_s"] for p in cur) / sum(
                p["dedup_rows"] * p["rows_per_cluster"] for p in cur if p["rows_per_cluster"])) if rows else None,
        }
    packs = [r["steps"]["pack"] for r in runs if r["steps"].get("pack", {}).get("tokenize_s")]
    if packs:
        steps["pack"]["split"] = {"tokenize_core_s_per_token": sum(p["tokenize_s"] for p in packs) /
                                  sum(p["volume"] for p in packs)}
    volumes: dict[str, Any] = {}
    for key in dict.fromkeys(k for r in runs for k in r["volumes"]):
        vals = [r["volumes"][key] for r in runs if r["volumes"].get(key) is not None]
        if vals and key not in ("corpus_bytes", "sft_bytes"):
            volumes[key] = statistics.fmean(vals)
    return {"format": FORMAT, "machine": {**machine(), **({"note": note} if note else {})},
            "runs": [{"run_dir": r["run_dir"], "finished_at": r["finished_at"],
                      "corpus_bytes": r["volumes"]["corpus_bytes"], "sft_bytes": r["volumes"]["sft_bytes"]}
                     for r in runs],
            "steps": steps, "volumes": volumes}


def load_calibration(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if data is None or data.get("format") != FORMAT:
        raise InputError(f"{path} is not a calibration file ({FORMAT}): make one with `huatuo-ray calibrate RUN_DIR`")
    return data
