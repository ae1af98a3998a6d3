"""Packed samples do not attend to each other: a token of sample 2 gets the same logits whether or not sample 1
precedes it in the packed sequence, for every mechanism (huatuo_ray/train/isolation.py) and model family here.

Tiny models from configs, fp32 on CPU. ``flash_attention_2`` runs transformers' own flash-attention path with
flash-attn's kernels written in torch (tests/train/flash_reference.py), since flash-attn needs a GPU.
"""

from __future__ import annotations

import json
from contextlib import nullcontext

import numpy as np
import pytest
import torch

from huatuo_ray.io.packed import position_ids_from_cu
from huatuo_ray.train import isolation
from huatuo_ray.train.config import TrainConfig
from tests.train.baichuan2_style import TinyBaichuan2, save_checkpoint, tiny_config
from tests.train.flash_reference import reference_flash_attention, use_flash_attention

SIZES = dict(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256)
L = 48
ATTN = ["sdpa", "eager", "flash_attention_2"]


def _cfg(attn: str, **model) -> TrainConfig:
    use_gpu = attn == "flash_attention_2"
    return TrainConfig(num_workers=1, use_gpu=use_gpu, accelerator_type=None, precision="fp32", global_batch_size=2,
                       micro_batch_size=2, max_seq_len=L, model={"attn_implementation": attn, **model})


def _native(family: str):
    import transformers

    torch.manual_seed(0)
    conf = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config,
            "qwen3": transformers.Qwen3Config}[family](**SIZES)
    cls = {"llama": transformers.LlamaForCausalLM, "qwen2": transformers.Qwen2ForCausalLM,
           "qwen3": transformers.Qwen3ForCausalLM}[family]
    model = cls(conf)
    for p in model.parameters():          # larger than the default init: attention far from uniform
        p.data.normal_(0.0, 0.2) if p.dim() > 1 else p.data.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def converted_baichuan2(tmp_path_factory):
    """Baichuan2-7B-style (tiny) converted to the Llama layout by the converter."""
    from huatuo_ray.train.convert import convert_baichuan2

    root = tmp_path_factory.mktemp("b2")
    convert_baichuan2(save_checkpoint(TinyBaichuan2(tiny_config()), root / "src"), root / "llama")
    return root / "llama"


def _model(family: str, attn: str, converted_dir):
    from transformers import LlamaForCausalLM

    if family == "baichuan2-llama":
        model = LlamaForCausalLM.from_pretrained(converted_dir, dtype=torch.float32, attn_implementation="sdpa")
    else:
        model = _native(family)
    if attn == "flash_attention_2":
        use_flash_attention(model)
    else:
        model.config._attn_implementation = attn
    return model.eval()


def _pack():
    """Two rows: [s1 s2 s3 pad] and [s2 s1 pad]; returns ids, position ids, cu_seqlens, s2, where s2 sits."""
    g = torch.Generator().manual_seed(0)
    s1, s2, s3 = (torch.randint(1, 300, (n,), generator=g) for n in (13, 17, 9))
    rows = [torch.cat([s1, s2, s3]), torch.cat([s2, s1])]
    cus = [np.array([0, 13, 30, 39]), np.array([0, 17, 30])]
    ids = torch.stack([torch.cat([r, torch.zeros(L - len(r), dtype=torch.long)]) for r in rows])
    pos = torch.from_numpy(position_ids_from_cu(cus, L)).long()
    return ids, pos, cus, s2, [(0, slice(13, 30)), (1, slice(0, 17))]


def _logits(model, attn, **inputs):
    with torch.no_grad(), (reference_flash_attention() if attn == "flash_attention_2" else nullcontext()):
        return model(**inputs).logits


def test_every_verified_family_is_tested():
    assert set(isolation.VERIFIED) == {"llama", "qwen2", "qwen3"}


@pytest.mark.parametrize("attn", ATTN)
@pytest.mark.parametrize("family", ["llama", "qwen2", "qwen3", "baichuan2-llama"])
def test_sample_2_logits_do_not_depend_on_sample_1(family, attn, converted_baichuan2):
    model = _model(family, attn, converted_baichuan2)
    iso = isolation.require(isolation.choose(isolation.facts_from_model(model), _cfg(attn)))
    assert iso.mechanism == ("varlen" if attn == "flash_attention_2" else "block_mask")
    ids, pos, cus, s2, where = _pack()
    packed = _logits(model, attn, **isolation.model_inputs(iso.mechanism, ids, pos, cus, torch.float32))
    alone = _logits(model, attn, input_ids=s2[None], use_cache=False)[0]
    for row, span in where:
        torch.testing.assert_close(packed[row, span], alone, rtol=1e-4, atol=1e-4)
    # the same tokens with plain causal attention over the row see sample 1: other logits (the test can fail)
    leaky = _logits(model, attn, input_ids=ids, use_cache=False)
    assert (leaky[0, 13:30] - alone).abs().max() > 1e-2


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_transformers_itself_reads_boundaries_from_position_ids_for_sdpa_and_eager(attn):
    """Why sdpa / eager were already isolated with position ids alone (masking_utils.find_packed_sequence_indices)."""
    model = _model("llama", attn, None)
    ids, pos, _, s2, where = _pack()
    packed = _logits(model, attn, input_ids=ids, position_ids=pos, use_cache=False)
    alone = _logits(model, attn, input_ids=s2[None], use_cache=False)[0]
    for row, span in where:
        torch.testing.assert_close(packed[row, span], alone, rtol=1e-4, atol=1e-4)


def test_flash_attention_with_position_ids_alone_mixes_samples_of_a_micro_batch():
    """transformers' flash path infers boundaries from position ids only for one row per batch
    (_is_packed_sequence: batch_size == 1): micro-batches of several sequences need the cu_seqlens kwargs."""
    model = _model("llama", "flash_attention_2", None)
    ids, pos, _, s2, where = _pack()
    alone = _logits(model, "flash_attention_2", input_ids=s2[None], use_cache=False)[0]
    one_row = _logits(model, "flash_attention_2", input_ids=ids[:1], position_ids=pos[:1], use_cache=False)
    torch.testing.assert_close(one_row[0, 13:30], alone, rtol=1e-4, atol=1e-4)
    two_rows = _logits(model, "flash_attention_2", input_ids=ids, position_ids=pos, use_cache=False)
    assert (two_rows[0, 13:30] - alone).abs().max() > 1e-2


def test_baichuan2_own_layout_ignores_position_ids_and_is_refused(tmp_path):
    model = TinyBaichuan2(tiny_config()).eval()
    ids, pos, _, s2, where = _pack()
    with torch.no_grad():
        packed, alone = model(ids, pos), model(s2[None])[0]
    assert (packed[0, 13:30] - alone).abs().max() > 1e-2          # sample 2 sees sample 1
    (tmp_path / "config.json").write_text(json.dumps(tiny_config()))
    cfg = _cfg("sdpa", path=str(tmp_path), trust_remote_code=True)
    iso = isolation.for_recipe(cfg)
    assert iso.refused and iso.mechanism == "none" and "huatuo-ray model convert baichuan2" in iso.reason
    with pytest.raises(Exception, match="allow_cross_sample_attention"):
        isolation.require(iso)
    cfg.model.allow_cross_sample_attention = True
    assert isolation.for_recipe(cfg).mechanism == "none" and not isolation.for_recipe(cfg).refused


@pytest.mark.parametrize("conf, attn, want", [
    ({"model_type": "llama"}, "flash_attention_2", "varlen"),
    ({"model_type": "qwen2", "use_sliding_window": False, "sliding_window": 64}, "sdpa", "block_mask"),
    ({"model_type": "qwen2", "use_sliding_window": True, "sliding_window": 16, "max_window_layers": 0,
      "num_hidden_layers": 2}, "flash_attention_2", "varlen"),
    ({"model_type": "qwen2", "use_sliding_window": True, "sliding_window": 16, "max_window_layers": 0,
      "num_hidden_layers": 2}, "sdpa", "REFUSED"),
    ({"model_type": "gpt2"}, "sdpa", "REFUSED"),
])
def test_choice_from_the_model_directory(tmp_path, conf, attn, want):
    (tmp_path / "config.json").write_text(json.dumps(conf))
    iso = isolation.for_recipe(_cfg(attn, path=str(tmp_path)))
    assert (("REFUSED" if iso.refused else iso.mechanism), iso.family) == (want, conf["model_type"])


def test_presets_and_unreadable_models():
    assert isolation.for_recipe(_cfg("sdpa")).mechanism == "block_mask"                    # the tiny Llama
    assert isolation.for_recipe(_cfg("sdpa", path="/nowhere/model", size="Qwen2.5-7B")).family == "qwen2"
    assert isolation.for_recipe(_cfg("sdpa", path="/nowhere/model", size="13B")).refused   # ALiBi, remote code
    assumed = isolation.for_recipe(_cfg("flash_attention_2", path="/nowhere/model"))
    assert assumed.mechanism == "varlen" and not assumed.refused and "assumed" in assumed.reason


def test_block_mask_and_varlen_kwargs_follow_cu_seqlens():
    cus = [np.array([0, 3, 5]), np.array([0, 6])]
    m = isolation.block_mask(cus, 6, torch.float32, "cpu")[:, 0] == 0
    assert m.shape == (2, 6, 6) and m[0, 4].tolist() == [False, False, False, True, True, False]
    assert m[0, 5].tolist() == [False] * 5 + [True]                       # padding: only itself
    assert m[1].equal(torch.ones(6, 6, dtype=torch.bool).tril())
    kw = isolation.varlen_kwargs(cus, 6, "cpu")
    assert kw["cu_seq_lens_q"].tolist() == [0, 3, 5, 6, 12] and kw["max_length_q"] == 6
