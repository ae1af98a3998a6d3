"""Secrets are masked in recipe errors, `recipe show`, `_run.json` / `stats.json` / `run.json` and log lines."""

from __future__ import annotations

import io
import json
import logging
import pickle

import pytest
from typer.testing import CliRunner

from huatuo_ray.cli import app
from huatuo_ray.cli.common import setup_logging
from huatuo_ray.redact import MASK, Secret, mask, mask_text, secret_name
from huatuo_ray.run.rundir import Identity, write_identity, write_stats

runner = CliRunner()
KEY, HF = "sk-proj-abcdef0123456789", "hf_AbCdEfGhIjKlMnOp"


@pytest.mark.parametrize("text,expected", [
    (f'llm.endpoint.api_key = "{KEY}": Extra inputs are not permitted',
     'llm.endpoint.api_key = "***": Extra inputs are not permitted'),
    (f"--api-key {KEY[3:]} --port 8000", "--api-key *** --port 8000"),
    ("--api-key=plainvalue", "--api-key=***"),
    (f"HF_TOKEN={HF}", "HF_TOKEN=***"),
    ("password: hunter2", "password: ***"),
    (f"the key {KEY} in a sentence", "the key *** in a sentence"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "Authorization: *** ***"),
    # not secrets: counts, variable names, tokenizer settings, the sampler's key formula
    ("max_tokens: 256, pad_token_id: 2", "max_tokens: 256, pad_token_id: 2"),
    ("api_key_env: OPENAI_API_KEY", "api_key_env: OPENAI_API_KEY"),
    ('tokenizer: local:smollm2, "key": "-ln(U)/beta^K"', 'tokenizer: local:smollm2, "key": "-ln(U)/beta^K"'),
])
def test_mask_text(text, expected):
    assert mask_text(text) == expected


def test_mask_values_by_name_and_shape():
    dump = {"llm": {"endpoint": {"api_key_env": "MY_KEY", "base_url": "http://h/v1"},
                    "server": {"extra_args": ["--api-key", "s3cr3t", "--max-num-seqs", "8", f"--token={HF}"],
                               "env": {"HF_TOKEN": "anything", "VLLM_CPU_KVCACHE_SPACE": "1"}}},
            "pack": {"max_tokens": 5, "eos_token": "<|im_end|>"}, "notes": [f"uses {KEY}"]}
    m = mask(dump)
    assert m["llm"]["endpoint"] == dump["llm"]["endpoint"]
    assert m["llm"]["server"]["extra_args"] == ["--api-key", MASK, "--max-num-seqs", "8", f"--token={MASK}"]
    assert m["llm"]["server"]["env"] == {"HF_TOKEN": MASK, "VLLM_CPU_KVCACHE_SPACE": "1"}
    assert m["pack"] == dump["pack"] and m["notes"] == [f"uses {MASK}"]
    assert secret_name("auth_token") and secret_name("AWS_SECRET_ACCESS_KEY") and not secret_name("num_tokens")


def test_secret_keeps_its_value_out_of_reprs():
    s = Secret(KEY)
    assert KEY not in repr(s) and KEY not in str(s) and KEY not in f"{[s]}"
    assert pickle.loads(pickle.dumps(s)).get() == KEY  # travels to Ray actors whole


def test_a_key_pasted_into_a_recipe_is_not_echoed(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(f"llm:\n  endpoint:\n    api_key: {KEY}\n")
    res = runner.invoke(app, ["recipe", "validate", str(p)])
    assert res.exit_code == 2 and "llm.endpoint.api_key" in res.output and KEY not in res.output
    res = runner.invoke(app, ["recipe", "validate", str(p), "--set", f"llm.endpoint.base_url={KEY}:"])
    assert KEY not in res.output


def test_recipe_show_masks_arguments_and_environment():
    res = runner.invoke(app, ["recipe", "show", "--set", f"llm.server.extra_args=[--api-key, {KEY[3:]}]",
                              "--set", f"llm.server.env.HF_TOKEN={HF}"])
    assert res.exit_code == 0, res.output
    assert KEY[3:] not in res.output and HF not in res.output
    assert "- '***'" in res.output or "- ***" in res.output
    assert "VLLM_CPU_KVCACHE_SPACE: '1'" in res.output  # the rest is shown as it is


def test_run_files_are_masked(tmp_path):
    identity = Identity("unify", "f" * 16, {"llm": {"model": "m", "token": "abc123"}, "note": KEY}, {}, {})
    write_identity(tmp_path, identity)
    write_stats(tmp_path, {"step": "unify", "counts": {}, "endpoint": f"http://u:{KEY}@h/v1"})
    text = (tmp_path / "_run.json").read_text() + (tmp_path / "stats.json").read_text()
    assert KEY not in text and "abc123" not in text
    assert json.loads((tmp_path / "_run.json").read_text())["fingerprint"] == "f" * 16


def test_log_lines_are_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        setup_logging()  # every handler of the root logger gets the masking filter
        logging.getLogger("huatuo_ray.test").warning("calling with api_key=%s and %s", "plainkey", KEY)
    finally:
        logging.getLogger().removeHandler(handler)
    assert stream.getvalue() == "calling with api_key=*** and ***\n"
