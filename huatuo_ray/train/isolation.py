"""Keeping packed samples apart in attention: which mechanism a model gets, and the inputs it needs.

A packed sequence holds several samples (the pack's ``cu_seqlens``: ``[0, len1, len1+len2, ..., real_len]``,
then padding). Position ids restart at every sample, which fixes the rotary positions but, by itself, does not
stop a token from attending to the samples before it. What does, in transformers 5.19 (read in its source):

``varlen`` (``flash_attention_2``)
    The loop passes the pack's boundaries as ``cu_seq_lens_q`` / ``cu_seq_lens_k`` / ``max_length_q`` /
    ``max_length_k`` (transformers' ``FlashAttentionKwargs``), over the micro-batch flattened into one stream.
    ``modeling_flash_attention_utils._flash_attention_forward`` then takes its "padding free, cu_seqlens
    provided" branch and calls ``flash_attn_varlen_func`` on exactly those boundaries. Position ids alone are
    not enough: that function derives boundaries from them only when the batch has one row
    (``_is_packed_sequence`` returns ``batch_size == 1 and ...``); with micro-batches of several sequences it
    runs the dense causal kernel across the samples.
``block_mask`` (``sdpa``, ``eager``)
    The loop passes a 4-D additive mask ``[m, 1, L, L]``: 0 where key and query are in the same sample and the
    key is not after the query, the dtype's minimum elsewhere. ``masking_utils._preprocess_mask_arguments``
    returns a 4-D mask unchanged ("If the mask is already 4D, simply return as-is"); eager attention adds it to
    the scores, ``sdpa_attention_forward`` passes it as ``attn_mask``. (Without it transformers would build
    the same block-diagonal mask from the position ids, ``find_packed_sequence_indices``; the explicit mask
    does not depend on that inference.)
``none``
    Position ids only. Used only when the recipe sets ``train.model.allow_cross_sample_attention``.

Which families the first two are verified for: those whose transformers code forwards the attention kwargs to
the attention function and takes a 4-D mask as given (:data:`VERIFIED`; tests/train/test_packed_attention.py
checks each with a tiny model). Remote code (``trust_remote_code`` models such as Baichuan2's own layout) is not
transformers' code: neither mechanism can be relied on there (Baichuan2-7B's published code attends with a
causal mask only, and with xformers installed its training path uses ``LowerTriangularMask`` whatever mask is
given). Convert Baichuan2-7B to the Llama layout (``huatuo-ray model convert baichuan2``) instead.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from huatuo_ray import models
from huatuo_ray.errors import SetupError
from huatuo_ray.train.config import ARCH_PRESETS, TrainConfig

# Families whose transformers implementation (5.19) routes FlashAttentionKwargs to the attention function
# (the model's forward passes **kwargs to every decoder layer and the layer to ``attention_interface``) and
# uses a 4-D attention mask as given (``create_causal_mask`` / ``create_sliding_window_causal_mask``).
VERIFIED = {
    "llama": "transformers/models/llama/modeling_llama.py (LlamaModel -> LlamaDecoderLayer -> LlamaAttention)",
    "qwen2": "transformers/models/qwen2/modeling_qwen2.py (Qwen2Model -> Qwen2DecoderLayer -> Qwen2Attention)",
    "qwen3": "transformers/models/qwen3/modeling_qwen3.py (Qwen3Model -> Qwen3DecoderLayer -> Qwen3Attention)",
}
MECHANISMS = {
    "varlen": "flash-attention varlen kernel on the pack's cu_seqlens",
    "block_mask": "block-diagonal causal mask built from the pack's cu_seqlens",
    "none": "position ids only: packed samples attend to the samples before them",
}


@dataclass(frozen=True)
class ModelFacts:
    """What the choice depends on, from the model's config (or a preset when the model is not readable here)."""

    model_type: str | None          # None: not known here
    remote_code: bool               # the model class comes from the checkpoint's own code
    sliding_window: int | None      # window of the sliding-attention layers, if any layer has one
    source: str


@dataclass(frozen=True)
class Isolation:
    """The mechanism a training run uses to keep packed samples apart, and why."""

    mechanism: str                  # varlen | block_mask | none
    family: str
    attn_implementation: str
    refused: bool
    reason: str
    source: str = ""                # where the family was read

    def line(self) -> str:
        head = "REFUSED" if self.refused else f"{self.mechanism} ({MECHANISMS[self.mechanism]})"
        return f"packed samples: {head}; {self.family} ({self.source}), {self.attn_implementation}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def facts_from_config_json(conf: dict[str, Any], trust_remote_code: bool, source: str) -> ModelFacts:
    """Facts from a model directory's ``config.json`` (read as JSON: no remote code runs)."""
    remote = trust_remote_code and "AutoModelForCausalLM" in (conf.get("auto_map") or {})
    window = None
    if conf.get("layer_types"):
        if "sliding_attention" in conf["layer_types"]:
            window = conf.get("sliding_window")
    elif conf.get("use_sliding_window") and conf.get("sliding_window"):
        if conf.get("max_window_layers", 0) < conf.get("num_hidden_layers", 0):   # Qwen2's rule
            window = conf["sliding_window"]
    return ModelFacts(conf.get("model_type"), remote, window, source)


def facts_from_model(model) -> ModelFacts:
    """Facts from the model object a worker built (its class tells whether it is transformers' own code)."""
    c = model.config
    window = c.sliding_window if "sliding_attention" in (getattr(c, "layer_types", None) or []) else None
    remote = not type(model).__module__.startswith("transformers.")
    return ModelFacts(c.model_type, remote, window, f"the loaded {type(model).__name__}")


def recipe_facts(cfg: TrainConfig, download: bool = False) -> ModelFacts:
    """Facts for the recipe's model: the tiny Llama; the model's config.json when it is on this machine (or,
    with ``download``, once fetched); else the ``model.size`` preset; else unknown."""
    m = cfg.model
    if not m.path:
        return ModelFacts("llama", False, None, "the tiny Llama")
    path = models.locate(m.path, "train.model.path") if download else models.find_local(m.path)
    if path is not None and (Path(path) / "config.json").is_file():
        conf = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        return facts_from_config_json(conf, m.trust_remote_code, f"{path}/config.json")
    if m.size:
        p = ARCH_PRESETS[m.size]
        return ModelFacts(p["model_type"], p.get("remote_code", False), None, f"preset {m.size}")
    return ModelFacts(None, False, None, f"{m.path} (its config.json is not readable here)")


def choose(facts: ModelFacts, cfg: TrainConfig) -> Isolation:
    """The mechanism for a model family and attention implementation; refused when none keeps samples apart and
    the recipe does not accept cross-sample attention."""
    m = cfg.model
    attn, allow = m.attn_implementation, m.allow_cross_sample_attention
    kernel = "varlen" if attn == "flash_attention_2" else "block_mask"
    family = facts.model_type or "unknown"
    if facts.model_type is None:
        return Isolation(kernel, family, attn, False, f"assumed from {attn}, checked again when training starts",
                         facts.source)
    problem = None
    if facts.remote_code:
        problem = ("the model runs its own remote code, which neither takes the pack's cu_seqlens nor is known to "
                   "honour an attention mask")
    elif facts.model_type not in VERIFIED:
        problem = (f"model type {facts.model_type!r} is not one whose transformers code is verified to keep packed "
                   f"samples apart ({', '.join(VERIFIED)})")
    elif kernel == "block_mask" and facts.sliding_window and facts.sliding_window < cfg.max_seq_len:
        problem = (f"its sliding-window layers (window {facts.sliding_window} < {cfg.max_seq_len} tokens) would lose "
                   "their window under a block mask; use flash_attention_2")
    if problem is None:
        evidence = ("transformers' _flash_attention_forward runs flash_attn_varlen_func on the cu_seq_lens kwargs"
                    if kernel == "varlen" else
                    "transformers uses a 4-D attention mask as given (masking_utils._preprocess_mask_arguments)")
        return Isolation(kernel, family, attn, False, f"{evidence}; {VERIFIED[facts.model_type]}", facts.source)
    if allow:
        return Isolation("none", family, attn, False, f"{problem}; accepted by train.model.allow_cross_sample_attention",
                         facts.source)
    hint = (" Convert Baichuan2-7B to the Llama layout with `huatuo-ray model convert baichuan2 SRC DST`."
            if facts.model_type == "baichuan" else "")
    return Isolation("none", family, attn, True, f"{problem}. Packed samples would attend to each other: use a "
                     f"supported model, or set train.model.allow_cross_sample_attention: true to accept it.{hint}",
                     facts.source)


def for_recipe(cfg: TrainConfig, download: bool = False) -> Isolation:
    return choose(recipe_facts(cfg, download), cfg)


def require(iso: Isolation) -> Isolation:
    """The isolation, or the refusal as a SetupError (one line on the command line)."""
    if iso.refused:
        raise SetupError(iso.line())
    return iso


def segment_bounds(cu_seqlens, max_seq_len: int):
    """A sequence's sample boundaries ``[0, ..., real_len]`` plus its padding as one more segment, ending at L."""
    import numpy as np

    cu = np.asarray(cu_seqlens, dtype=np.int64)
    return cu if cu[-1] == max_seq_len else np.append(cu, max_seq_len)


def block_mask(cu_seqlens: list, max_seq_len: int, dtype, device):
    """Additive mask [m, 1, L, L]: 0 where the key is in the query's sample and not after it, dtype-min elsewhere."""
    import numpy as np
    import torch

    seg = np.stack([np.repeat(np.arange(len(b) - 1), np.diff(b))
                    for b in (segment_bounds(cu, max_seq_len) for cu in cu_seqlens)])
    seg = torch.from_numpy(seg).to(device)
    causal = torch.ones(max_seq_len, max_seq_len, dtype=torch.bool, device=device).tril()
    allowed = (seg[:, :, None] == seg[:, None, :]) & causal
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask.unsqueeze(1)


def varlen_kwargs(cu_seqlens: list, max_seq_len: int, device) -> dict[str, Any]:
    """FlashAttentionKwargs for the micro-batch flattened row after row (row i's tokens start at i x L)."""
    import numpy as np
    import torch

    bounds = [segment_bounds(cu, max_seq_len) for cu in cu_seqlens]
    flat = np.concatenate([b[:-1] + i * max_seq_len for i, b in enumerate(bounds)] + [[len(bounds) * max_seq_len]])
    cu = torch.from_numpy(flat.astype(np.int32)).to(device)
    longest = int(np.diff(flat).max())
    return {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}


def model_inputs(mechanism: str, input_ids, position_ids, cu_seqlens: list, dtype) -> dict[str, Any]:
    """Keyword arguments of the model's forward pass for one micro-batch (tensors already on the device)."""
    inputs = {"input_ids": input_ids, "position_ids": position_ids, "use_cache": False}
    L, device = input_ids.shape[1], input_ids.device
    if mechanism == "block_mask":
        inputs["attention_mask"] = block_mask(cu_seqlens, L, dtype, device)
    elif mechanism == "varlen":
        inputs.update(varlen_kwargs(cu_seqlens, L, device))
    return inputs
