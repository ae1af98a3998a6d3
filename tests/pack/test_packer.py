"""The pack job end to end: the demo's SFT data through the sft step, the sampler and the packer, local and on
Ray, and the CLI."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from huatuo_ray.cli import app
from huatuo_ray.io.packed import PackedReader
from huatuo_ray.pack.config import PackConfig
from huatuo_ray.pack.packer import run_pack
from huatuo_ray.sample.config import SamplerConfig
from huatuo_ray.sample.priority import run_sample
from tests.conftest import REPO, SFT_SOURCES, local_recipe, run_steps

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo corpus' SFT sources validated by the sft step and ordered by the sampler (seed 5)."""
    root = tmp_path_factory.mktemp("demo")
    run_steps(local_recipe(root, "sample.seed=5", sources=SFT_SOURCES), "sft", "sample")
    return root


def cfg(**kw):
    return PackConfig(**{"tokenizer": "local:smollm2", "trust_remote_code": False, "template": "chat", **kw})


def test_demo_packs_in_order_with_a_full_ledger(demo):
    m = run_pack(demo / "sample", demo / "pack", cfg())  # 4096 tokens, 128 sequences per step
    order = pq.read_table(demo / "sample" / "order").to_pydict()
    assert m["real_token_fraction"] >= 0.99, m["real_token_fraction"]
    s = m["samples"]
    assert s["total"] == len(order["id"]) == s["packed"] + s["truncated"] + s["dropped"]
    r = PackedReader(demo / "pack")
    assert (r.num_steps, r.max_seq_len, r.global_batch_size) == (1, 4096, 128)
    # sequences hold the samples in exactly the sampled order
    streamed = [x for step in range(r.num_steps) for seq in r.read(step).sample_ids for x in seq]
    dedup = [x for i, x in enumerate(streamed) if i == 0 or x != streamed[i - 1]]
    assert dedup == [f"{a}:{b}@{c}" for a, b, c in zip(order["source"], order["id"], order["epoch"])]
    samples = pq.read_table(demo / "pack" / "samples").to_pydict()
    assert samples["position"] == list(range(len(order["id"])))
    assert samples["id"] == order["id"] and set(samples["outcome"]) <= {"packed", "truncated", "dropped"}
    stats = json.loads((demo / "pack" / "stats.json").read_text())
    assert stats["tokens"] == int(np.sum(samples["packed_tokens"])) and (demo / "pack" / "plots" / "pack.png").exists()
    assert stats["sampler"]["seed"] == 5 and stats["template_strings"]["close"] == "<|im_end|>"


def test_ray_engine_writes_the_same_pack(demo, ray_local):
    small = cfg(max_seq_len=512, global_batch_size=4, steps_per_shard=3, tokenize_batch=40, fill="whole",
                overlong="truncate")
    a = run_pack(demo / "sample", demo / "p_local", small, engine="local")
    b = run_pack(demo / "sample", demo / "p_ray", small, engine="ray")
    assert a["samples"] == b["samples"] and a["num_steps"] == b["num_steps"] and b["engine"] == "ray"
    assert a["samples"]["truncated"] > 0
    ra, rb = PackedReader(demo / "p_local"), PackedReader(demo / "p_ray")
    for step in range(ra.num_steps):
        x, y = ra.read(step), rb.read(step, 1, 2)
        assert np.array_equal(x.input_ids[2:], y.input_ids) and np.array_equal(x.labels[2:], y.labels)
        assert x.sample_ids[2:] == y.sample_ids
    assert not (demo / "p_ray" / "_tokens").exists()


def test_missing_conversations_and_bad_order_are_clear_errors(demo, tmp_path):
    pq.write_table(pa.table({"id": ["x"], "conversations": [[{"from": "human", "value": "q"}]]}), tmp_path / "c.parquet")
    with pytest.raises(ValueError, match="have no conversation"):
        run_pack(demo / "sample", tmp_path / "o", cfg(conversations={"sft-medical": str(tmp_path / "c.parquet")}))
    with pytest.raises(ValueError, match="not a finished sampler output"):
        run_pack(tmp_path, tmp_path / "o", cfg())
    with pytest.raises(ValueError, match="did not order"):
        run_pack(demo / "sample", tmp_path / "o", cfg(conversations={"nope": "x"}))


def test_cli_sft_sample_pack(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "run": {"dir": str(tmp_path / "run")},
        "sources": [{"name": "sft", "type": "sft", "path": str(REPO / "examples/demo_corpus/sft")}],
        "sample": {"preset": "release"},
        "pack": {"tokenizer": "local:smollm2", "trust_remote_code": False, "template": "huatuo", "add_bos": False,
                 "max_seq_len": 1024, "global_batch_size": 8, "overlong": "drop", "fill": "whole"}}))
    for cmd in (["sft"], ["sample"], ["pack", "--set", "pack.max_seq_len=512"]):
        res = runner.invoke(app, [*cmd, "-c", str(recipe)])
        assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    assert json.loads((run / "sft" / "stats.json").read_text())["counts"]["kept"] == 300
    m = json.loads((run / "pack" / "_pack.json").read_text())
    assert m["samples"]["total"] == 900  # release preset: SFT 3 epochs
    assert m["max_seq_len"] == 512 and m["samples"]["dropped"] == m["counters"]["overlong"] > 0
    assert list(m["samples"]["dropped_by_reason"]) == ["overlong: # tokens > max_seq_len #"]
    res = runner.invoke(app, ["pack", "-c", str(recipe), "--order", str(tmp_path / "nowhere"), "-o", str(tmp_path / "q")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_an_interrupted_sampler_run_leaves_no_summary_for_the_packer(demo, tmp_path, monkeypatch):
    import os
    import shutil

    from huatuo_ray.io import atomic

    out = tmp_path / "sample"
    shutil.copytree(demo / "sample", out)
    real_replace = os.replace

    def killed(src, dst):  # the run dies while swapping in the new order
        if str(dst).endswith("order"):
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", killed)
    sources = json.loads((out / "stats.json").read_text())["sources"]
    with pytest.raises(KeyboardInterrupt):
        run_sample(SamplerConfig(preset="paper", seed=6, sources=[{k: s[k] for k in ("name", "type", "path")}
                                                                   for s in sources]), out)
    assert not (out / "stats.json").exists()
    with pytest.raises(ValueError, match="not a finished sampler output"):
        run_pack(out, tmp_path / "p", cfg())
