"""The run over real steps (sft -> sample -> pack, fast and without Ray): resume, refusal naming the step and the
setting, --overwrite, unfinished or foreign inputs, fingerprints of behaviour files, kill -9 then rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import yaml

from huatuo_ray.errors import InputError, OutputMismatch
from huatuo_ray.run.runner import Runner
from tests.conftest import REPO, SFT_SOURCES, local_recipe, run_steps

CHAIN = ("sft", "sample", "pack")


def recipe(root, *overrides):
    return local_recipe(root, "pack.max_seq_len=512", *overrides, sources=SFT_SOURCES)


def outputs(root) -> dict:
    """Everything the chain wrote that must not depend on how often it was interrupted."""
    return {"sft": pq.read_table(root / "sft" / "sft-medical" / "kept").to_pylist(),
            "order": pq.read_table(root / "sample" / "order").to_pydict(),
            "samples": pq.read_table(root / "pack" / "samples").to_pydict(),
            "tokens": sorted((str(p.relative_to(root)), p.read_bytes()) for p in (root / "pack" / "steps").rglob("*.npy"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref") / "run"
    run_steps(recipe(root), *CHAIN)
    return root


def test_a_rerun_finds_every_step_done(reference):
    r = Runner(recipe(reference), echo=lambda m: None)
    r.run(list(CHAIN))
    assert r.states == dict.fromkeys(CHAIN, "done before")


def test_a_changed_setting_is_refused_naming_the_step_and_the_setting(reference, tmp_path):
    root = tmp_path / "run"
    run_steps(recipe(root), *CHAIN)
    with pytest.raises(OutputMismatch, match=r"sample output made with other settings \(sample.seed: 42 -> 7\)"):
        run_steps(recipe(root, "sample.seed=7"), *CHAIN)
    # a step run on its own with an input made by other settings: named, with the command that fixes it
    run_steps(recipe(root, "sample.seed=7"), "sample", overwrite="always")
    with pytest.raises(InputError, match=r"a sample output made with other settings than this recipe's .*"
                                         r"sample.seed: 7 -> 42.*--from sample --overwrite"):
        run_steps(recipe(root), "pack")
    # --overwrite on the run redoes what changed and keeps what did not
    r = Runner(recipe(root, "sample.seed=7"), echo=lambda m: None)
    r.options.overwrite = "stale"
    r.run(list(CHAIN))
    assert r.states == {"sft": "done before", "sample": "done before", "pack": "redone"}
    assert outputs(root)["order"] != outputs(reference)["order"]


def test_a_changed_upstream_is_refused_downstream(reference, tmp_path):
    root = tmp_path / "run"
    run_steps(recipe(root), *CHAIN)
    run_steps(recipe(root, "sample.beta=3"), "sample", overwrite="always")
    with pytest.raises(OutputMismatch, match=r"pack output made from other inputs: sample changed \(sample.beta: 2.0 -> "
                                             r"3.0\)"):
        run_steps(recipe(root, "sample.beta=3"), "pack")


def test_an_unfinished_or_missing_input_names_the_step_to_run(reference, tmp_path):
    with pytest.raises(InputError, match=r"pack reads the sample output .* which does not exist: run `huatuo-ray "
                                         r"run --only sample`"):
        run_steps(recipe(tmp_path / "none"), "pack")
    root = tmp_path / "run"
    run_steps(recipe(root), "sft", "sample")
    (root / "sample" / "stats.json").unlink()  # as if the sampler had been killed before it finished
    with pytest.raises(InputError, match="which is not finished"):
        run_steps(recipe(root), "pack")


def test_overwrite_always_redoes_a_matching_step(reference, tmp_path):
    root = tmp_path / "run"
    run_steps(recipe(root), "sft")
    marker = root / "sft" / "sft-medical" / "_markers"
    before = {p.name: p.stat().st_mtime_ns for p in marker.iterdir()}
    r = Runner(recipe(root), echo=lambda m: None)
    r.options.overwrite = "always"
    r.run(["sft"])
    assert r.states == {"sft": "redone"} and all(p.stat().st_mtime_ns != before[p.name] for p in marker.iterdir())


def test_behaviour_files_are_fingerprinted_by_content(tmp_path):
    lexicon = tmp_path / "zh.txt"
    lexicon.write_text("高血压\n糖尿病\n", encoding="utf-8")
    over = [f"curate.density.lexicons.zh=[{lexicon}]"]
    a = Runner(local_recipe(tmp_path, *over)).expected("curate")
    lexicon.write_text("高血压\n糖尿病\n肺炎\n", encoding="utf-8")
    b = Runner(local_recipe(tmp_path, *over)).expected("curate")
    assert a.fingerprint != b.fingerprint and a.settings == b.settings
    assert Runner(local_recipe(tmp_path, *over)).expected("unify").fingerprint != \
        Runner(local_recipe(tmp_path)).expected("unify").fingerprint  # and everything downstream of it


def test_runtime_only_settings_do_not_change_fingerprints(tmp_path):
    base = Runner(local_recipe(tmp_path))
    fast = Runner(local_recipe(tmp_path, "unify.actors=8", "sample.workers=4", "pack.local_max_items=0",
                               "curate.resources.density.num_cpus=2", "train.checkpoint_every=3"))
    for step in ("curate", "unify", "sample", "pack", "train"):
        assert base.expected(step).fingerprint == fast.expected(step).fingerprint, step
    assert base.expected("train").fingerprint != Runner(local_recipe(tmp_path, "train.max_steps=7")).expected(
        "train").fingerprint  # max_steps sets the learning-rate schedule


@pytest.mark.slow
def test_kill_during_packing_then_rerun_gives_the_uninterrupted_output(reference, tmp_path):
    root = tmp_path / "run"
    cfg = tmp_path / "r.yaml"
    r = recipe(root)
    cfg.write_text(yaml.safe_dump(r.model_dump(mode="json"), allow_unicode=True))
    cmd = [sys.executable, "-m", "huatuo_ray.cli", "run", "--config", str(cfg), "--to", "pack"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not (root / "pack" / "_run.json").exists():
        assert proc.poll() is None, "the run ended before packing started"
        assert time.time() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (root / "pack" / "stats.json").exists()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[sft] done" in done.stderr and "[sample] done" in done.stderr
    assert outputs(root) == outputs(reference)
