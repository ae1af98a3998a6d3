"""kill -9 of the driver or of a worker, then the same command again: the output equals an uninterrupted run."""

from __future__ import annotations

import glob
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

CLI = [sys.executable, "-m", "huatuo_ray.cli"]
MED = "高血压患者应长期服用降压药物，定期监测血压，并注意低盐饮食。糖尿病可引起视网膜病变和肾功能衰竭。"
OTHER = "那天傍晚，他骑着马穿过山谷，远处的村庄升起了炊烟，孩子们在河边嬉戏。"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kill") / "in"
    root.mkdir()
    rng = random.Random(0)
    for f in range(3):
        with open(root / f"part{f}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(2000):
                text = (MED if rng.random() < 0.5 else OTHER) * rng.randint(1, 20)
                fh.write(json.dumps({"id": f"{f}-{i}", "text": text}, ensure_ascii=False) + "\n")
        fh.close()
    (root / "broken.jsonl").write_bytes(b'{"id": "x", "text": "unterminated\n{"id": "y"}\n')
    return root


def command(corpus: Path, out: Path) -> list[str]:
    return [*CLI, "curate", "--input", str(corpus), "--output", str(out), "--set", "curate.unit_bytes=60000",
            "--set", "curate.stages=[density,segment]", "--set", "ray.num_cpus=2"]


def run_to_end(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def kept(out: Path) -> pd.DataFrame:
    df = pd.concat([pd.read_parquet(f) for f in glob.glob(str(out / "kept" / "*.parquet"))], ignore_index=True)
    return df[["id", "text"]].sort_values("id").reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "out"
    run_to_end(command(corpus, out))
    return out


def start_and_wait_for_markers(cmd: list[str], out: Path, n: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while len(glob.glob(str(out / "_markers" / "*.json"))) < n:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline, "no progress"
        time.sleep(0.05)
    return proc


def test_kill_driver_then_rerun(corpus, reference, tmp_path):
    out = tmp_path / "out"
    proc = start_and_wait_for_markers(command(corpus, out), out, 20)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
    proc.wait()
    done = len(glob.glob(str(out / "_markers" / "*.json")))
    stats_path = out / "stats.json"
    assert not stats_path.exists() and done < 100
    run_to_end(command(corpus, out))
    stats = json.loads(stats_path.read_text())
    assert stats["units"]["done_before_this_run"] >= 20
    pd.testing.assert_frame_equal(kept(reference), kept(out))
    assert stats["ledger"] == json.loads((reference / "stats.json").read_text())["ledger"]


def test_kill_worker_mid_run(corpus, reference, tmp_path):
    out = tmp_path / "out"
    proc = start_and_wait_for_markers(command(corpus, out), out, 10)
    sid = os.getsid(proc.pid)
    workers: list[int] = []
    while not workers and proc.poll() is None:  # a worker's title names its task only while it runs one
        workers = [int(p) for p in os.listdir("/proc") if p.isdigit() and _is_map_worker(int(p), sid)]
        time.sleep(0.01)
    assert workers, "no Ray Data worker was seen running a task"
    os.kill(workers[0], signal.SIGKILL)
    assert proc.wait(timeout=600) == 0
    pd.testing.assert_frame_equal(kept(reference), kept(out))


def _is_map_worker(pid: int, sid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        return cmd.startswith(b"ray::MapBatches") and os.getsid(pid) == sid
    except (OSError, ProcessLookupError):
        return False
