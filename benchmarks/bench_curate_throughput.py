"""Throughput of the whole curation job against a bare Aho-Corasick scan on the same cores, and its growth.

For each ``--gb`` size the script

1. builds that many bytes of JSONL from real zh/en paragraphs (``../shared/data``: the infectious-disease
   textbook and the wuxia novel line by line, MedQuAD answers, the US-history prose blocks), repeated with
   distinct ids (``{"id": "d<n>", "text": ...}``, UTF-8, one record per line) into files of ``--file-mb`` under
   ``--tmp`` (never in the repository; reused by a later run with ``--keep``);
2. runs the **baseline**: a bare Aho-Corasick scan of the same texts, in the same order, with the same
   automata (the recipe's default density lexicons), on as many processes as the job has cores (``--cores``,
   default all: 2 here), each over a contiguous half: every text turned into the automaton's input string
   (``DensityScorer.units``) and every match walked (``for _ in automaton.iter(units)``). Its time is the
   slowest process's (they start together);
3. runs the **whole job**, ``huatuo-ray curate --input DIR --stages density,segment --language detect`` as a
   subprocess that starts its own local Ray on the same cores: wall clock from submission to ``stats.json``
   (and to the command's exit), with the peak RSS of every process of that command sampled every 0.2 s
   (psutil) and the worker seconds of each operator from ``stats.json``;
4. prints the ratio (bare time / job time: 1.0 would be a job as fast as the bare scan), MB/s of JSONL, the
   peak worker RSS, where the worker time went, and the load averages before and after each run.

With several sizes it also prints the growth table (wall and memory per size, wall per GB against the
smallest size). ``--json FILE`` writes the whole result.

    .venv/bin/python benchmarks/bench_curate_throughput.py --gb 1
    .venv/bin/python benchmarks/bench_curate_throughput.py --gb 0.25 1 2 4 --json /tmp/throughput.json
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HUATUO_SHARED_DATA", REPO.parent / "shared" / "data"))
MiB = 1 << 20


# --- input -----------------------------------------------------------------------------------


def paragraphs() -> list[str]:
    """Real zh and en paragraphs from ../shared/data (read, never copied into the repository)."""
    out: list[str] = []
    for name in ("fever.txt", "tianlongbabu.txt"):
        text = (SHARED / "corpus" / name).read_text(encoding="utf-8")
        out += [line.strip() for line in text.splitlines() if line.strip()]
    for path in sorted(glob.glob(str(SHARED / "en_medical/MedQuAD/*/*.xml"))):
        out += [(a.text or "").strip() for a in ET.parse(path).getroot().iter("Answer") if (a.text or "").strip()]
    text = (SHARED / "corpus/en_article_tail500.txt").read_text(encoding="utf-8")
    out += [b.strip() for b in text.split("\n\n") if b.strip()]
    return out


def build_input(folder: Path, size: int, file_bytes: int, base: list[str]) -> dict:
    """Write about ``size`` bytes of JSONL into ``folder`` (reused when a previous run left the same input)."""
    digest = hashlib.sha256("\x00".join(base).encode()).hexdigest()[:16]
    manifest = folder / "_input.json"  # names starting with _ are not read by the job
    want = {"size": size, "file_bytes": file_bytes, "paragraphs": len(base), "digest": digest}
    if manifest.exists():
        have = json.loads(manifest.read_text())
        if {k: have.get(k) for k in want} == want:
            return have
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.time()
    bodies = [json.dumps(t, ensure_ascii=False) for t in base]
    written = n = files = 0
    fh = None
    in_file = 0
    while written < size:
        if fh is None or in_file >= file_bytes:
            if fh:
                fh.close()
            fh = open(folder / f"part-{files:04d}.jsonl", "wb")
            files, in_file = files + 1, 0
        chunk = []
        for _ in range(2000):
            chunk.append(f'{{"id": "d{n}", "text": {bodies[n % len(base)]}}}\n')
            n += 1
        data = "".join(chunk).encode("utf-8")
        fh.write(data)
        written += len(data)
        in_file += len(data)
    fh.close()
    sizes = [len(t.encode()) for t in base]
    have = {**want, "records": n, "bytes": written, "files": files,
            "text_bytes": sum(sizes) * (n // len(base)) + sum(sizes[:n % len(base)]),
            "generated_s": round(time.time() - t0, 1)}
    manifest.write_text(json.dumps(have))
    return have


# --- baseline: bare Aho-Corasick scan on N processes -------------------------------------------

_SCAN: dict = {}


def _scan_worker(lo: int, hi: int, barrier, out) -> None:
    scorer, automata, texts, langs = _SCAN["scorer"], _SCAN["automata"], _SCAN["texts"], _SCAN["langs"]
    n_base = len(texts)
    barrier.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    matches = 0
    for i in range(lo, hi):
        k = i % n_base
        lang = langs[k]
        if lang is None:
            continue
        units = scorer.units(texts[k], lang)
        for _ in automata[lang].iter(units):
            matches += 1
    out.put((time.perf_counter() - t0, matches, time.process_time() - c0))


def bare_scan(base: list[str], records: int, cores: int) -> dict:
    """The bare scan of records 0..records-1 (record i holds paragraph i % len(base)), split over ``cores``."""
    from huatuo_ray.curate.density.scorer import DensityScorer
    from huatuo_ray.io.language import detect_language
    from huatuo_ray.recipe import Recipe

    scorer = DensityScorer.from_config(Recipe().curate.density)
    automata = scorer.automata
    # the job reads with language=detect: the same detection picks the same automaton here (not timed)
    langs = [lang if lang in automata else None for lang in map(detect_language, base)]
    _SCAN.update(scorer=scorer, automata=automata, texts=base, langs=langs)
    ctx = mp.get_context("fork")  # the workers share the automata built here
    barrier, out = ctx.Barrier(cores), ctx.Queue()
    bounds = [records * j // cores for j in range(cores + 1)]
    procs = [ctx.Process(target=_scan_worker, args=(bounds[j], bounds[j + 1], barrier, out)) for j in range(cores)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return {"seconds": max(r[0] for r in results), "per_process_s": sorted(round(r[0], 2) for r in results),
            "matches": sum(r[1] for r in results), "processes": cores, "cpu_s": sum(r[2] for r in results),
            "skipped_no_lexicon": sum(1 for i in range(len(base)) if langs[i] is None)}


# --- the whole job ---------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Peak RSS of every process in a process tree (the job's driver, Ray's workers and daemons)."""

    def __init__(self, root: psutil.Process, every: float):
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.peak: dict[int, dict] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            for p in procs:
                try:
                    with p.oneshot():
                        rss, cpu = p.memory_info().rss, p.cpu_times()
                    e = self.peak.setdefault(p.pid, {"kind": "", "rss": 0, "cpu": 0.0})
                    if e["kind"] != "ray worker":  # a process's title changes (a worker starts as a fork)
                        e["kind"] = _kind(p, self.root)
                    e["rss"] = max(e["rss"], rss)
                    e["cpu"] = max(e["cpu"], cpu.user + cpu.system)  # the last look (CPU time only grows)
                except psutil.Error:
                    continue
            self.stop.wait(self.every)


def _kind(p: psutil.Process, root: psutil.Process) -> str:
    if p.pid == root.pid:
        return "driver"
    try:
        title = " ".join(p.cmdline())
    except psutil.Error:
        return "?"
    if "default_worker.py" in title or title.startswith("ray::"):
        return "ray worker" if title.startswith("ray::") and "IDLE" not in title else "ray worker (idle)"
    return "ray system"


def run_job(inp: Path, out: Path, cores: int, extra: list[str]) -> dict:
    cmd = [str(Path(sys.executable).parent / "huatuo-ray"), "curate", "--input", str(inp), "--output", str(out),
           "--stages", "density,segment", "--source-type", "web", "--language", "detect", "--overwrite",
           "--set", f"ray.num_cpus={cores}", *extra]
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "RAY_ADDRESS": "", "PYTHONUNBUFFERED": "1"})
    sampler = Sampler(psutil.Process(proc.pid), 0.2)
    sampler.start()
    log = proc.stdout.read()
    proc.wait()
    exit_s = time.time() - t0
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"curate failed ({proc.returncode}):\n{log[-4000:]}")
    stats_path = out / "stats.json"
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    workers = [e["rss"] for e in sampler.peak.values() if e["kind"].startswith("ray worker")]
    driver = [e["rss"] for e in sampler.peak.values() if e["kind"] == "driver"]
    cpu: dict[str, float] = {}
    for e in sampler.peak.values():
        k = e["kind"].replace(" (idle)", "")
        cpu[k] = cpu.get(k, 0.0) + e["cpu"]
    return {"wall_s": stats_path.stat().st_mtime - t0, "exit_s": exit_s, "stats": stats, "cpu_s": cpu,
            "peak_worker_rss_mib": max(workers) / MiB if workers else 0.0,
            "driver_rss_mib": max(driver) / MiB if driver else 0.0, "command": " ".join(cmd)}


# --- report ----------------------------------------------------------------------------------


def machine() -> dict:
    import pyarrow
    import ray

    import huatuo_ray

    try:
        import orjson
        orjson_v = orjson.__version__
    except ImportError:
        orjson_v = None
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    code = Path(huatuo_ray.__file__).resolve().parents[1]  # the checkout whose package the job runs
    try:
        commit = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(code), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "?", False
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cpu": cpu, "cores": os.cpu_count(),
            "ram_gib": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
            "ray": ray.__version__, "pyarrow": pyarrow.__version__, "orjson": orjson_v,
            "pyahocorasick": _version("pyahocorasick"), "package": str(code),
            "commit": commit + ("+dirty" if dirty else "")}


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def one_size(gb: float, args, base: list[str]) -> dict:
    work = Path(args.tmp) / f"bench_throughput_{gb:g}GB"
    inp = build_input(work / "in", int(gb * 1e9), int(args.file_mb * 1e6), base)
    mb = inp["bytes"] / 1e6
    print(f"\n== {gb:g} GB: {mb:,.0f} MB of JSONL in {inp['files']} files, {inp['records']:,} records "
          f"({inp['text_bytes'] / 1e6:,.0f} MB of text)", flush=True)
    l0 = load()
    bare = bare_scan(base, inp["records"], args.cores)
    l1 = load()
    print(f"bare scan ({args.cores} processes): {bare['seconds']:.1f} s (per process {bare['per_process_s']}), "
          f"{mb / bare['seconds']:.1f} MB/s, {bare['matches']:,} matches   [load {l0} -> {l1}]", flush=True)
    job = run_job(work / "in", work / "out", args.cores, args.set)
    l2 = load()
    stats = job["stats"]
    led = stats["ledger"]
    ratio = bare["seconds"] / job["wall_s"]
    secs = stats.get("worker_seconds", {})
    busy = sum(secs.values())
    print(f"whole job: {job['wall_s']:.1f} s to stats.json ({job['exit_s']:.1f} s to exit), {mb / job['wall_s']:.1f} "
          f"MB/s, ratio {ratio:.3f}, peak worker RSS {job['peak_worker_rss_mib']:.0f} MiB, driver "
          f"{job['driver_rss_mib']:.0f} MiB   [load {l1} -> {l2}]", flush=True)
    cpu = job["cpu_s"]
    print(f"  CPU seconds: bare {bare['cpu_s']:.1f}; job {sum(cpu.values()):.1f} ("
          + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
          + f"): CPU ratio {bare['cpu_s'] / sum(cpu.values()):.3f} (less sensitive to other load than the wall ratio)",
          flush=True)
    print(f"  records {led['records']:,}, kept rows {led['kept_rows']:,}, units {stats['units']['total']}; "
          f"worker seconds per GB: " + ", ".join(f"{k} {v / (mb / 1e3):.1f}" for k, v in secs.items())
          + f"; busy {busy / (job['wall_s'] * args.cores):.0%} of {args.cores} cores x wall", flush=True)
    if led["records"] != inp["records"]:
        sys.exit(f"the job read {led['records']} records, the input has {inp['records']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        shutil.rmtree(work / "out", ignore_errors=True)
    return {"gb": gb, "input": inp, "bare": bare, "job": {k: v for k, v in job.items() if k != "stats"},
            "ratio": ratio, "cpu_ratio": bare["cpu_s"] / sum(cpu.values()), "mb_per_s": mb / job["wall_s"], "bare_mb_per_s": mb / bare["seconds"],
            "worker_seconds": secs, "ledger": {k: led[k] for k in ("records", "kept_rows", "input_chars") if k in led},
            "units": stats["units"], "load": {"before": l0, "after_bare": l1, "after_job": l2}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, nargs="+", default=[1.0], help="JSONL sizes in GB (1e9 bytes)")
    ap.add_argument("--cores", type=int, default=os.cpu_count(), help="cores for both the bare scan and the job")
    ap.add_argument("--file-mb", type=float, default=128.0, help="size of each JSONL file (MB)")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where the input and output go (default /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the generated input for a later run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="recipe override passed to the job (repeatable; e.g. curate.part_bytes=16777216)")
    ap.add_argument("--json", help="also write the result as JSON here")
    args = ap.parse_args()
    args.set = [x for kv in args.set for x in ("--set", kv)]
    m = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in m.items()), flush=True)
    print(f"load average at start (1/5/15 min): {load()}", flush=True)
    base = paragraphs()
    rows = [one_size(gb, args, base) for gb in args.gb]
    print(f"\n{'GB':>5s} {'records':>10s} {'bare s':>7s} {'job s':>7s} {'MB/s':>6s} {'ratio':>6s} {'CPU r.':>6s} "
          f"{'s/GB':>6s} {'worker RSS':>11s} {'driver RSS':>11s}  load before -> after")
    first = rows[0]
    for r in rows:
        print(f"{r['gb']:5g} {r['input']['records']:10,d} {r['bare']['seconds']:7.1f} {r['job']['wall_s']:7.1f} "
              f"{r['mb_per_s']:6.1f} {r['ratio']:6.3f} {r['cpu_ratio']:6.3f} "
              f"{r['job']['wall_s'] / (r['input']['bytes'] / 1e9):6.1f} "
              f"{r['job']['peak_worker_rss_mib']:7.0f} MiB {r['job']['driver_rss_mib']:7.0f} MiB  "
              f"{r['load']['before']} -> {r['load']['after_job']}")
    if len(rows) > 1:
        per_gb = first["job"]["wall_s"] / (first["input"]["bytes"] / 1e9)
        print("wall per GB against the smallest size: " + ", ".join(
            f"{r['gb']:g} GB {r['job']['wall_s'] / (r['input']['bytes'] / 1e9) / per_gb:.2f}" for r in rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, "args": vars(args), "rows": rows}, indent=1))
        print(f"written: {args.json}")


if __name__ == "__main__":
    main()
