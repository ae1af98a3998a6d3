"""A tiny Baichuan2-7B in its own (remote-code) layout, written for the tests from the structure of Baichuan2-7B's
published ``modeling_baichuan.py`` (baichuan-inc, Apache-2.0): no weights can be downloaded here, so the converter
is checked against this implementation built from a config with random weights.

What it reproduces, because the conversion depends on it:

- ``W_pack``: one ``Linear(h, 3h, bias=False)`` per layer whose output is read as ``unflatten(-1, (3, h))``: rows
  ``[0, h)`` make the query, ``[h, 2h)`` the key, ``[2h, 3h)`` the value (all heads, no grouping);
- rotary embeddings with base 10000 over the head dimension, cos/sin cached in fp32 and indexed by
  ``position_ids``, ``rotate_half`` on the two halves, applied in fp32;
- RMSNorm computing the variance in fp32; a SiLU-gated MLP (``gate_proj``, ``up_proj``, ``down_proj``);
- ``NormHead``: the output projection uses its weight rows normalised to unit length
  (``F.normalize(weight)``; in eval mode the published code normalises the weight once, in place);
- attention by ``F.scaled_dot_product_attention`` with the additive causal mask the published code builds
  (``_make_causal_mask``): position ids reach the rotary embedding only, never the mask;
- the state-dict names of the published checkpoint (``model.layers.N.self_attn.W_pack.weight``, ...).

Left out (not used by the tests): the KV cache, padding masks, xformers, quantisation, generation helpers and the
z-loss of its own ``forward`` (the trainer computes its own loss).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

AUTO_MAP = {"AutoConfig": "configuration_baichuan.BaichuanConfig",
            "AutoModelForCausalLM": "modeling_baichuan.BaichuanForCausalLM"}


def tiny_config(**over) -> dict:
    """A Baichuan2-7B config.json with tiny sizes (the real one: 4096 / 11008 / 32 layers / 32 heads / 125,696)."""
    conf = {"architectures": ["BaichuanForCausalLM"], "auto_map": AUTO_MAP, "model_type": "baichuan",
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "hidden_act": "silu", "hidden_size": 64,
            "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 4096,
            "model_max_length": 4096, "num_attention_heads": 4, "num_hidden_layers": 2, "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False, "torch_dtype": "float32", "use_cache": True, "vocab_size": 300,
            "z_loss_weight": 0}
    return conf | over


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        var = x.float().pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(var + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return self.weight * x


class Rotary:
    """cos / sin tables in fp32 for positions 0..max-1 (base 10000), looked up by position id."""

    def __init__(self, dim: int, max_positions: int, base: float = 10000.0):
        inv = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv)
        table = torch.cat((angles, angles), dim=-1)
        self.cos, self.sin = table.cos(), table.sin()

    def apply(self, q, k, position_ids):
        cos, sin = self.cos[position_ids].unsqueeze(1), self.sin[position_ids].unsqueeze(1)   # [b, 1, L, d]

        def rot(x):
            half = x.shape[-1] // 2
            return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

        qf, kf = q.float(), k.float()
        return (qf * cos + rot(qf) * sin).to(q.dtype), (kf * cos + rot(kf) * sin).to(k.dtype)


class Attention(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.h, self.heads = c["hidden_size"], c["num_attention_heads"]
        self.head_dim = self.h // self.heads
        self.W_pack = nn.Linear(self.h, 3 * self.h, bias=False)
        self.o_proj = nn.Linear(self.h, self.h, bias=False)
        self.rotary = Rotary(self.head_dim, c["max_position_embeddings"])

    def forward(self, x, mask, position_ids):
        b, L, _ = x.shape
        qkv = self.W_pack(x).unflatten(-1, (3, self.h))                      # [b, L, 3, h]
        q, k, v = (qkv[:, :, i].view(b, L, self.heads, self.head_dim).transpose(1, 2) for i in range(3))
        q, k = self.rotary.apply(q, k, position_ids)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(out.transpose(1, 2).reshape(b, L, self.h))


class MLP(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.gate_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.up_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(c["intermediate_size"], c["hidden_size"], bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.self_attn = Attention(c)
        self.mlp = MLP(c)
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, mask, position_ids):
        x = x + self.self_attn(self.input_layernorm(x), mask, position_ids)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"], c["pad_token_id"])
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class NormHead(nn.Module):
    def __init__(self, hidden: int, vocab: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab, hidden))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x):
        return F.linear(x, F.normalize(self.weight))


class TinyBaichuan2(nn.Module):
    """``model(input_ids, position_ids=None) -> logits``; state-dict keys as in Baichuan2-7B's checkpoints."""

    def __init__(self, c: dict, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.config = c
        self.model = Decoder(c)
        self.lm_head = NormHead(c["hidden_size"], c["vocab_size"])
        std = c["initializer_range"]
        for mod in self.model.modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                mod.weight.data.normal_(0.0, std * 10)   # larger than 0.02 so that attention is far from uniform
            elif isinstance(mod, RMSNorm):
                mod.weight.data.uniform_(0.5, 1.5)       # not all ones: a swapped norm shows in the logits

    def forward(self, input_ids, position_ids=None):
        b, L = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(L).unsqueeze(0).expand(b, L)
        x = self.model.embed_tokens(input_ids)
        causal = torch.full((L, L), torch.finfo(x.dtype).min).triu(1)[None, None].expand(b, 1, L, L)
        for layer in self.model.layers:
            x = layer(x, causal, position_ids)
        return self.lm_head(self.model.norm(x))


def save_checkpoint(model: TinyBaichuan2, dest: Path, shards: int = 2) -> Path:
    """A Baichuan2-style model directory: config.json, ``pytorch_model-*.bin`` shards + index, tokenizer files."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.json").write_text(json.dumps(model.config, indent=2))
    state = model.state_dict()
    names = list(state)
    per = -(-len(names) // shards)
    weight_map = {}
    for k in range(shards):
        fname = f"pytorch_model-{k + 1:05d}-of-{shards:05d}.bin"
        part = {n: state[n] for n in names[k * per:(k + 1) * per]}
        torch.save(part, dest / fname)
        weight_map |= {n: fname for n in part}
    (dest / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    # the tokenizer files Baichuan2 ships (contents stand in for the real ones: the converter copies them as they are)
    (dest / "tokenizer.model").write_bytes(b"\x00sentencepiece model stand-in\xff")
    (dest / "tokenizer_config.json").write_text(json.dumps({
        "auto_map": {"AutoTokenizer": ["tokenization_baichuan.BaichuanTokenizer", None]},
        "tokenizer_class": "BaichuanTokenizer", "add_bos_token": False, "add_eos_token": False}))
    (dest / "special_tokens_map.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>",
                                                              "pad_token": "<unk>", "unk_token": "<unk>"}))
    (dest / "tokenization_baichuan.py").write_text("# stand-in for Baichuan2's tokenizer code\n")
    (dest / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
    (dest / "modeling_baichuan.py").write_text("# stand-in: class NormHead(nn.Module) ... rotary embeddings\n")
    return dest
