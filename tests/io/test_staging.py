"""The staging protocol against real servers on 127.0.0.1, S3 (moto) and GCS (fake-gcs-server), each test on both:
a staged step runs on a local copy of its output, pushes its files object by object (markers after the data) and
the runner writes ``stats.json`` to the bucket last; a kill between two uploads leaves the step not done, the rerun resumes from the local copy and
completes; a third run does nothing. Paths are rewritten between the local copy and the bucket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from huatuo_ray.io import staging as staging_mod
from huatuo_ray.io.staging import STAGED, Staging, local_dir
from huatuo_ray.io.storage import location
from huatuo_ray.job import Context, Plan, Step, counts
from huatuo_ray.recipe import load_recipe
from huatuo_ray.run import rundir
from huatuo_ray.run.runner import Runner

UNITS = ("a", "b", "c")


class Killed(BaseException):
    """What a kill -9 between two uploads looks like to the code after it: nothing runs."""


class FakeStep(Step):
    name = "fake"
    summary = "write one file and one marker per unit, locally"
    staged = True

    def __init__(self):
        self.ran: list[str] = []

    def settings(self, recipe) -> dict[str, Any]:
        return {}

    def plan(self, ctx: Context) -> Plan:
        return Plan(list(UNITS), "three units")

    def needs_ray(self, ctx: Context, plan: Plan) -> bool:
        return False

    def remote_unsupported(self, ctx: Context) -> str | None:
        return None

    def units_done(self, ctx: Context, plan: Plan) -> int:
        return sum((ctx.output / "_markers" / f"{u}.json").exists() for u in plan.units)

    def execute(self, ctx: Context, plan: Plan) -> dict[str, Any]:
        assert isinstance(ctx.output, Path) and ctx.remote_output is not None  # a local copy of the bucket's
        for u in plan.units:
            if (ctx.output / "_markers" / f"{u}.json").exists():
                continue
            self.ran.append(u)
            (ctx.output / "data").mkdir(parents=True, exist_ok=True)
            (ctx.output / "data" / f"{u}.bin").write_bytes(u.encode() * 1000)
            (ctx.output / "_markers").mkdir(exist_ok=True)
            (ctx.output / "_markers" / f"{u}.json").write_text(json.dumps({"file": str(ctx.output / "data" / f"{u}.bin")}))
        return {"counts": counts(len(plan.units), item="units"), "where": str(ctx.output / "data")}


@pytest.fixture
def recipe(bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("HUATUO_RAY_STAGING", str(tmp_path / "staging"))
    return load_recipe(None, [f"run.dir={bucket}/run"])


def test_a_kill_between_pushes_leaves_the_step_not_done_and_the_rerun_completes(recipe, bucket, monkeypatch):
    out = location(f"{bucket}/run/fake")
    step = FakeStep()
    uploads = []
    real_upload = staging_mod.upload

    def upload_then_die(local, dest):
        if len(uploads) == 2:
            raise Killed()
        uploads.append(dest)
        real_upload(local, dest)

    monkeypatch.setattr(staging_mod, "upload", upload_then_die)
    with pytest.raises(Killed):
        Runner(recipe, echo=lambda m: None).run_step(step)
    assert step.ran == list(UNITS)
    names = sorted(str(p.relative_to(out)) for p, _ in out.files())
    assert names == ["_run.json", "data/a.bin", "data/b.bin"]  # data first: no marker, no stats
    assert rundir.finished(out) is None

    monkeypatch.setattr(staging_mod, "upload", real_upload)
    step = FakeStep()
    stats = Runner(recipe, echo=lambda m: None).run_step(step)
    assert step.ran == []  # resumed from the local copy: every unit was done there
    names = sorted(str(p.relative_to(out)) for p, _ in out.files())
    assert names == ["_markers/a.json", "_markers/b.json", "_markers/c.json", "_run.json", "data/a.bin",
                     "data/b.bin", "data/c.bin", "stats.json"]
    assert rundir.finished(out)["where"] == stats["where"] == f"{out}/data"  # the local path became the URI
    marker = json.loads((out / "_markers" / "a.json").read_text())
    assert marker["file"] == f"{out}/data/a.bin"
    assert (out / "data" / "c.bin").read_bytes() == b"c" * 1000

    runner = Runner(recipe, echo=lambda m: None)
    runner.run_step(step)  # done: nothing runs, nothing is pulled
    assert runner.states["fake"] == "done before" and step.ran == []


def test_a_copy_of_another_start_is_discarded_and_the_bucket_state_pulled(recipe, bucket, tmp_path):
    out = location(f"{bucket}/run/fake")
    step = FakeStep()
    Runner(recipe, echo=lambda m: None).run_step(step)
    local = local_dir(out)
    (local / STAGED).write_text(json.dumps({"run": "another start"}))
    (local / "stray.bin").write_bytes(b"x")
    (out / "stats.json").unlink()  # not done: the next run pulls
    step = FakeStep()
    Runner(recipe, echo=lambda m: None).run_step(step)
    assert step.ran == [] and not (local / "stray.bin").exists()  # every unit came from the bucket
    assert json.loads((local / "_markers" / "a.json").read_text())["file"] == str(local / "data" / "a.bin")
    assert rundir.finished(out) is not None


def test_an_input_is_pulled_once_per_finished_output(bucket, tmp_path):
    up = location(f"{bucket}/run/up")
    (up / "part.bin").write_bytes(b"1" * 10)
    (up / "_llm_cache" / "x.json").write_text("{}")
    (up / "stats.json").write_text(json.dumps({"complete": True, "path": f"{up}/part.bin"}))
    st = Staging(tmp_path / "staging")
    local = st.pull_input(up, ("_llm_cache",))
    assert (local / "part.bin").read_bytes() == b"1" * 10 and not (local / "_llm_cache").exists()
    assert json.loads((local / "stats.json").read_text())["path"] == str(local / "part.bin")
    (local / "part.bin").write_bytes(b"local")  # reused while the bucket's stats are the same
    assert (Staging(tmp_path / "staging").pull_input(up) / "part.bin").read_bytes() == b"local"
    (up / "stats.json").write_text(json.dumps({"complete": True, "again": 1}))
    assert (Staging(tmp_path / "staging").pull_input(up) / "part.bin").read_bytes() == b"1" * 10
