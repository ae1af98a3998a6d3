"""`huatuo-ray model convert baichuan2`: the Llama layout gives the logits of Baichuan2-7B's own layout (fp32, on a
tiny model built from a config with random weights); 13B (ALiBi) and other inputs are refused in one line."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from huatuo_ray.cli import app
from tests.train.baichuan2_style import TinyBaichuan2, save_checkpoint, tiny_config


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("baichuan2")
    ref = TinyBaichuan2(tiny_config()).eval()
    src = save_checkpoint(ref, root / "Baichuan2-7B-tiny")
    r = CliRunner().invoke(app, ["model", "convert", "baichuan2", str(src), str(root / "llama")])
    assert r.exit_code == 0, r.output
    return ref, src, root / "llama", json.loads(r.stdout)


def _logits(model, ids, **kw):
    with torch.no_grad():
        out = model(input_ids=ids, **kw)
    return (out.logits if hasattr(out, "logits") else out).float()


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_converted_logits_equal_the_original_layout(converted, attn):
    from transformers import LlamaForCausalLM

    ref, _, dst, _ = converted
    llama = LlamaForCausalLM.from_pretrained(dst, dtype=torch.float32, attn_implementation=attn).eval()
    ids = torch.randint(0, 300, (3, 57), generator=torch.Generator().manual_seed(1))
    pos = (torch.arange(57) + 11).expand(3, 57)     # positions that do not start at 0 (rotary lookup by id)
    for kw in ({}, {"position_ids": pos}):
        want, got = _logits(ref, ids, **kw), _logits(llama, ids, use_cache=False, **kw)
        assert (want - got).abs().max().item() < 1e-4
        assert want.std() > 0.5                                               # logits that say something
    # the fold matters: Baichuan2's lm_head rows are not unit vectors, an unnormalised copy gives other logits
    raw = ref.lm_head.weight.detach()
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(raw.shape[0]), atol=1e-2)
    llama.lm_head.weight.data.copy_(raw)
    assert (_logits(ref, ids) - _logits(llama, ids, use_cache=False)).abs().max() > 1e-2


def test_config_shards_and_tokenizer_files(converted):
    _, src, dst, summary = converted
    conf = json.loads((dst / "config.json").read_text())
    assert conf["model_type"] == "llama" and conf["architectures"] == ["LlamaForCausalLM"]
    assert (conf["num_key_value_heads"], conf["tie_word_embeddings"], conf["rope_parameters"]["rope_theta"]) == \
        (4, False, 10000.0)
    assert "auto_map" not in conf                       # transformers' own Llama: no remote code for the model
    index = json.loads((dst / "model.safetensors.index.json").read_text())
    assert summary["shards"] == 2 and len(set(index["weight_map"].values())) == 2
    assert not any("W_pack" in k for k in index["weight_map"]) and "model.layers.1.self_attn.v_proj.weight" in \
        index["weight_map"]
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "tokenization_baichuan.py",
                 "generation_config.json"):
        assert (dst / name).read_bytes() == (src / name).read_bytes()
    assert not (dst / "modeling_baichuan.py").exists()
    assert not [p for p in dst.parent.iterdir() if p.name.startswith(".tmp-")]


def test_baichuan2_13b_alibi_is_refused(tmp_path):
    conf = tiny_config()
    del conf["max_position_embeddings"]                  # Baichuan2-13B's config has model_max_length only
    src = save_checkpoint(TinyBaichuan2(tiny_config()), tmp_path / "Baichuan2-13B")
    (src / "config.json").write_text(json.dumps(conf))
    r = CliRunner().invoke(app, ["model", "convert", "baichuan2", str(src), str(tmp_path / "out")])
    assert r.exit_code == 2 and "ALiBi" in r.output and "cannot be converted" in r.output
    assert not (tmp_path / "out").exists()
    (src / "config.json").write_text(json.dumps(tiny_config()))
    (src / "modeling_baichuan.py").write_text("def _gen_alibi_mask(tensor, n_head, max_pos): ...\n")
    assert "ALiBi" in CliRunner().invoke(app, ["model", "convert", "baichuan2", str(src), str(tmp_path / "o")]).output


def test_other_inputs_are_refused_in_one_line(converted, tmp_path):
    _, src, dst, _ = converted
    run = CliRunner().invoke
    r = run(app, ["model", "convert", "baichuan2", str(src), str(dst)])           # the destination exists
    assert r.exit_code == 2 and "--overwrite" in r.output
    r = run(app, ["model", "convert", "baichuan2", str(dst), str(tmp_path / "x")])  # already Llama
    assert r.exit_code == 2 and "not a Baichuan checkpoint" in r.output
    r = run(app, ["model", "convert", "qwen", str(src), str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown model family" in r.output
