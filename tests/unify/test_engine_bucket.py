"""unify with llm.backend = vllm_engine (the real engine on CPU) and its output in a bucket of a real S3 server (moto):
the engine's request rounds and the request cache go to the bucket; the output equals a run on disk from the same
completions; the same command again does nothing; (heavy) kill -9 mid-run, then a rerun, gives the same again.

The run on disk replays the bucket run's request cache (no engine: it sends nothing), so the comparison does not
rest on the engine sampling the same text twice; what it checks is that the bucket holds exactly the units that
those completions give, each unit whole."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from huatuo_ray.io.output import KINDS
from huatuo_ray.io.storage import location
from huatuo_ray.llm.client import CONTEXT_REASON
from huatuo_ray.recipe import load_recipe
from huatuo_ray.run.runner import Runner, RunOptions
from huatuo_ray.unify.pipeline import run_unify
from tests.test_object_storage import rows
from tests.unify.helpers import ENGINE_SETTINGS, REPO, TOO_LONG, make_curated, medquad_texts

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # about 2 min each (the CPU engine starts per round): out of the default run

SETTINGS = (*ENGINE_SETTINGS, "unify.max_segments=null")


def curated_input(tmp_path: Path) -> Path:
    """Three units: u1's only segment is over the engine's context, so u1 is committed a round before the others."""
    texts = medquad_texts(3)
    return make_curated(tmp_path / "curated", {"u0": texts[:2], "u1": [TOO_LONG], "u2": texts[2:]})


def recipe(run_dir: str, *extra: str):
    return load_recipe(REPO / "configs/local.yaml", [*SETTINGS, f"run.dir={run_dir}", *extra])


def command(s3: str, curated: Path) -> list[str]:
    sets = [a for s in (*SETTINGS, f"run.dir={s3}/run") for a in ("--set", s)]
    return [sys.executable, "-m", "huatuo_ray.cli", "unify", "--config", str(REPO / "configs/local.yaml"), *sets,
            "--input", str(curated)]


def run_to_end(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-4000:]


def cache_entries(cache) -> list[dict]:
    return [json.loads(p.read_text()) for p in location(cache).glob("*/*.json")]


def assert_equals_the_run_on_disk(bucket: str, curated: Path, tmp_path: Path) -> dict:
    """The bucket's unify output equals a run on disk (a replay of the bucket's cache, copied here); its stats."""
    cache = tmp_path / "cache"
    for p in (location(bucket) / "_llm_cache").glob("*/*.json"):
        (cache / p.parent.name).mkdir(parents=True, exist_ok=True)
        (cache / p.parent.name / p.name).write_bytes(p.read_bytes())
    disk = tmp_path / "disk"
    local = run_unify(recipe(str(tmp_path / "run")), curated, disk, cache_dir=cache).stats
    assert local["requests"].get("sent", 0) == 0 and local["requests"]["cache_hits"] > 0  # a replay: no engine
    for kind in KINDS:
        pd.testing.assert_frame_equal(rows(str(disk), kind), rows(bucket, kind))
    remote = location(bucket)
    assert (remote / "release/huatuogpt2.jsonl").read_bytes() == (disk / "release/huatuogpt2.jsonl").read_bytes()
    stats = json.loads((remote / "stats.json").read_text())
    assert stats["complete"] is True and stats["ledger"] == local["ledger"]
    # every segment ends as a pair, a drop with its reason or a quarantine with its reason
    assert stats["segments"] == 4 == stats["pairs"] + stats["dropped"] + stats["llm_errors"]
    assert stats["pairs"] > 0 and stats["llm_errors"] == 0
    reasons = rows(bucket, "dropped").set_index("id")["reason"]
    assert reasons["u1-doc0#0"] == CONTEXT_REASON and reasons.notna().all()
    assert sum(stats["counts"]["dropped_by_reason"].values()) == stats["dropped"]
    assert not (remote / "_engine").exists()  # the rounds go with the run
    # rounds a run killed after its last commit left behind go with the next run, which has nothing else to do
    (disk / "_engine" / "round01").mkdir(parents=True)
    (disk / "_engine" / "round01" / "u0.parquet").write_bytes(b"left by a killed run")
    assert run_unify(recipe(str(tmp_path / "run")), curated, disk, cache_dir=cache).stats["units"]["run_now"] == 0
    assert not (disk / "_engine").exists()
    return stats


def assert_rerun_does_nothing(s3: str, curated: Path) -> None:
    before = (location(s3) / "run/unify").files()
    runner = Runner(recipe(f"{s3}/run"), RunOptions(inputs={"curate": curated}), echo=lambda msg: None)
    runner.run(["unify"])
    assert runner.states["unify"] == "done before"
    assert (location(s3) / "run/unify").files() == before


def test_vllm_engine_into_a_bucket_equals_the_run_on_disk(ray_local, s3, s3_server, tmp_path):
    curated = curated_input(tmp_path)
    run_to_end(command(s3, curated), s3_server.env())
    bucket = f"{s3}/run/unify"
    stats = assert_equals_the_run_on_disk(bucket, curated, tmp_path)
    entries = cache_entries(f"{bucket}/_llm_cache")
    assert stats["requests"]["sent"] == len(entries) and len({e["run"] for e in entries}) == 1  # each asked once
    assert_rerun_does_nothing(s3, curated)


def markers(step: str) -> set[str]:
    folder = location(step) / "_markers"
    return {p.stem for p in folder.iterdir()} if folder.exists() else set()


@pytest.mark.heavy
def test_vllm_engine_into_a_bucket_killed_mid_run_then_rerun(ray_local, s3, s3_server, tmp_path):
    curated = curated_input(tmp_path)
    bucket = f"{s3}/run/unify"
    proc = subprocess.Popen(command(s3, curated), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, **s3_server.env()})
    deadline = time.time() + 600
    while not markers(bucket):  # u1, once the first engine round has answered the questions
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline, "no progress"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its local Ray and the engine
    proc.wait()
    assert markers(bucket) == {"u1"} and not (location(bucket) / "stats.json").exists()
    assert (location(bucket) / "_engine").exists()  # the killed run's rounds, in the bucket
    killed = {e["run"] for e in cache_entries(f"{bucket}/_llm_cache")}
    assert len(killed) == 1 and cache_entries(f"{bucket}/_llm_cache")

    run_to_end(command(s3, curated), s3_server.env())
    stats = assert_equals_the_run_on_disk(bucket, curated, tmp_path)
    assert stats["units"]["done_before_this_run"] == 1 and stats["units"]["run_now"] == 2
    again = [e for e in cache_entries(f"{bucket}/_llm_cache") if e["run"] not in killed]
    rerun = [json.loads((location(bucket) / "_markers" / f"{u}.json").read_text())["requests"] for u in ("u0", "u2")]
    sent, hits = sum(r.get("sent", 0) for r in rerun), sum(r.get("cache_hits", 0) for r in rerun)
    # the rerun asked the engine only for what the killed run had not cached (its 3 questions were)
    assert sent == len(again) > 0 and hits >= 3 and sent + hits == sum(r["requests"] for r in rerun)
    assert_rerun_does_nothing(s3, curated)
