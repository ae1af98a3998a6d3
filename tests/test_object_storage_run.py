"""`huatuo-ray run --config configs/local.yaml` with run.dir in a bucket of a real S3 server (moto on 127.0.0.1):
every step runs (sft, curate, unify with its local vLLM server straight to the bucket; sample, pack, train, eval on
local staging copies pushed back), every step's stats.json is in the bucket and complete, report.html is uploaded,
and the same command again runs nothing (heavy: the whole local recipe, a few minutes on 2 cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from huatuo_ray.io.storage import location
from tests.conftest import REPO, local_recipe

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

STEPS = ("sft", "curate", "unify", "sample", "pack", "train", "eval")


def test_the_local_recipe_with_its_run_directory_in_a_bucket(s3, s3_server, tmp_path):
    root = f"{s3}/run"
    recipe = local_recipe(root, "unify.max_segments=2", "train.max_steps=2", f"run.staging_dir={tmp_path / 'staging'}")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe.model_dump(mode="json"), allow_unicode=True))
    cmd = [sys.executable, "-m", "huatuo_ray.cli", "run", "--config", str(path)]
    env = {**os.environ, **s3_server.env()}
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800, env=env)
    assert first.returncode == 0, first.stderr[-4000:]
    outputs = {s: location(root) / s for s in STEPS} | {"train": location(root) / "train" / recipe.train.run_name}
    for step, out in outputs.items():
        stats = json.loads((out / "stats.json").read_text())
        assert stats["complete"] is True and stats["step"] == step and stats["output"] == str(out), step
        assert str(tmp_path) not in json.dumps(stats), step  # staging paths became the objects' URIs
    pack = {p.name for p in (outputs["pack"]).iterdir()}
    assert any(n.endswith(".json") for n in pack) and len(pack) > 3
    train = outputs["train"]
    assert (train / "model" / "config.json").exists() and (train / "train_log" / "metrics.jsonl").exists()
    assert any(p.name.startswith("checkpoint_") for p in train.iterdir())  # Ray Train wrote them to the bucket
    assert (location(root) / "run.json").exists()
    assert "<html" in (location(root) / "report.html").read_text().lower()
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    assert again.returncode == 0, again.stderr[-4000:]
    for step in STEPS:
        assert f"[{step}] done" in again.stderr + again.stdout, step
