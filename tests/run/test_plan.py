"""The dry run: the production recipe on a machine with none of its data or models, and the local recipe."""

from __future__ import annotations

from typer.testing import CliRunner

from huatuo_ray.cli import app
from tests.conftest import REPO

cli = CliRunner()


def test_production_recipe_dry_run_reports_what_is_missing(tmp_path):
    res = cli.invoke(app, ["run", "--config", str(REPO / "configs" / "huatuogpt2.yaml"), "--dry-run",
                           "--set", f"run.dir={tmp_path}"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    for step in ("sft", "curate", "unify", "sample", "pack", "train", "eval"):
        assert f"│ {step} " in res.output
    assert f"{tmp_path}/train/huatuogpt2-7b" in out.replace(" ", "") or "huatuogpt2-7b" in out
    assert "source 'sft-medical': path '/mnt/shared/corpus/sft/medical' matches no file" in out
    assert "pack.tokenizer = 'baichuan-inc/Baichuan2-7B-Base': not on this machine" in out
    assert "train.model.path = '/mnt/shared/models/Baichuan2-7B-Base-llama': no such file" in out
    assert "training workers: 8 x (1 CPU + 1 A100 GPU)" in out and "need 8 GPUs" in out
    assert "eval.benchmarks.0.path = '/mnt/shared/benchmarks/medqa/test.jsonl': no such file" in out
    assert "global batch 128 = micro 4 x accumulation 4 x 8 workers" in out and "fits in 80 GiB" in out
    assert not list(tmp_path.iterdir())  # nothing was written


def test_local_recipe_dry_run_has_nothing_missing(tmp_path):
    res = cli.invoke(app, ["run", "--config", str(REPO / "configs" / "local.yaml"), "--dry-run",
                           "--set", f"run.dir={tmp_path}"])
    assert res.exit_code == 0, res.output
    assert "missing on this machine: nothing" in res.output
    assert res.output.count("to run") == 7  # sft, curate, unify, sample, pack, train, eval
