"""The priority sampler against ``torch.multinomial(weights, N, replacement=False)``, and on Ray at 100M.

Sizes: the paper's 5,252K pre-training instructions split over five sources (the per-source split is
ours: the paper gives only the total) plus its 142K SFT instructions, with the release preset
(weights 32/16/8/4/1, SFT 3 epochs), so N = 5,252,000 + 3 x 142,000 = 5,678,000 items:

    web-zh 1,600,000 (K 5)   web-en 1,000,000 (K 5)   literature 1,100,000 (K 4)
    encyclopedia 750,000 (K 3)   books 802,000 (K 2)   sft 142,000 x 3 epochs (K 0)

Each measurement runs in its own child process, so its peak RSS (``getrusage``) is its own:

  ours-order   the single-process path on ids already in memory: keys for every item and epoch
               (``order.keyed_table``) and the sort (``order.sort_keyed``)
  torch        ``torch.multinomial(weights, N, replacement=False)`` on a float32 tensor of the N item
               weights already in memory, as the public code does (it returns indices only)
  ours-job     the whole local job (``run_sample``): read ids from Parquet, order, write the parts, plot
  ray-large    the Ray Data path on ``--large`` items (the same six sources scaled up; ids are integers
               written as Parquet by this script first, not timed), local Ray with all CPUs

Usage: python benchmarks/bench_sampler.py [--runs 3] [--large 100000000] [--skip-large] [--work /tmp/bench_sampler]
(needs torch: pip install torch==2.13.0, the CPU build)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

# name, type, rows, K, epochs
SOURCES = [("web-zh", "web", 1_600_000, 5, 1), ("web-en", "web", 1_000_000, 5, 1),
           ("literature", "literature", 1_100_000, 4, 1), ("encyclopedia", "encyclopedia", 750_000, 3, 1),
           ("books", "books", 802_000, 2, 1), ("sft", "sft", 142_000, 0, 3)]
BETA, SEED = 2.0, 42


def total(sources) -> int:
    return sum(n * e for _, _, n, _, e in sources)


def scaled(n_items: int):
    """The six sources scaled to ``n_items`` items in all (the largest source absorbs the rounding)."""
    f = n_items / total(SOURCES)
    out = [[name, t, round(n * f), k, e] for name, t, n, k, e in SOURCES]
    out[0][2] += n_items - total(out)
    return [tuple(x) for x in out]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_memory_ids(sources):
    """Integer ids per source (disjoint ranges), as numpy arrays."""
    out, start = {}, 0
    for name, _, n, _, _ in sources:
        out[name] = np.arange(start, start + n, dtype=np.int64)
        start += n
    return out


def config(sources, paths=None, **kw):
    from huatuo_ray.sample.config import SamplerConfig

    return SamplerConfig(preset="release", beta=BETA, seed=SEED, sources=[
        {"name": name, "type": t, "K": k, "epochs": e, "path": (paths or {}).get(name)}
        for name, t, n, k, e in sources], **kw)


# --- children --------------------------------------------------------------------------------


def child_ours_order(runs: int) -> dict:
    import pyarrow as pa

    from huatuo_ray.sample.order import keyed_table, sort_keyed, source_codes

    cfg = config(SOURCES)
    ids = in_memory_ids(SOURCES)
    codes = source_codes(cfg)
    base = rss_mb()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        parts = [keyed_table(ids[s.name], s.name, codes[s.name], cfg.weight(s), s.epochs, cfg.seed) for s in cfg.sources]
        table = sort_keyed(pa.concat_tables(parts))
        times.append(time.perf_counter() - t0)
        assert table.num_rows == total(SOURCES)
        del parts, table
    return {"seconds": min(times), "all": times, "base_mb": base, "peak_mb": peak_mb()}


def child_torch(runs: int) -> dict:
    import torch

    weights = torch.cat([torch.full((n * e,), BETA ** k, dtype=torch.float32) for _, _, n, k, e in SOURCES])
    torch.manual_seed(SEED)
    base = rss_mb()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        order = torch.multinomial(weights, len(weights), replacement=False)
        times.append(time.perf_counter() - t0)
        assert len(order) == total(SOURCES)
        del order
    return {"seconds": min(times), "all": times, "base_mb": base, "peak_mb": peak_mb(),
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def write_inputs(sources, folder: Path, rows_per_file: int = 5_000_000) -> dict[str, str]:
    """Integer ids per source as Parquet files (row groups of 1M); reused when already there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths, start = {}, 0
    for name, _, n, _, _ in sources:
        d = folder / name
        paths[name] = str(d)
        done = d / "_done"
        if not done.exists():
            d.mkdir(parents=True, exist_ok=True)
            for i, a in enumerate(range(0, n, rows_per_file)):
                ids = np.arange(start + a, start + min(n, a + rows_per_file), dtype=np.int64)
                pq.write_table(pa.table({"id": ids}), d / f"ids-{i:04d}.parquet", row_group_size=1_000_000)
            done.touch()
        start += n
    return paths


def child_ours_job(work: Path) -> dict:
    from huatuo_ray.sample.priority import plan_sample, run_sample

    paths = write_inputs(SOURCES, work / "in-5.7m")
    base = rss_mb()
    t0 = time.perf_counter()
    res = run_sample(plan_sample(config(SOURCES, paths), "local"), work / "out-5.7m")
    return {"seconds": time.perf_counter() - t0, "base_mb": base, "peak_mb": peak_mb(), "files": len(res.summary["files"])}


class _MemoryWatch:
    """Peak of the machine's used memory (MemTotal - MemAvailable), sampled every 0.5 s."""

    def __init__(self):
        self.base = self.peak = self._used()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    @staticmethod
    def _used() -> float:
        info = {}
        with open("/proc/meminfo") as f:
            for line in f:
                k, v = line.split(":")
                info[k] = int(v.split()[0])
        return (info["MemTotal"] - info["MemAvailable"]) / 1024

    def _run(self):
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, self._used())

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._t.join()
        return self.base, self.peak


def child_ray_large(work: Path, n_items: int, shuffle: str) -> dict:
    import pyarrow.parquet as pq

    from huatuo_ray.recipe import RayConfig
    from huatuo_ray.runtime import init_ray
    from huatuo_ray.sample.priority import plan_sample, run_sample

    sources = scaled(n_items)
    t0 = time.perf_counter()
    paths = write_inputs(sources, work / f"in-{n_items}")
    t_inputs = time.perf_counter() - t0
    init_ray(RayConfig())
    import ray

    cpus = ray.cluster_resources().get("CPU")
    out = work / f"out-{n_items}"
    watch = _MemoryWatch()
    t0 = time.perf_counter()
    res = run_sample(plan_sample(config(sources, paths, sort_shuffle=shuffle), "ray"), out)
    seconds = time.perf_counter() - t0
    base, peak = watch.stop()
    rows = sum(pq.ParquetFile(out / f["path"]).metadata.num_rows for f in res.summary["files"])
    ray.shutdown()
    return {"seconds": seconds, "items": res.summary["total"], "rows_written": rows, "parts": len(res.summary["files"]),
            "cpus": cpus, "mem_base_mb": base, "mem_peak_mb": peak, "inputs_seconds": t_inputs, "shuffle": shuffle,
            "sources": sources}


# --- parent ----------------------------------------------------------------------------------


def run_child(*args: str, runs: int = 3, work: Path = Path("/tmp/bench_sampler")) -> dict:
    cmd = [sys.executable, __file__, "--runs", str(runs), "--work", str(work), "--child", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"child {args[0]} failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each in-memory ordering (best is reported)")
    ap.add_argument("--large", type=int, default=100_000_000, help="items for the Ray Data run")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--shuffle", default="sort_shuffle_pull_based", help="Ray Data shuffle for the large run")
    ap.add_argument("--work", default="/tmp/bench_sampler", help="scratch directory for Parquet inputs and outputs")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.work)
    if args.child:
        kind = args.child[0]
        if kind == "ours-order":
            res = child_ours_order(args.runs)
        elif kind == "torch":
            res = child_torch(args.runs)
        elif kind == "ours-job":
            res = child_ours_job(work)
        else:
            res = child_ray_large(work, int(args.child[1]), args.child[2])
        print(json.dumps(res))
        return

    work.mkdir(parents=True, exist_ok=True)
    n = total(SOURCES)
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"N = {n:,} items over {len(SOURCES)} sources (release preset, beta {BETA:g}), best of {args.runs}")
    torch_res = run_child("torch", runs=args.runs, work=work)
    ours = run_child("ours-order", runs=args.runs, work=work)
    job = run_child("ours-job", runs=args.runs, work=work)
    ratio = torch_res["seconds"] / ours["seconds"]
    print("\n| run | seconds | M items/s | peak RSS MB (before the call) | vs torch |\n|---|---|---|---|---|")
    for label, r in ((f"torch.multinomial, {torch_res['threads']} threads (torch {torch_res['torch']})", torch_res),
                     ("ours: keys + numpy sort, 1 thread", ours), ("ours: whole local job (Parquet in and out, plot)", job)):
        print(f"| {label} | {r['seconds']:.2f} | {n / r['seconds'] / 1e6:.2f} | {r['peak_mb']:,.0f} ({r['base_mb']:,.0f}) "
              f"| {torch_res['seconds'] / r['seconds']:.2f}x |")
    print(f"\nspeed ratio ours/torch (order only): {ratio:.2f}x; runs: torch {torch_res['all']}, ours {ours['all']}")
    if not args.skip_large:
        big = run_child("ray-large", str(args.large), args.shuffle, work=work)
        print(f"\nRay Data path, {big['items']:,} items ({big['rows_written']:,} rows written in {big['parts']} parts), "
              f"local Ray with {big['cpus']:.0f} CPUs, shuffle {big['shuffle']}: {big['seconds']:.1f} s = "
              f"{big['items'] / big['seconds'] / 1e6:.2f} M items/s; machine memory used peak {big['mem_peak_mb']:,.0f} MB "
              f"(before {big['mem_base_mb']:,.0f} MB); inputs written in {big['inputs_seconds']:.0f} s (not timed)")
        print(json.dumps(big["sources"]))


if __name__ == "__main__":
    main()
