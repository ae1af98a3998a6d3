"""Ray Train + DeepSpeed on 2 CPU workers, on real packed demo data: ZeRO-2 and ZeRO-3 train, loss falls; a
killed worker and a killed-then-resubmitted job both resume at the exact next step; the export generates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from huatuo_ray.train.config import TrainConfig
from huatuo_ray.train.metrics import consumed_sequence, log_dir, read_events, read_jsonl

pytestmark = pytest.mark.slow
STEPS, EVERY = 12, 4


def local_train(pack: Path, output: Path, run_name: str, zero_stage: int, **extra) -> dict:
    """The local recipe's training section, on the test pack."""
    train = yaml.safe_load((Path(__file__).parents[2] / "configs" / "local.yaml").read_text())["train"]
    train.update(packed=str(pack), output=str(output), run_name=run_name, zero_stage=zero_stage, max_seq_len=128,
                 max_steps=STEPS, checkpoint_every=EVERY, **extra)
    return train


def expected_sequence(pack: Path, steps: int) -> list[tuple[int, int, tuple[str, ...]]]:
    from huatuo_ray.io.packed import PackedReader

    r = PackedReader(pack)
    out = []
    for s in range(steps):
        b = r.read(s, 0, 1)
        out += [(s, int(i), tuple(ids)) for i, ids in zip(b.sequence_index, b.sample_ids)]
    return out


def losses(run_dir: Path) -> list[float]:
    return [m["loss"] for m in sorted(read_jsonl(log_dir(run_dir) / "metrics.jsonl"), key=lambda m: m["step"])]


@pytest.fixture(scope="module")
def reference(ray_local, demo_pack, tmp_path_factory):
    from huatuo_ray.train.trainer import run_training

    out = tmp_path_factory.mktemp("train_ref")
    return run_training(TrainConfig.model_validate(local_train(demo_pack, out, "ref", 2)))


def test_zero2_trains_in_stream_order_and_loss_falls(reference, demo_pack):
    run_dir = reference.run_dir
    assert consumed_sequence(run_dir) == expected_sequence(demo_pack, STEPS)
    loss = losses(run_dir)
    assert len(loss) == STEPS and sum(loss[-3:]) / 3 < sum(loss[:3]) / 3 - 0.5
    m = read_jsonl(log_dir(run_dir) / "metrics.jsonl")[-1]
    assert {"loss", "lr", "grad_norm", "tokens_per_s", "real_tokens_per_s", "mfu"} <= set(m) and m["mfu"] > 0
    assert (log_dir(run_dir) / "loss.png").stat().st_size > 0
    assert not reference.summary["restores"]
    starts = [e for e in read_events(run_dir) if e["event"] == "start"]
    assert len(starts) == 2 and {e["sample_isolation"]["mechanism"] for e in starts} == {"block_mask"}   # sdpa
    assert reference.summary["sample_isolation"] == "block_mask"
    last = json.loads((Path(reference.summary["checkpoint"]) / "huatuo_state.json").read_text())
    assert last["next_step"] == STEPS


def test_exported_model_loads_and_generates(reference):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = reference.run_dir / "model"
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is hypertension?"}], tokenize=False,
                                     add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 8
    assert isinstance(tok.decode(out[0, ids["input_ids"].shape[1]:]), str)


def _kill_rank_after(run_dir: Path, rank: int, step: int, killed: list) -> None:
    consumed = log_dir(run_dir) / "consumed" / f"rank{rank:05d}.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline:
        rows = read_jsonl(consumed) if consumed.exists() else []
        if rows and rows[-1]["step"] >= step:
            pid = json.loads((log_dir(run_dir) / "workers" / f"rank{rank:05d}.json").read_text())["pid"]
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, rows[-1]["step"]))
            return
        time.sleep(0.02)


def test_zero3_worker_killed_resumes_at_the_next_step(reference, ray_local, demo_pack, tmp_path):
    from huatuo_ray.train.trainer import run_training

    cfg = TrainConfig.model_validate(local_train(demo_pack, tmp_path, "kill", 3, max_failures=2))
    killed: list = []
    killer = threading.Thread(target=_kill_rank_after, args=(tmp_path / "kill", 1, 5, killed), daemon=True)
    killer.start()
    result = run_training(cfg)
    killer.join(timeout=5)
    assert killed, "the worker was not killed"
    restores = result.summary["restores"]
    assert len(restores) == 1 and restores[0]["next_step"] in (4, 8) and restores[0]["next_step"] <= killed[0][1] + 1
    assert consumed_sequence(result.run_dir) == consumed_sequence(reference.run_dir)
    # ZeRO-3 after a restore follows the same trajectory as the uninterrupted ZeRO-2 run (same math in fp32).
    assert losses(result.run_dir) == pytest.approx(losses(reference.run_dir), rel=2e-3)
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(result.run_dir / "model").num_parameters() > 0


@pytest.mark.heavy  # ~130 s; test_zero3_worker_killed_resumes_at_the_next_step covers the resume logic by default
def test_job_killed_and_resubmitted_resumes_at_the_next_step(reference, demo_pack, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"train": local_train(demo_pack, tmp_path / "runs", "job", 2),
                                      "ray": {"num_cpus": 2}}))
    cmd = [sys.executable, "-m", "huatuo_ray.cli", "train", "--config", str(recipe)]
    run_dir = tmp_path / "runs" / "job"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not list(run_dir.glob("checkpoint_*/huatuo_state.json")) or len(
            read_jsonl(log_dir(run_dir) / "metrics.jsonl")) < EVERY + 2:
        assert proc.poll() is None, "the job ended before it could be killed"
        assert time.time() < deadline, "no progress"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)   # the driver and the local Ray it started: the whole job
    proc.wait()
    assert not (run_dir / "stats.json").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    events = read_events(run_dir)
    assert [e["event"] for e in events if e["rank"] == 0][:2] == ["start", "resume"]
    assert consumed_sequence(run_dir) == consumed_sequence(reference.run_dir)
    assert losses(run_dir) == pytest.approx(losses(reference.run_dir), rel=1e-4)


@pytest.mark.skipif(not os.environ.get("HUATUO_TEST_VLLM"),
                    reason="starts a vLLM server (about 1-2 min and 4.5 GB): set HUATUO_TEST_VLLM=1")
def test_exported_model_is_served_by_vllm(reference, tmp_path):
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = str(reference.run_dir / "model")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    log = open(tmp_path / "vllm.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                               "--dtype", "float32", "--enforce-eager", "--max-model-len", "128", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.time() + 600
        while True:
            assert server.poll() is None, (tmp_path / "vllm.log").read_text()[-3000:]
            assert time.time() < deadline, "vLLM did not start"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5)
                break
            except OSError:
                time.sleep(2)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"model": model, "prompt": "Fever and cough", "max_tokens": 8, "ignore_eos": True}).encode())
        body = json.loads(urllib.request.urlopen(req, timeout=120).read())
        assert body["choices"][0]["text"] and body["usage"]["completion_tokens"] == 8
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
