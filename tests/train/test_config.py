"""Batch arithmetic, the DeepSpeed config, the dry run and the recipe files."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from huatuo_ray.recipe import load_recipe
from huatuo_ray.train.config import TrainConfig
from huatuo_ray.train.deepspeed_config import deepspeed_config, warmup_steps
from huatuo_ray.train.dry_run import dry_run, format_report, parameter_counts
from tests.conftest import REPO


def test_paper_defaults_and_batch_arithmetic():
    c = TrainConfig(micro_batch_size=4)
    assert (c.global_batch_size, c.max_seq_len, c.num_workers, c.precision) == (128, 4096, 8, "bf16")
    assert c.gradient_accumulation_steps == 4     # 128 = 4 x 4 x 8
    ds = deepspeed_config(c, total_steps=1000)
    assert ds["train_batch_size"] == 128
    assert ds["train_batch_size"] == (ds["train_micro_batch_size_per_gpu"] * ds["gradient_accumulation_steps"] * 8)
    assert ds["bf16"]["enabled"] and ds["gradient_clipping"] == 1.0
    opt = ds["optimizer"]["params"]
    assert (opt["lr"], opt["weight_decay"], opt["torch_adam"]) == (1e-4, 0.1, False)
    assert "scheduler" not in ds   # ours: lr_schedule


def test_lr_schedule_warmup_then_cosine():
    import torch

    from huatuo_ray.train.deepspeed_config import lr_schedule

    cfg = TrainConfig(micro_batch_size=4)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = lr_schedule(cfg, total_steps=1000)(opt)
    lrs = []
    for _ in range(1000):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1e-5) and lrs[9] == pytest.approx(1e-4)     # 1% warm-up: 10 steps
    assert lrs[10] == pytest.approx(1e-4) and lrs[505] == pytest.approx(5e-5, rel=0.01) and 0 < lrs[-1] < 1e-9
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))


def test_bad_batch_arithmetic_is_refused():
    with pytest.raises(ValidationError, match="micro_batch_size 3"):
        TrainConfig(micro_batch_size=3)          # 128 is not 3 x k x 8
    with pytest.raises(ValidationError, match="fp32"):
        TrainConfig(use_gpu=False, model={"attn_implementation": "sdpa"})   # bf16 on CPU


def test_warmup_rounds_up_to_one_step():
    assert warmup_steps(50, 0.01) == 1 and warmup_steps(1000, 0.01) == 10 and warmup_steps(1001, 0.01) == 11


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_dry_run_memory_estimate(stage):
    c = TrainConfig(zero_stage=stage, micro_batch_size=1, model={"size": "7B"})
    r = dry_run(c, total_steps=2000)
    assert 7.0e9 < r["memory_per_gpu"]["parameters"] < 8.0e9          # Baichuan2-7B shape
    assert r["batch"]["gradient_accumulation_steps"] == 16
    assert r["deepspeed_config"]["zero_optimization"]["stage"] == stage
    assert "GiB" in format_report(r)
    if stage == 3:
        assert r["deepspeed_config"]["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]


def test_higher_stage_needs_less_memory_and_13b_more():
    mem = {s: dry_run(TrainConfig(zero_stage=s, micro_batch_size=1, model={"size": "13B"}))["memory_per_gpu"]
           for s in (1, 2, 3)}
    assert mem[1]["model_states_gib"] > mem[2]["model_states_gib"] > mem[3]["model_states_gib"]
    small = dry_run(TrainConfig(zero_stage=3, micro_batch_size=1, model={"size": "7B"}))["memory_per_gpu"]
    assert mem[3]["total_gib"] > small["total_gib"]


def test_parameter_count_matches_transformers():
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    arch = {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": 100, "tie_word_embeddings": False}
    model = LlamaForCausalLM(LlamaConfig(**arch))
    assert parameter_counts(arch)["total"] == sum(p.numel() for p in model.parameters())
    qwen = Qwen2ForCausalLM(Qwen2Config(**arch))                # q/k/v with biases
    assert parameter_counts(arch | {"attention_bias": True})["total"] == sum(p.numel() for p in qwen.parameters())


def test_recipes_validate():
    local = load_recipe(REPO / "configs" / "local.yaml").train
    assert (local.num_workers, local.use_gpu, local.precision, local.zero_stage) == (2, False, "fp32", 2)
    prod = load_recipe(REPO / "configs" / "huatuogpt2.yaml").train
    assert (prod.num_workers, prod.accelerator_type, prod.global_batch_size, prod.max_seq_len) == (8, "A100", 128, 4096)
    dry_run(prod)
    for name in ("qwen2.5-7b", "llama3-8b"):
        other = load_recipe(REPO / "configs" / f"{name}.yaml")
        assert other.model_dump(include={"sources", "curate", "unify", "sample", "llm"}) == \
            load_recipe(REPO / "configs" / "huatuogpt2.yaml").model_dump(include={"sources", "curate", "unify", "sample",
                                                                                   "llm"})


def test_cli_dry_run_of_the_production_recipe():
    from typer.testing import CliRunner

    from huatuo_ray.cli import app

    r = CliRunner().invoke(app, ["train", "--dry-run", "--config", str(REPO / "configs" / "huatuogpt2.yaml"),
                                 "--steps", "5000"])
    assert r.exit_code == 0, r.output
    assert "128 = 4 x 4 x 8" in r.output and '"total_steps": 5000' in r.output and "fits in 80 GiB" in r.output
    bad = CliRunner().invoke(app, ["train", "--dry-run", "--config", str(REPO / "configs" / "huatuogpt2.yaml"),
                                   "--set", "train.micro_batch_size=3"])
    assert bad.exit_code == 2 and "micro_batch_size 3" in bad.output


PRODUCTION = {"huatuogpt2": ("7B", "llama", "huatuo"), "qwen2.5-7b": ("Qwen2.5-7B", "qwen2", "chat"),
              "llama3-8b": ("Llama-3-8B", "llama", "chat")}


@pytest.mark.parametrize("name", PRODUCTION)
def test_production_recipes_pass_both_dry_runs(name, tmp_path):
    """`huatuo-ray train --dry-run` and `huatuo-ray run --dry-run` on this machine: models that are not here are
    reported, not failures; the memory estimate fits an A100-80GB; packed samples are kept apart by the varlen kernel."""
    from typer.testing import CliRunner

    from huatuo_ray.cli import app

    recipe = REPO / "configs" / f"{name}.yaml"
    size, family, template = PRODUCTION[name]
    r = load_recipe(recipe)
    assert (r.train.model.size, r.pack.template, r.train.global_batch_size, r.pack.max_seq_len) == \
        (size, template, r.pack.global_batch_size, r.train.max_seq_len)
    train = CliRunner().invoke(app, ["train", "--dry-run", "--config", str(recipe)])
    assert train.exit_code == 0, train.output
    assert "128 = 4 x 4 x 8" in train.output and "fits in 80 GiB" in train.output
    assert f"packed samples: varlen (flash-attention varlen kernel on the pack's cu_seqlens); {family}" in train.output
    run = CliRunner().invoke(app, ["run", "--config", str(recipe), "--dry-run", "--set", f"run.dir={tmp_path}"])
    assert run.exit_code == 0, run.output
    assert f"{tmp_path}/train/{r.train.run_name}" in run.output.replace("\n", "")
    assert "train: packed samples: varlen" in run.output and "fits in 80 GiB" in run.output
    assert not list(tmp_path.iterdir())                  # nothing written


def test_a_model_that_cannot_keep_samples_apart_is_refused_by_the_dry_run(tmp_path):
    from typer.testing import CliRunner

    from huatuo_ray.cli import app

    args = ["--config", str(REPO / "configs" / "huatuogpt2.yaml"), "--set", "train.model.size=13B"]
    r = CliRunner().invoke(app, ["train", "--dry-run", *args])
    assert r.exit_code == 2 and "packed samples: REFUSED" in r.output and "allow_cross_sample_attention" in r.output
    ok = CliRunner().invoke(app, ["train", "--dry-run", *args, "--set", "train.model.allow_cross_sample_attention=true"])
    assert ok.exit_code == 0 and "packed samples: none" in ok.output
    plan = CliRunner().invoke(app, ["run", "--dry-run", *args, "--set", f"run.dir={tmp_path}", "--only", "train"])
    assert plan.exit_code == 0 and "train: packed samples: REFUSED" in plan.output
