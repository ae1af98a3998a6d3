"""Dry run: validate a training recipe without GPUs: batch arithmetic, the DeepSpeed config, memory per GPU.

Model-state memory comes from DeepSpeed's own estimators (``estimate_zero2_model_states_mem_needs`` and
``estimate_zero3_model_states_mem_needs``, no offload); ZeRO-1 (no estimator in DeepSpeed) uses the same
accounting: 16-bit weights and gradients in full on every GPU, fp32 master weights and Adam moments (12 bytes
per parameter) partitioned. Activations, with bf16 and flash attention (no s^2 term), follow Korthikanti et
al. 2022 ("Reducing activation recomputation"): 34*s*b*h bytes per layer without checkpointing; with full
activation checkpointing, the layer inputs (2*s*b*h bytes per layer) plus one layer recomputed. Eager attention
adds Korthikanti's 5*a*s^2*b bytes per stored layer (scores, softmax, dropout mask); sdpa / eager keep packed
samples apart with a block mask (huatuo_ray/train/isolation.py), 3*s^2*b bytes while it is built (the 16-bit mask
and the boolean it comes from). Logits add s*b*V*10 bytes (bf16 logits, their fp32 copy for the loss, its gradient).
"""

from __future__ import annotations

import json
from typing import Any

from huatuo_ray import models
from huatuo_ray.train.config import ARCH_PRESETS, TrainConfig
from huatuo_ray.train.deepspeed_config import deepspeed_config, describe_schedule

GIB = 1024**3


def architecture(cfg: TrainConfig) -> dict[str, Any]:
    """Model shape: the model directory's config.json when it is on this machine (nothing is downloaded), else the
    ``model.size`` preset."""
    m = cfg.model
    if m.path:
        try:
            from transformers import AutoConfig

            local = models.find_local(m.path)
            if local is None:
                raise OSError("not on this machine")
            c = AutoConfig.from_pretrained(local, trust_remote_code=m.trust_remote_code)
            return {"source": m.path, "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
                    "num_hidden_layers": c.num_hidden_layers, "num_attention_heads": c.num_attention_heads,
                    "num_key_value_heads": getattr(c, "num_key_value_heads", None) or c.num_attention_heads,
                    "vocab_size": c.vocab_size, "tie_word_embeddings": bool(getattr(c, "tie_word_embeddings", False)),
                    # Qwen2's q/k/v carry biases whatever the config says (modeling_qwen2.Qwen2Attention)
                    "attention_bias": bool(getattr(c, "attention_bias", c.model_type == "qwen2"))}
        except Exception as e:  # not reachable from this machine: fall back to the preset
            if not m.size:
                raise ValueError(f"cannot read the config of model {m.path!r} ({e}); set train.model.size "
                                 f"({', '.join(ARCH_PRESETS)}) for the estimate") from None
    if not m.size:
        t = m.tiny
        return {"source": "tiny", "hidden_size": t.hidden_size, "intermediate_size": t.intermediate_size,
                "num_hidden_layers": t.num_hidden_layers, "num_attention_heads": t.num_attention_heads,
                "num_key_value_heads": t.num_key_value_heads, "vocab_size": 49152,
                "tie_word_embeddings": t.tie_word_embeddings}
    a = {k: v for k, v in ARCH_PRESETS[m.size].items() if k not in ("model_type", "remote_code")}
    return {"source": f"preset {m.size}", "tie_word_embeddings": False, "attention_bias": False, **a}


def parameter_counts(a: dict[str, Any]) -> dict[str, int]:
    """Total parameters of a Llama-style decoder, and its largest single tensor (for the ZeRO-3 estimate)."""
    h, i, L, V = a["hidden_size"], a["intermediate_size"], a["num_hidden_layers"], a["vocab_size"]
    kv = h * a["num_key_value_heads"] // a["num_attention_heads"]
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * i + 2 * h + ((h + 2 * kv) if a.get("attention_bias") else 0)
    emb = V * h
    total = emb + (0 if a["tie_word_embeddings"] else emb) + L * per_layer + h
    return {"total": total, "embedding": emb, "per_layer": per_layer, "largest_layer": max(emb, per_layer)}


def memory_estimate(cfg: TrainConfig, a: dict[str, Any], gpus_per_node: int = 8) -> dict[str, float]:
    """GiB per GPU: model states (weights, gradients, optimiser) + activations of one micro-batch."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import (
        estimate_zero2_model_states_mem_needs,
    )

    p = parameter_counts(a)
    n, P = cfg.num_workers, p["total"]
    nodes = max(1, -(-n // gpus_per_node))
    per_node = min(n, gpus_per_node)
    if cfg.zero_stage == 1:
        states = 2 * P + 2 * P + 12 * P / n
    elif cfg.zero_stage == 2:
        _, states = estimate_zero2_model_states_mem_needs(P, per_node, nodes, cpu_offload=False)
    else:
        _, states, _ = estimate_zero3_model_states_mem_needs(P, p["largest_layer"], per_node, nodes,
                                                             cpu_offload=False, cpu_offload_params=False)
    s, b, h, L, V = cfg.max_seq_len, cfg.micro_batch_size, a["hidden_size"], a["num_hidden_layers"], a["vocab_size"]
    stored = 1 if cfg.model.activation_checkpointing else L       # layers whose attention activations are held
    act = (2 * s * b * h * L + 34 * s * b * h) if cfg.model.activation_checkpointing else 34 * s * b * h * L
    if cfg.model.attn_implementation == "eager":
        act += 5 * a["num_attention_heads"] * s * s * b * stored
    if cfg.model.attn_implementation != "flash_attention_2":
        act += 3 * s * s * b
    logits = 10 * s * b * V
    return {"model_states_gib": states / GIB, "activations_gib": act / GIB, "logits_gib": logits / GIB,
            "total_gib": (states + act + logits) / GIB, "parameters": P}


def dry_run(cfg: TrainConfig, total_steps: int | None = None, gpu_memory_gib: float = 80.0) -> dict[str, Any]:
    """Everything a run would use, computed without GPUs or data; raises ValueError on an impossible recipe.
    A model whose packed samples cannot be kept apart is reported (``isolation.refused``), not raised."""
    from huatuo_ray.train.isolation import for_recipe

    steps = total_steps or cfg.max_steps or 1000
    a = architecture(cfg)
    mem = memory_estimate(cfg, a)
    return {
        "batch": {"global_batch_size": cfg.global_batch_size, "micro_batch_size": cfg.micro_batch_size,
                  "num_workers": cfg.num_workers, "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
                  "tokens_per_step": cfg.global_batch_size * cfg.max_seq_len,
                  "check": f"{cfg.global_batch_size} = {cfg.micro_batch_size} x {cfg.gradient_accumulation_steps} "
                           f"x {cfg.num_workers}"},
        "steps_assumed": steps,
        "deepspeed_config": deepspeed_config(cfg, steps),
        "lr_schedule": describe_schedule(cfg, steps),
        "model": a,
        "memory_per_gpu": mem,
        "fits": mem["total_gib"] <= gpu_memory_gib,
        "isolation": for_recipe(cfg).as_dict(),
        "gpu_memory_gib": gpu_memory_gib,
        "workers": {"num_workers": cfg.num_workers, "use_gpu": cfg.use_gpu, "accelerator_type": cfg.accelerator_type,
                    "backend": "nccl" if cfg.use_gpu else "gloo", "precision": cfg.precision,
                    "attn_implementation": cfg.model.attn_implementation,
                    "activation_checkpointing": cfg.model.activation_checkpointing},
    }


def format_report(r: dict[str, Any]) -> str:
    from huatuo_ray.train.isolation import Isolation

    m = r["memory_per_gpu"]
    lines = [
        f"batch: {r['batch']['check']} (global = micro x accumulation x workers); "
        f"{r['batch']['tokens_per_step']:,} tokens per step",
        f"model: {m['parameters'] / 1e9:.2f}B parameters ({r['model']['source']})",
        f"memory per GPU: model states {m['model_states_gib']:.1f} GiB + activations {m['activations_gib']:.1f} GiB "
        f"+ logits {m['logits_gib']:.1f} GiB = {m['total_gib']:.1f} GiB "
        f"({'fits' if r['fits'] else 'does NOT fit'} in {r['gpu_memory_gib']:.0f} GiB)",
        f"workers: {json.dumps(r['workers'])}",
        Isolation(**r["isolation"]).line(),
        f"lr schedule: {json.dumps(r['lr_schedule'])}",
        "deepspeed config:",
        json.dumps(r["deepspeed_config"], indent=1),
    ]
    return "\n".join(lines)
