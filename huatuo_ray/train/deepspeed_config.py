"""The DeepSpeed configuration a training run uses, derived from the recipe (also shown by the dry run)."""

from __future__ import annotations

import math
from typing import Any

from huatuo_ray.train.config import TrainConfig


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """Linear warm-up length: ceil(ratio x steps), at least one step (as Hugging Face's Trainer rounds)."""
    return max(1, math.ceil(total_steps * warmup_ratio))


def deepspeed_config(cfg: TrainConfig, total_steps: int) -> dict[str, Any]:
    """DeepSpeed config: batch arithmetic, ZeRO stage, precision, AdamW, warm-up + cosine schedule, clipping."""
    zero: dict[str, Any] = {"stage": cfg.zero_stage, "overlap_comm": cfg.use_gpu, "contiguous_gradients": True}
    if cfg.zero_stage == 3:
        # Gather the full weights at save time so the exported model needs no conversion step.
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "train_batch_size": cfg.global_batch_size,
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": zero,
        "bf16": {"enabled": cfg.precision == "bf16"},
        "optimizer": {
            "type": "AdamW",
            "params": {
                "lr": cfg.lr, "betas": list(cfg.betas), "eps": cfg.eps, "weight_decay": cfg.weight_decay,
                # FusedAdam on GPUs; plain torch.optim.AdamW on CPU (the fused op is CUDA only).
                "torch_adam": not cfg.use_gpu,
            },
        },
        "scheduler": {
            "type": "WarmupCosineLR",
            "params": {
                "total_num_steps": total_steps,
                "warmup_num_steps": warmup_steps(total_steps, cfg.warmup_ratio),
                "warmup_type": "linear",
                "warmup_min_ratio": 0.0,
                "cos_min_ratio": cfg.min_lr_ratio,
            },
        },
        "steps_per_print": 10**9,  # our own per-step metrics replace DeepSpeed's prints
        "wall_clock_breakdown": False,
    }
