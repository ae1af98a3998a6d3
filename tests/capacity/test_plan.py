"""Calibration from real runs and the capacity plan.

Two small real runs (sft, sample, pack of the demo SFT data, one source and two: two sizes) calibrate this
machine; the local plan then reproduces each run's measured step times (two sizes: the fit goes through both).
The production plan (cluster/capacity.yaml and the committed cluster/calibration.json) names the origin of
every number and scales with the corpus.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from huatuo_ray.capacity.calibrate import calibrate, fit
from huatuo_ray.capacity.config import load_capacity, parse_size
from huatuo_ray.capacity.plan import estimate
from huatuo_ray.cli import app
from huatuo_ray.errors import InputError, RecipeError
from huatuo_ray.run.runner import RunOptions
from tests.conftest import REPO, SFT_SOURCES, local_recipe

STEPS = ["sft", "sample", "pack"]


def _recipe(root, sources):
    return local_recipe(root, "pack.max_seq_len=512", sources=sources)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from huatuo_ray.cli.run import run_recipe

    roots = []
    for i, sources in enumerate((("sft-medical",), SFT_SOURCES)):
        root = tmp_path_factory.mktemp(f"cal{i}") / "run"
        run_recipe(_recipe(root, sources), RunOptions(), only=STEPS)
        roots.append(root)
    return roots


def _measured(root):
    run = json.loads((root / "run.json").read_text())
    sft = sum(json.loads((root / "sft" / "_run.json").read_text())["inputs"].values())
    stats = {s: json.loads((root / s / "stats.json").read_text()) for s in STEPS}
    return run, sft, stats


def test_calibration_records_each_run_at_its_size(two_runs):
    cal = calibrate(two_runs)
    assert cal["machine"]["cpus"] and cal["machine"]["cpu_model"] and cal["machine"]["calibrated_at"]
    assert set(cal["steps"]) == set(STEPS)
    for i, root in enumerate(two_runs):
        run, sft, stats = _measured(root)
        volumes = {"sft": sft, "sample": stats["sample"]["total"], "pack": stats["pack"]["tokens"]}
        for step in STEPS:
            assert cal["steps"][step]["points"][i] == [volumes[step], run["steps"][step]["elapsed_s"]], step
    assert cal["runs"][1]["sft_bytes"] > cal["runs"][0]["sft_bytes"]


def test_the_local_plan_of_a_calibration_run_is_that_run(two_runs):
    """Calibrated on one run, the plan for its sizes gives back its volumes and times (the whole chain:
    SFT bytes -> conversations -> items ordered -> tokens packed)."""
    root = two_runs[1]
    run, sft, stats = _measured(root)
    plan = estimate(_recipe(root, SFT_SOURCES), calibrate([root]), 0, sft)
    assert list(plan.steps) == STEPS + ["train", "eval"]
    assert plan.steps["sample"].volume == pytest.approx(stats["sample"]["total"])
    assert plan.steps["pack"].volume == pytest.approx(stats["pack"]["tokens"])
    for step in STEPS:
        assert plan.steps[step].wall_s == pytest.approx(run["steps"][step]["elapsed_s"]), step
    assert plan.steps["train"].how[0].startswith("not estimated: the calibration has no train step")


def test_calibrate_command_writes_the_machine_and_the_rates(two_runs, tmp_path):
    out = tmp_path / "cal.json"
    res = CliRunner().invoke(app, ["calibrate", *map(str, two_runs), "-o", str(out), "--note", "a test"])
    assert res.exit_code == 0, res.output
    cal = json.loads(out.read_text())
    assert cal["machine"]["note"] == "a test" and len(cal["runs"]) == 2
    assert cal["steps"]["pack"]["unit"] == "tokens packed" and len(cal["steps"]["pack"]["points"]) == 2
    assert "pack" in res.output and str(out) in res.output


def test_a_recipe_the_calibration_cannot_cover_is_refused(two_runs):
    cal = calibrate(two_runs)  # no curation in these runs: no segments per byte
    with pytest.raises(InputError, match="calibration has no segments_per_corpus_byte"):
        estimate(local_recipe(two_runs[0]), cal, 10**6)


def test_fit():
    assert fit([(1, 12), (3, 16)]) == {"fixed_s": 10.0, "per_unit_s": 2.0, "how": "least squares over 2 sizes"}
    assert fit([(2, 10)], known_per_unit=3)["fixed_s"] == 4
    assert fit([(2, 10)])["per_unit_s"] == 5
    assert fit([(1, 10), (2, 9)])["per_unit_s"] == 0


def test_parse_size():
    assert parse_size("1.1TB") == 1_100_000_000_000
    assert parse_size("2 GiB") == 2 * 2**30 and parse_size("500") == 500
    with pytest.raises(InputError, match="not a size"):
        parse_size("1.1 TeraBytes")


def _plan_json(*args):
    res = CliRunner().invoke(app, ["plan", "--config", str(REPO / "configs" / "huatuogpt2.yaml"), "--json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_the_production_plan_names_where_every_number_comes_from():
    res = CliRunner().invoke(app, ["plan", "--config", str(REPO / "configs" / "huatuogpt2.yaml"), "--corpus-size",
                                   "1.1TB"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    cap = load_capacity(REPO / "cluster" / "capacity.yaml")
    for name, figure in cap.configured:
        if name != "eval_items" or "eval_items" in out:
            assert f"{name} = " in out and figure.source in out, name
    cal = json.loads((REPO / "cluster" / "calibration.json").read_text())
    assert f"measured: calibration of {cal['machine']['calibrated_at'][:10]} on {cal['machine']['cpus']} x" in out
    for step in ("sft", "curate", "unify", "sample", "pack", "train", "eval", "total"):
        assert f"│ {step}" in out, step
    assert "[recipe]" in out and "[input: --corpus-size]" in out


def test_the_production_plan_scales_with_the_corpus():
    one, two = (_plan_json("--corpus-size", s) for s in ("1.1TB", "2.2TB"))
    fixed = one["steps"]["unify"]["wall_s"] * 2 - two["steps"]["unify"]["wall_s"]
    assert 0 <= fixed < 0.01 * one["steps"]["unify"]["wall_s"]  # linear, plus a small fixed part
    cpu = [p["steps"]["curate"]["node_hours"]["cpu_worker"] for p in (one, two)]
    assert cpu[1] == pytest.approx(2 * cpu[0], rel=0.01)  # the CPU stages' work doubles
    assert one["steps"]["sft"] == two["steps"]["sft"]  # the SFT data does not grow with the corpus
    assert 1.9 < two["steps"]["train"]["volume"] / one["steps"]["train"]["volume"] < 2.0
    # GPU node-hours of training: 8 GPUs = one p4de node for the whole step
    assert one["steps"]["train"]["node_hours"]["gpu_worker"] == pytest.approx(one["steps"]["train"]["wall_s"] / 3600,
                                                                              rel=0.01)
    # with vLLM inside the cluster the generation moves from the endpoint to the GPU nodes
    engine = _plan_json("--corpus-size", "1.1TB", "--set", "llm.backend=vllm_engine")
    assert "gpu_worker" in engine["steps"]["unify"]["node_hours"]
    assert not any("endpoint" in k for k in engine["steps"]["unify"]["node_hours"])


def test_a_bad_capacity_file_is_named(tmp_path):
    bad = tmp_path / "cap.yaml"
    bad.write_text((REPO / "cluster" / "capacity.yaml").read_text().replace("max_workers: 48", "max_workers: many"))
    with pytest.raises(RecipeError, match=r"invalid capacity file .*node_types.cpu_worker.max_workers"):
        load_capacity(bad)
