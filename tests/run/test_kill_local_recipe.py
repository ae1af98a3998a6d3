"""kill -9 of `huatuo-ray run --config configs/local.yaml` during unification and during packing, then the same
command again: every step's output equals an uninterrupted run's (heavy: about 10 minutes on 2 cores). The
uninterrupted run's report opens in headless chromium with every section filled (when chromium is installed).

The recipe is the local one; generation goes to the session's real vLLM server (llm.backend=endpoint) with greedy
decoding, so the reference and the interrupted runs ask the same questions and get the same answers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import REPO, local_recipe
from tests.report.browser import CHROMIUM, check_report

pytestmark = [pytest.mark.slow, pytest.mark.heavy]


def write_recipe(path: Path, root: Path, server_url: str) -> list[str]:
    r = local_recipe(root, "llm.backend=endpoint", f"llm.endpoint.base_url={server_url}", "llm.endpoint.model=local",
                     "unify.max_segments=4", "unify.question_sampling.temperature=0",
                     "unify.answer_sampling.temperature=0", "train.max_steps=2", "train.checkpoint_every=1")
    path.write_text(yaml.safe_dump(r.model_dump(mode="json"), allow_unicode=True))
    return [sys.executable, "-m", "huatuo_ray.cli", "run", "--config", str(path)]


def table(path: Path, columns: list[str] | None = None, sort: str | None = None) -> list[dict]:
    rows = pq.read_table(path, columns=columns).to_pylist()
    return sorted(rows, key=lambda r: r[sort]) if sort else rows


def outputs(root: Path) -> dict:
    """What each step wrote, without timings and paths."""
    from huatuo_ray.train.metrics import consumed_sequence

    return {
        "sft": table(root / "sft" / "sharegpt" / "kept", sort="id"),
        "curate": table(root / "curate" / "kept", ["id", "text", "dedup_cluster"], sort="id"),
        "unify": table(root / "unify" / "release" / "huatuogpt2.parquet", ["id", "conversations"], sort="id"),
        "order": pq.read_table(root / "sample" / "order").to_pydict(),
        "tokens": sorted((str(p.relative_to(root)), p.read_bytes()) for p in (root / "pack" / "steps").rglob("*.npy")),
        "trained": consumed_sequence(root / "train" / "huatuo-train"),
    }


def start_and_kill_when(cmd: list[str], ready) -> None:
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 900
    while not ready():
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline, "no progress"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
    proc.wait()


def test_kill_during_unify_and_during_pack_then_rerun(llm_server, tmp_path):
    ref_root, root = tmp_path / "ref", tmp_path / "run"
    ref = subprocess.run(write_recipe(tmp_path / "ref.yaml", ref_root, llm_server.base_url), cwd=REPO,
                         capture_output=True, text=True, timeout=1800)
    assert ref.returncode == 0, ref.stderr[-3000:]
    if CHROMIUM.exists():  # the local run's report: every section filled, every image rendered, no console error
        pairs = json.loads((ref_root / "unify" / "stats.json").read_text())["release"]["rows"]
        check_report(ref_root / "report.html", not_run=set() if pairs else {"pairs"})  # SmolLM2 may accept none
    cmd = write_recipe(tmp_path / "run.yaml", root, llm_server.base_url)

    cache = root / "unify" / "_llm_cache"
    start_and_kill_when(cmd, lambda: cache.exists() and sum(1 for _ in cache.rglob("*.json")) >= 2)
    assert (root / "curate" / "stats.json").exists() and not (root / "unify" / "stats.json").exists()
    start_and_kill_when(cmd, lambda: (root / "pack" / "_run.json").exists())
    assert (root / "unify" / "stats.json").exists() and not (root / "pack" / "stats.json").exists()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    for step in ("sft", "curate", "unify", "sample"):
        assert f"[{step}] done" in done.stderr, step
    assert outputs(root) == outputs(ref_root)
