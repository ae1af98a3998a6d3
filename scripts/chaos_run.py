#!/usr/bin/env python
"""The chaos run: the local recipe killed at random moments across all its steps, each time rerun to the end and
compared with an uninterrupted run.

    PYTHONPATH=. .venv/bin/python scripts/chaos_run.py --kills 20 --json chaos.json        # about 80 min on 2 cores

What it does:

1. starts one real vLLM server (`huatuo-ray llm serve`, the offline SmolLM2) that outlives the runs it serves;
   every run uses it as ``llm.backend=endpoint`` with greedy decoding, so answers do not depend on timing;
2. runs ``huatuo-ray run --config configs/local.yaml`` (a small slice: ``--segments`` unified segments,
   ``--train-steps`` training steps) once without interruption: the reference, and its timeline per step;
3. for each of ``--kills`` trials: draws a moment uniformly over the reference's timeline (which step, how far
   into it), removes that step's output and those after it from the chaos run directory (the earlier steps stay
   as the previous trial left them), starts the run, and at that moment SIGKILLs it (driver, local Ray and all).
   Some trials first kill a busy Ray worker (a Ray Data task or actor, a Ray Train worker) or the LLM server
   itself (restarted at once) and SIGKILL the run a little later. Then reruns the same command until it succeeds;
4. after each trial compares what the run produced (curated ids and text, pairs, the sampled order, packed
   tokens, the sample ids training consumed) with the reference, checks that every file is whole (Parquet, JSON,
   npy readable; no temporaries or trash left) and that no process of the runs is left (each run's processes
   carry an environment tag; the shared server is the script's own and is stopped at the end).

It prints a summary and writes the result as JSON (``--json``). Exit code 0 when every trial is identical and
clean. `tests/run/test_chaos.py` runs it with a small ``--kills`` (heavy).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

STEPS = ("sft", "curate", "unify", "sample", "pack", "train")
WORKER_STEPS = ("curate", "unify", "train")  # steps whose work runs in Ray workers
TAG = "HUATUO_CHAOS_TAG"


# --- the recipe and what it produces (also used by tests/run/test_kill_local_recipe.py) ---------------------------

def write_recipe(path: Path, root: Path, server_url: str, segments: int = 4, train_steps: int = 2) -> list[str]:
    """configs/local.yaml at ``root``, generating with the endpoint ``server_url`` greedily; returns the command."""
    import yaml

    from tests.conftest import local_recipe

    r = local_recipe(root, "llm.backend=endpoint", f"llm.endpoint.base_url={server_url}", "llm.endpoint.model=local",
                     f"unify.max_segments={segments}", "unify.question_sampling.temperature=0",
                     "unify.answer_sampling.temperature=0", f"train.max_steps={train_steps}", "train.checkpoint_every=1")
    path.write_text(yaml.safe_dump(r.model_dump(mode="json"), allow_unicode=True))
    return [sys.executable, "-m", "huatuo_ray.cli", "run", "--config", str(path)]


def _table(path: Path, columns: list[str] | None = None, sort: str | None = None) -> list[dict]:
    import pyarrow.parquet as pq

    rows = pq.read_table(path, columns=columns).to_pylist()
    return sorted(rows, key=lambda r: r[sort]) if sort else rows


def outputs(root: Path) -> dict:
    """What each step wrote, without timings and paths."""
    import pyarrow.parquet as pq

    from huatuo_ray.train.metrics import consumed_sequence

    return {
        "sft": _table(root / "sft" / "sharegpt" / "kept", sort="id"),
        "curate": _table(root / "curate" / "kept", ["id", "text", "dedup_cluster"], sort="id"),
        "unify": _table(root / "unify" / "release" / "huatuogpt2.parquet", ["id", "conversations"], sort="id"),
        "order": pq.read_table(root / "sample" / "order").to_pydict(),
        "tokens": sorted((str(p.relative_to(root)), p.read_bytes()) for p in (root / "pack" / "steps").rglob("*.npy")),
        "trained": consumed_sequence(root / "train" / "huatuo-train"),
    }


def start_and_kill_when(cmd: list[str], ready, timeout_s: float = 900) -> None:
    """Start ``cmd`` in its own session; SIGKILL the session (driver, local Ray) once ``ready()`` is true."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout_s
    while not ready():
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline, "no progress"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# --- one run of the recipe, watched -------------------------------------------------------------------------------

class Run:
    """``huatuo-ray run`` in its own session, its stderr kept (with times) to see which step it is in."""

    STEP_LINE = re.compile(r"^\[(\w+)\] (.*)$")

    def __init__(self, cmd: list[str], log: Path, tag: str):
        self.log, self.lines, self.t0 = log, [], time.time()
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env[TAG] = tag
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     errors="replace", env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with open(self.log, "w", encoding="utf-8") as out:
            for line in self.proc.stderr:
                self.lines.append((time.time() - self.t0, line.rstrip("\n")))
                out.write(line)

    def started(self, step: str) -> float | None:
        """When ``step`` started working in this run (None: not yet; a step found done does not count)."""
        for t, line in list(self.lines):
            m = self.STEP_LINE.match(line)
            if m and m.group(1) == step and not m.group(2).startswith(("done:", "finished", "starting afresh")):
                return t
        return None

    def finished(self, step: str) -> float | None:
        for t, line in list(self.lines):
            m = self.STEP_LINE.match(line)
            if m and m.group(1) == step and m.group(2).startswith("finished in"):
                return t
        return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait()

    def wait(self, timeout: float | None = None) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def tail(self, n: int = 25) -> str:
        return "\n".join(line for _, line in self.lines[-n:])


# --- processes and files ------------------------------------------------------------------------------------------

def tagged_processes(tag: str) -> list[dict]:
    """Live processes whose environment carries ``tag`` (every process a run started: driver, Ray, workers)."""
    found = []
    needle = f"{TAG}={tag}".encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle not in (d / "environ").read_bytes().split(b"\0"):
                continue
            if (d / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found.append({"pid": int(d.name), "cmd": cmd[:160]})
    return found


def wait_no_processes(tag: str, timeout_s: float = 60) -> list[dict]:
    deadline = time.time() + timeout_s
    while True:
        left = tagged_processes(tag)
        if not left or time.time() > deadline:
            return left
        time.sleep(0.5)


WORKERS = ("MapBatches", "MapWorker", "RayTrainWorker", "UnifyWorker", "_StageActor", "Embedder", "ReadFiles")


def busy_ray_worker(tag: str) -> dict | None:
    """A Ray process doing the step's work (a Ray Data task or actor, a Ray Train worker), not a coordinator."""
    ray = [p for p in tagged_processes(tag) if p["cmd"].startswith("ray::") and not p["cmd"].startswith("ray::IDLE")]
    workers = [p for p in ray if any(w in p["cmd"] for w in WORKERS)]
    return random.choice(workers) if workers else None


def bad_files(root: Path) -> list[str]:
    """Files that are not whole (unreadable Parquet / JSON / npy) and leftovers of interrupted writes."""
    import numpy as np
    import pyarrow.parquet as pq

    bad = []
    for p in root.rglob("*"):
        name = p.name
        if name.startswith((".tmp-", ".trash-")):
            bad.append(f"leftover {p.relative_to(root)}")
            continue
        if not p.is_file():
            continue
        try:
            if name.endswith(".parquet"):
                pq.read_metadata(p)
            elif name.endswith(".json"):
                json.loads(p.read_text(encoding="utf-8"))
            elif name.endswith(".npy"):
                np.load(p, mmap_mode="r")
            elif name.endswith(".jsonl") and "train_log" in p.parts:
                for line in p.read_text(encoding="utf-8").splitlines():
                    json.loads(line)
        except Exception as e:  # noqa: BLE001 - any failure to read it is the finding
            bad.append(f"{p.relative_to(root)}: {type(e).__name__}: {str(e)[:100]}")
    return bad


def differences(a: dict, b: dict) -> list[str]:
    return [k for k in a if a[k] != b.get(k)]


# --- the chaos run ------------------------------------------------------------------------------------------------

class Server:
    """The shared LLM server (`huatuo-ray llm serve`): killed and restarted by some trials."""

    def __init__(self, log_dir: Path):
        from tests.conftest import LLMServe

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.serve = LLMServe(port, log_dir)
        self.serve.start()
        self._restart: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.serve.base_url

    def crash_and_restart(self) -> None:
        self.serve.kill_server()
        self._restart = threading.Thread(target=self.serve.start, daemon=True)
        self._restart.start()

    def ready(self) -> None:
        if self._restart is not None:
            self._restart.join(900)
            self._restart = None

    def stop(self) -> list[int]:
        self.ready()
        self.serve.stop()
        return self.serve.group_alive()


def timeline(run: Run) -> dict[str, float]:
    """Seconds each step took in the reference run (from its start line to its end line)."""
    out = {}
    for step in STEPS:
        a, b = run.started(step), run.finished(step)
        if a is not None and b is not None:
            out[step] = max(b - a, 1.0)
    return out


def draw_trials(n: int, spans: dict[str, float], rng: random.Random) -> list[dict]:
    """``n`` moments over the reference timeline; a few also crash a Ray worker or the server first."""
    kinds = ["run"] * n
    if n >= 2:
        kinds[0], kinds[1] = "server", "worker"
        for i in range(2, n):
            kinds[i] = rng.choices(["run", "worker", "server"], [0.7, 0.15, 0.15])[0]
        rng.shuffle(kinds)
    trials, total = [], sum(spans.values())
    # every step gets one plain kill first (short steps such as sft and sample are rarely hit by chance)
    firsts = iter(rng.sample(list(spans), len(spans)) if kinds.count("run") >= len(spans) else [])
    for kind in kinds:
        first = next(firsts, None) if kind == "run" else None
        allowed = (first,) if first else {"server": ("unify",), "worker": WORKER_STEPS}.get(kind, tuple(spans))
        allowed = [s for s in allowed if s in spans] or list(spans)
        t = rng.uniform(0, sum(spans[s] for s in allowed))
        for step in allowed:
            if t < spans[step]:
                break
            t -= spans[step]
        offset = min(t, spans[step])
        before = sum(spans[s] for s in STEPS[:STEPS.index(step)] if s in spans)
        trials.append({"kind": kind, "step": step, "offset_s": round(offset, 2),
                       "moment_of_reference": round((before + offset) / total, 3)})
    return trials


def clear_from(root: Path, step: str) -> None:
    """Remove ``step``'s output and every later step's (the earlier outputs stay as they are)."""
    for s in STEPS[STEPS.index(step):]:
        shutil.rmtree(root / s, ignore_errors=True)


def run_trial(i: int, trial: dict, cmd: list[str], root: Path, work: Path, ref: dict, server: Server,
              rng: random.Random, tag: str) -> dict:
    clear_from(root, trial["step"])
    result = {**trial, "trial": i}
    run = Run(cmd, work / f"trial{i:02d}-killed.log", tag)
    deadline = time.time() + 1800
    while run.alive() and run.started(trial["step"]) is None and time.time() < deadline:
        time.sleep(0.05)
    at = (run.started(trial["step"]) or 0) + trial["offset_s"]
    while run.alive() and time.time() - run.t0 < at:
        time.sleep(0.05)
    if trial["kind"] == "worker" and run.alive():
        w = busy_ray_worker(tag)
        if w:
            os.kill(w["pid"], signal.SIGKILL)
        result["worker_killed"] = w["cmd"] if w else None
    elif trial["kind"] == "server" and run.alive():
        server.crash_and_restart()
        result["server_killed"] = True
    if trial["kind"] != "run":  # the fault first, the run's SIGKILL a little later
        later = time.time() + rng.uniform(2, 15)
        while run.alive() and time.time() < later:
            time.sleep(0.05)
    result["killed_in"] = next((s for s in reversed(STEPS) if run.started(s) is not None and run.finished(s) is None),
                               None) if run.alive() else None
    result["run_ended_before_the_kill"] = not run.alive()
    result["exit_before_kill"] = run.proc.poll()
    run.kill()
    result["left_after_kill"] = wait_no_processes(tag, 60)
    server.ready()
    reruns = []
    for k in range(4):
        again = Run(cmd, work / f"trial{i:02d}-rerun{k}.log", tag)
        code = again.wait(3600)
        reruns.append(code)
        if code == 0:
            break
        result.setdefault("rerun_errors", []).append(again.tail(8))
        server.ready()
    result["reruns"] = reruns
    result["completed"] = reruns[-1] == 0
    result["left_processes"] = wait_no_processes(tag, 60) + result.pop("left_after_kill")
    result["bad_files"] = bad_files(root)
    diff = differences(ref, outputs(root)) if result["completed"] else ["(the run did not complete)"]
    result["differences"] = diff
    result["identical"] = not diff
    result["clean"] = not result["left_processes"] and not result["bad_files"]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="trials: the run SIGKILLed once in each, then rerun "
                    "(with 2 or more, one trial crashes the LLM server first and one a Ray worker)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--segments", type=int, default=4, help="unify.max_segments of the local recipe")
    ap.add_argument("--train-steps", type=int, default=2, help="train.max_steps of the local recipe")
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: a new one under /tmp)")
    ap.add_argument("--json", type=Path, default=None, help="write the result here (default: <work>/chaos.json)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    work = (args.work or Path(f"/tmp/huatuo-chaos-{uuid.uuid4().hex[:8]}")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex
    t0 = time.time()
    server = Server(work)
    try:
        ref_cmd = write_recipe(work / "ref.yaml", work / "ref", server.base_url, args.segments, args.train_steps)
        spans: dict[str, float] = {}
        for k in range(3):  # a run that fails for a reason of the machine (e.g. out of memory) resumes
            reference = Run(ref_cmd, work / f"reference{k}.log", tag)
            code = reference.wait(3600)
            spans.update({s: v for s, v in timeline(reference).items() if s not in spans or k == 0})
            if code == 0:
                break
            print(f"[chaos] the reference run failed (attempt {k + 1}):\n{reference.tail(5)}", file=sys.stderr)
        else:
            return 2
        if k:
            print("[chaos] the reference run was resumed: its timeline mixes attempts", file=sys.stderr)
        ref = outputs(work / "ref")
        cmd = write_recipe(work / "chaos.yaml", work / "chaos", server.base_url, args.segments, args.train_steps)
        trials = draw_trials(args.kills, spans, rng)
        results = []
        for i, trial in enumerate(trials, 1):
            r = run_trial(i, trial, cmd, work / "chaos", work, ref, server, rng, tag)
            results.append(r)
            print(f"[chaos] trial {i}/{len(trials)}: {r['kind']} fault, killed in {r['killed_in'] or '-'} "
                  f"({r['step']} +{r['offset_s']:.0f} s), reruns {r['reruns']}: "
                  f"{'identical' if r['identical'] else 'DIFFERENT ' + ','.join(r['differences'])}"
                  f"{'' if r['clean'] else ', NOT CLEAN'}", flush=True)
    finally:
        server_left = server.stop()
    summary = {
        "kills": len(results), "identical": sum(r["identical"] for r in results),
        "clean": sum(r["clean"] for r in results),
        "killed_in": {s: sum(r["killed_in"] == s for r in results) for s in STEPS},
        "faults": {k: sum(r["kind"] == k for r in results) for k in ("run", "worker", "server")},
        "server_processes_left": server_left, "reference_seconds": {s: round(v, 1) for s, v in spans.items()},
        "seconds": round(time.time() - t0, 1), "segments": args.segments, "train_steps": args.train_steps,
        "seed": args.seed, "work": str(work),
    }
    out = args.json or work / "chaos.json"
    from huatuo_ray.io.atomic import write_json_atomic

    write_json_atomic(out, {"summary": summary, "trials": results})
    print(f"[chaos] {summary['identical']}/{summary['kills']} identical, {summary['clean']}/{summary['kills']} clean "
          f"(no process left, every file whole); kills by step {summary['killed_in']}; faults {summary['faults']}; "
          f"{summary['seconds'] / 60:.1f} min; result {out}", flush=True)
    ok = summary["identical"] == summary["clean"] == summary["kills"] and not server_left
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
