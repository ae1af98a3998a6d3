"""Training with its checkpoints in a bucket of a real S3 server (moto on 127.0.0.1): kill -9 of the whole job after
a checkpoint, resubmit, and the run resumes from the checkpoint in the bucket at the exact next step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from huatuo_ray.io.storage import location
from huatuo_ray.train.config import TrainConfig
from huatuo_ray.train.metrics import consumed_sequence, log_dir, read_events, read_jsonl
from tests.train.test_train_ray import EVERY, STEPS, expected_sequence, local_train, losses

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # 3-5 min: a reference run, a killed job and its resubmission


def checkpoints(prefix: str) -> list[str]:
    root = location(prefix)
    return sorted(str(p) for p, _ in root.files() if p.name == "huatuo_state.json") if root.exists() else []


def test_job_killed_and_resubmitted_resumes_from_checkpoints_in_a_bucket(ray_local, demo_pack, s3, s3_server,
                                                                          tmp_path):
    from huatuo_ray.train.trainer import run_training

    reference = run_training(TrainConfig.model_validate(local_train(demo_pack, tmp_path / "ref", "ref", 2)))
    storage = f"{s3}/checkpoints"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"train": local_train(demo_pack, tmp_path / "runs", "job", 2,
                                                           checkpoint_storage=storage),
                                      "ray": {"num_cpus": 2}}))
    cmd = [sys.executable, "-m", "huatuo_ray.cli", "train", "--config", str(recipe)]
    env = {**os.environ, **s3_server.env()}
    run_dir = tmp_path / "runs" / "job"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=env)
    deadline = time.time() + 600
    while not checkpoints(f"{storage}/job") or len(read_jsonl(log_dir(run_dir) / "metrics.jsonl")) < EVERY + 2:
        assert proc.poll() is None, "the job ended before it could be killed"
        assert time.time() < deadline, "no progress"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started: the whole job
    proc.wait()
    assert not (run_dir / "stats.json").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    events = read_events(run_dir)
    resume = [e for e in events if e["rank"] == 0][1]
    assert resume["event"] == "resume" and resume["checkpoint"].startswith(storage.split("://", 1)[1])
    assert consumed_sequence(run_dir) == expected_sequence(demo_pack, STEPS) == consumed_sequence(reference.run_dir)
    assert losses(run_dir) == pytest.approx(losses(reference.run_dir), rel=1e-4)
    last = max(checkpoints(f"{storage}/job"), key=lambda p: json.loads(location(p).read_text())["next_step"])
    assert json.loads(location(last).read_text())["next_step"] == STEPS
    assert not list(run_dir.glob("checkpoint_*"))  # the checkpoints are in the bucket, the logs and model here
    assert (run_dir / "model" / "config.json").exists()
