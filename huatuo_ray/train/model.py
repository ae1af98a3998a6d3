"""The model and tokenizer of a training run, and its FLOPs per token (for MFU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huatuo_ray import models
from huatuo_ray.train.config import ModelConfig, TrainConfig


def tokenizer_source(mcfg: ModelConfig) -> str:
    """Local directory of the tokenizer: explicit, else the model's, else the offline SmolLM2 one."""
    if mcfg.tokenizer:
        return str(models.locate(mcfg.tokenizer, "train.model.tokenizer"))
    if mcfg.path:
        return str(models.locate(mcfg.path, "train.model.path"))
    from huatuo_ray.llm.local_model import ensure_local_model

    return str(ensure_local_model())


def load_tokenizer(mcfg: ModelConfig):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_source(mcfg), trust_remote_code=mcfg.trust_remote_code)


def tiny_llama_config(cfg: TrainConfig, vocab_size: int, pad_token_id: int | None = None):
    """LlamaConfig of the tiny local model (random initialisation, seeded)."""
    from transformers import LlamaConfig

    t = cfg.model.tiny
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
        num_hidden_layers=t.num_hidden_layers, num_attention_heads=t.num_attention_heads,
        num_key_value_heads=t.num_key_value_heads, max_position_embeddings=cfg.max_seq_len,
        tie_word_embeddings=t.tie_word_embeddings, pad_token_id=pad_token_id, use_cache=False,
    )


def build_model(cfg: TrainConfig, vocab_size: int, pad_token_id: int | None = None, ds_config: dict | None = None):
    """The model to train: the base model at ``model.path`` or the tiny Llama, ready for packed inputs.

    With ZeRO-3 and a pretrained model, ``HfDeepSpeedConfig`` makes transformers load the weights already
    partitioned (no full copy per rank).
    """
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    m = cfg.model
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float32
    if m.path:
        keep_alive: Any = None
        if cfg.zero_stage == 3 and ds_config is not None:
            from transformers.integrations import HfDeepSpeedConfig

            keep_alive = HfDeepSpeedConfig(ds_config)  # noqa: F841 (must live while the model loads)
        model = AutoModelForCausalLM.from_pretrained(
            models.locate(m.path, "train.model.path"), dtype=dtype, attn_implementation=m.attn_implementation, trust_remote_code=m.trust_remote_code)
        del keep_alive
    else:
        torch.manual_seed(m.tiny.seed)
        conf = tiny_llama_config(cfg, vocab_size, pad_token_id)
        conf._attn_implementation = m.attn_implementation
        model = LlamaForCausalLM(conf).to(dtype)
    model.config.use_cache = False
    if m.activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def flops_per_token(n_params: int, n_embedding_params: int, num_layers: int, hidden_size: int, seq_len: int) -> float:
    """Training FLOPs per token: 6 x non-embedding parameters + 12 x layers x hidden x sequence (attention).

    The formula of PaLM (Chowdhery et al., 2022, appendix B), used for MFU; recomputation by activation
    checkpointing is not counted (MFU, not hardware utilisation).
    """
    return 6.0 * (n_params - n_embedding_params) + 12.0 * num_layers * hidden_size * seq_len


def model_flops_per_token(model, seq_len: int) -> float:
    """``flops_per_token`` for a transformers causal LM (works on ZeRO-3 partitioned parameters too)."""
    def numel(p) -> int:
        return int(getattr(p, "ds_numel", 0) or p.numel())

    n = sum(numel(p) for p in model.parameters())
    emb = numel(model.get_input_embeddings().weight)
    c = model.config
    return flops_per_token(n, emb, c.num_hidden_layers, c.hidden_size, seq_len)


def save_tokenizer(mcfg: ModelConfig, dest: Path) -> None:
    load_tokenizer(mcfg).save_pretrained(dest)
