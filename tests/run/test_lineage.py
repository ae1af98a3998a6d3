"""Lineage across the expensive steps: unify refuses a curation redone with another threshold (or redoes itself with
--overwrite, keeping its request cache); training refuses a packed stream that changed under it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from typer.testing import CliRunner

from huatuo_ray.cli import app
from huatuo_ray.errors import OutputMismatch
from tests.conftest import REPO, SFT_SOURCES, local_recipe, run_steps

pytestmark = pytest.mark.slow
cli = CliRunner()

# curation on the demo's web source only (density + segment), unification that sends nothing (a zero-segment slice:
# every segment is dropped with its reason), so the lineage is real and no LLM is needed
FAST = ["curate.stages=[density,segment]", "unify.max_segments=0", "llm.backend=endpoint",
        "llm.endpoint.base_url=http://127.0.0.1:9/v1", "llm.endpoint.model=none"]


def write_recipe(path, root, *overrides, sources=("web-zh",)) -> str:
    r = local_recipe(root, *FAST, *overrides, sources=sources)
    path.write_text(yaml.safe_dump(r.model_dump(mode="json"), allow_unicode=True))
    return str(path)


def test_unify_refuses_a_curation_redone_with_another_threshold(ray_local, tmp_path):
    root = tmp_path / "run"
    old, new = write_recipe(tmp_path / "old.yaml", root), write_recipe(
        tmp_path / "new.yaml", root, "curate.density.min_density.zh=0.2")
    for args in (["curate", "-c", old], ["unify", "-c", old]):
        res = cli.invoke(app, args)
        assert res.exit_code == 0, res.output
    unify_stats = json.loads((root / "unify" / "stats.json").read_text())
    assert unify_stats["counts"]["in"] == json.loads((root / "curate" / "stats.json").read_text())["counts"]["out"]
    # a slice sends nothing: no attempts, no (negative) regenerations; the summary says how many were not sent
    counters = unify_stats["ledger"]["stages"][0]["counters"]
    assert counters["attempts"] == counters["regenerations"] == counters["sent"] == 0
    assert counters["sliced"] == unify_stats["counts"]["in"] == unify_stats["counts"]["dropped"]
    assert "0 segments sent to the model -> 0 pairs, 0 rejected" in res.output
    assert f"{counters['sliced']:,} segments not sent (unify.max_segments" in res.output
    (root / "unify" / "_llm_cache").mkdir(exist_ok=True)
    (root / "unify" / "_llm_cache" / "kept.txt").write_text("a cached request")

    res = cli.invoke(app, ["curate", "-c", new])  # a changed threshold is refused, named
    assert res.exit_code == 2 and "curate.density.min_density.zh: 0.065 -> 0.2" in res.output
    assert cli.invoke(app, ["curate", "-c", new, "--overwrite"]).exit_code == 0

    res = cli.invoke(app, ["unify", "-c", new])  # unify's output was made from the old curation
    assert res.exit_code == 2, res.output
    assert "unify output made from other inputs: curate changed (curate.density.min_density.zh: 0.065 -> 0.2)" in res.output
    res = cli.invoke(app, ["unify", "-c", old])  # and the old recipe no longer describes the curation on disk
    assert res.exit_code == 2 and "made with other settings than this recipe's" in res.output
    assert "curate.density.min_density.zh: 0.2 -> 0.065" in res.output
    res = cli.invoke(app, ["unify", "-c", new, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert (root / "unify" / "_llm_cache" / "kept.txt").exists()  # a redone unification keeps its request cache
    again = json.loads((root / "unify" / "stats.json").read_text())
    assert again["counts"]["in"] == json.loads((root / "curate" / "stats.json").read_text())["counts"]["out"]
    assert again["counts"]["in"] < unify_stats["counts"]["in"]


def test_training_refuses_a_packed_stream_that_changed(tmp_path):
    root = tmp_path / "run"
    recipe = write_recipe(tmp_path / "r.yaml", root, "train.max_steps=1", sources=SFT_SOURCES)
    run_steps(local_recipe(root, *FAST, "train.max_steps=1", sources=SFT_SOURCES), "sft", "sample", "pack")
    cmd = [sys.executable, "-m", "huatuo_ray.cli", "train", "--config", recipe]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    train_dir = root / "train" / "huatuo-train"
    deadline = time.time() + 120
    while not (train_dir / "_run.json").exists():  # training has started: its identity is on disk
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # the pack is redone with another fill rule: the stream under the training run changed
    changed = local_recipe(root, *FAST, "train.max_steps=1", "pack.fill=whole", sources=SFT_SOURCES)
    run_steps(changed, "pack", overwrite="always")
    with pytest.raises(OutputMismatch, match=r"training run made from other inputs: pack changed \(pack.fill: "
                                             r"\"continuous\" -> \"whole\"\).*use another train.run_name"):
        run_steps(changed, "train")
