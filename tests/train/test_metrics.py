"""Run logs roll back to a checkpoint; which settings decide what a run learns."""

from __future__ import annotations

import json

from huatuo_ray.train.config import TrainConfig
from huatuo_ray.train.metrics import (
    RunLog,
    consumed_sequence,
    log_summary,
    plot_loss,
    read_jsonl,
    repair_logs,
)
from huatuo_ray.train.trainer import learning_settings


def test_roll_back_keeps_only_steps_before_the_checkpoint(tmp_path):
    logs = [RunLog(tmp_path, r) for r in (0, 1)]
    for step in range(6):
        for r, log in enumerate(logs):
            log.consumed(step, [step * 4 + r * 2, step * 4 + r * 2 + 1], [[f"a{step}{r}"], []])
        logs[0].metrics({"step": step, "loss": 1.0 / (step + 1), "lr": 1e-3})
    with open(logs[1].consumed_path, "a") as fh:
        fh.write('{"step": 6, "sequ')        # a line cut by a kill
    assert [log.roll_back(4) for log in logs] == [2, 3]
    seq = consumed_sequence(tmp_path)
    assert [i for _, i, _ in seq] == list(range(16)) and seq[2] == (0, 2, ("a01",))
    assert [m["step"] for m in read_jsonl(logs[0].metrics_path)] == [0, 1, 2, 3]
    assert plot_loss(read_jsonl(logs[0].metrics_path), tmp_path / "loss.png").stat().st_size > 0


def test_a_line_cut_by_a_kill_does_not_break_the_summary(tmp_path):
    log = RunLog(tmp_path, 0)
    log.event("start", step=0)
    log.metrics({"step": 0, "loss": 2.0, "lr": 1e-3, "step_seconds": 1.0})
    for path in (log.events_path, log.metrics_path):  # killed in the middle of a write
        with open(path, "a", encoding="utf-8") as fh:
            fh.write('{"event": "resume", "rank": 0, "ste')
    log.event("resume", step=1)  # the next submission appends after the cut line
    log.metrics({"step": 1, "loss": 1.5, "lr": 1e-3, "step_seconds": 3.0})
    assert [e["event"] for e in read_jsonl(log.events_path)] == ["start", "resume"]
    summary = log_summary(tmp_path)
    assert summary["steps"] == 2 and summary["first_loss"] == 2.0 and summary["last_loss"] == 1.5
    assert summary["mean_step_seconds"] == 2.0 and [e["step"] for e in summary["restores"]] == [1]
    assert log.events_path.read_text().splitlines()[-1].startswith('{"event": "resume"')
    assert repair_logs(tmp_path) == 2  # between submissions the cut lines go, the records stay
    assert [e["event"] for e in read_jsonl(log.events_path)] == ["start", "resume"]
    assert all(json.loads(x) for p in (log.events_path, log.metrics_path) for x in p.read_text().splitlines())


def test_learning_settings_leave_out_runtime_keys_but_not_max_steps():
    cfg = TrainConfig(micro_batch_size=4)
    runtime = {"max_failures": 9, "checkpoint_every": 7, "report_every": 3, "packed": "/x", "run_name": "other"}
    assert learning_settings(cfg) == learning_settings(cfg.model_copy(update=runtime))
    assert learning_settings(cfg) != learning_settings(cfg.model_copy(update={"max_steps": 10}))  # the lr schedule
    assert learning_settings(cfg) != learning_settings(cfg.model_copy(update={"lr": 1e-3}))


def test_the_sample_isolation_mechanism_is_a_learning_setting():
    gpu = TrainConfig(micro_batch_size=4)
    cpu = TrainConfig(use_gpu=False, precision="fp32", micro_batch_size=4, model={"attn_implementation": "sdpa"})
    assert (learning_settings(gpu)["sample_isolation"], learning_settings(cpu)["sample_isolation"]) == \
        ("varlen", "block_mask")
