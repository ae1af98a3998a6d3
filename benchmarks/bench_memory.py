"""Peak memory of `huatuo-ray curate` on one large compressed JSONL file, per Ray worker and for the driver.

Generates ``--size`` of JSONL (uncompressed bytes: the size of the JSON lines before compression) from real
text, cycled with varied ids, compressed as one ``.jsonl.zst`` (or ``.jsonl.gz``) file under ``--tmp`` (never
in the repository), runs ``huatuo-ray curate --stages density,segment`` on it with a local Ray (a new one,
started by the command), samples the RSS of every process of that command's process tree every
``--every`` seconds, and prints the peak RSS of each Ray worker process, of the driver and of Ray's own
processes, with the wall time. Several ``--size`` values compare sizes (memory should be flat)::

    .venv/bin/python benchmarks/bench_memory.py --size 0.25GB --size 1GB [--compression gz] [--keep]

Text: ``../shared/data/corpus`` (zh paragraphs, en articles) and the bundled demo corpus' MedQuAD answers.
RSS counts the shared pages a process touched (the object store is shared memory); ``private`` is RSS minus
shared pages, what the process holds itself.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import zstandard

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HUATUO_SHARED_DATA", REPO.parent / "shared" / "data"))


def parse_size(s: str) -> int:
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)B?\s*", s.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {s!r} (e.g. 500MB, 10GB)")
    return int(float(m.group(1)) * 1000 ** "_KMGT".index(m.group(2) or "_"))


def texts() -> list[tuple[str, str]]:
    """(language, paragraph) pairs of real text: the shared corpus when present, else the bundled demo corpus."""
    out: list[tuple[str, str]] = []
    for name, lang in (("fever.txt", "zh"), ("tianlongbabu.txt", "zh"), ("medical_corpus.txt", "zh")):
        p = SHARED / "corpus" / name
        if p.exists():
            out += [(lang, line.strip()) for line in p.read_text(encoding="utf-8").splitlines() if len(line.strip()) > 20]
    p = SHARED / "corpus" / "en_article_tail500.txt"
    if p.exists():
        out += [("en", b.strip()) for b in p.read_text(encoding="utf-8").split("\n\n") if len(b.strip()) > 20]
    with gzip.open(REPO / "examples/demo_corpus/encyclopedia/medquad.jsonl.gz", "rt", encoding="utf-8") as f:
        out += [("en", json.loads(line)["text"]) for line in f if line.strip()]
    return out


def generate(path: Path, size: int, compression: str) -> tuple[int, int]:
    """Write about ``size`` bytes of JSONL (before compression) to ``path``; returns (records, compressed bytes).

    Documents join 1 to 8 paragraphs (so some are long and cut into several segments) and carry a small
    ``meta`` (other fields of the record)."""
    base = texts()
    raw = open(path, "wb")
    f = (zstandard.ZstdCompressor(level=3).stream_writer(raw) if compression == "zst"
         else gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1))
    written = n = 0
    lines = []
    while written < size:
        k = 1 + n % 8
        lang = base[n % len(base)][0]
        body = "\n".join(t for _, t in (base[(n * 7 + j) % len(base)] for j in range(k)))
        line = (json.dumps({"id": f"doc-{n}", "text": body, "language": lang, "url": f"https://example.org/{n}",
                            "crawl": n % 97}, ensure_ascii=False) + "\n").encode()
        lines.append(line)
        written += len(line)
        n += 1
        if len(lines) >= 2000:
            f.write(b"".join(lines))
            lines = []
    f.write(b"".join(lines))
    f.close()
    if not raw.closed:
        raw.close()
    return n, path.stat().st_size


class Sampler(threading.Thread):
    """Peak RSS (and RSS minus shared pages) of every process in a process tree, sampled periodically."""

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
                    m = p.memory_info()
                    entry = self.peak.get(p.pid)
                    if entry is None:
                        entry = self.peak[p.pid] = {"kind": "", "rss": 0, "private": 0}
                    if not entry["kind"] or entry["kind"] == "ray worker (idle)":
                        entry["kind"] = kind(p, self.root)
                    entry["rss"] = max(entry["rss"], m.rss)
                    entry["private"] = max(entry["private"], m.rss - getattr(m, "shared", 0))
                except psutil.Error:
                    continue
            self.stop.wait(self.every)


def kind(p: psutil.Process, root: psutil.Process) -> str:
    if p.pid == root.pid:
        return "driver"
    try:
        title = " ".join(p.cmdline())
    except psutil.Error:
        return "?"
    if "default_worker.py" in title or title.startswith("ray::"):
        return "ray worker" if title.startswith("ray::") and "IDLE" not in title else "ray worker (idle)"
    return "ray system"


def run(path: Path, out: Path, every: float) -> dict:
    cmd = [str(Path(sys.executable).parent / "huatuo-ray"), "curate", "--input", str(path), "--output", str(out),
           "--stages", "density,segment", "--source-type", "web", "--language", "detect"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "RAY_ADDRESS": "", "PYTHONUNBUFFERED": "1"})
    sampler = Sampler(psutil.Process(proc.pid), every)
    sampler.start()
    log = proc.stdout.read()
    proc.wait()
    sampler.stop.set()
    sampler.join()
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"curate failed ({proc.returncode}):\n{log[-4000:]}")
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    by_kind: dict[str, list[dict]] = {}
    for e in sampler.peak.values():
        by_kind.setdefault(e["kind"].replace(" (idle)", ""), []).append(e)
    return {"wall_s": wall, "stats": stats, "by_kind": by_kind}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=parse_size, action="append",
                    help="JSONL bytes before compression (repeatable; default 10GB)")
    ap.add_argument("--compression", choices=("zst", "gz"), default="zst")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where the input and output go (default /tmp)")
    ap.add_argument("--every", type=float, default=0.2, help="seconds between RSS samples")
    ap.add_argument("--keep", action="store_true", help="keep the generated input and the output")
    args = ap.parse_args()
    sizes = args.size or [parse_size("10GB")]
    mb = 1 << 20
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    for size in sizes:
        work = Path(tempfile.mkdtemp(prefix="bench_memory_", dir=args.tmp))
        try:
            path = work / f"big.jsonl.{args.compression}"
            t0 = time.time()
            records, compressed = generate(path, size, args.compression)
            print(f"\ninput: {size / 1e9:.2f} GB of JSONL, {records:,} records, {compressed / 1e6:.0f} MB as "
                  f".{args.compression} (generated in {time.time() - t0:.0f} s)", flush=True)
            r = run(path, work / "out", args.every)
            led = r["stats"]["ledger"]
            parts = [json.loads(m.read_text(encoding="utf-8")).get("parts", 1)
                     for m in (work / "out" / "_markers").glob("*.json")]
            print(f"curate --stages density,segment: {r['wall_s']:.0f} s wall; records {led['records']:,}, "
                  f"kept rows {led['kept_rows']:,}, units {r['stats']['units']['total']}, parts {sum(parts)}")
            for k in ("ray worker", "driver", "ray system"):
                es = r["by_kind"].get(k, [])
                if es:
                    print(f"  {k:11s} processes {len(es):2d}  peak RSS {max(e['rss'] for e in es) / mb:7.0f} MiB  "
                          f"peak private {max(e['private'] for e in es) / mb:7.0f} MiB")
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
            else:
                print(f"  kept: {work}")


if __name__ == "__main__":
    main()
