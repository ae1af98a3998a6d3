"""The DeepSpeed configuration a training run uses, derived from the recipe (also shown by the dry run)."""

from __future__ import annotations

import math
from typing import Any

from huatuo_ray.train.config import TrainConfig


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """Linear warm-up length: ceil(ratio x steps), at least one step (as Hugging Face's Trainer rounds)."""
    return max(1, math.ceil(total_steps * warmup_ratio))


def lr_multiplier(step: int, total_steps: int, warmup: int, min_ratio: float) -> float:
    """lr / peak lr for global step ``step`` (0-based): linear warm-up to the peak over ``warmup`` steps
    (step 0 already trains, at peak/warmup), then cosine decay towards ``min_ratio`` (reached after the last step)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_schedule(cfg: TrainConfig, total_steps: int):
    """A callable DeepSpeed gives its optimiser to: a LambdaLR stepped once per global step, saved in checkpoints."""
    from functools import partial

    import torch

    fn = partial(lr_multiplier, total_steps=total_steps, warmup=warmup_steps(total_steps, cfg.warmup_ratio),
                 min_ratio=cfg.min_lr_ratio)
    return lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


def describe_schedule(cfg: TrainConfig, total_steps: int) -> dict[str, Any]:
    w = warmup_steps(total_steps, cfg.warmup_ratio)
    return {"type": "linear warm-up then cosine (LambdaLR, stepped per global step)", "peak_lr": cfg.lr,
            "total_steps": total_steps, "warmup_steps": w, "min_lr": cfg.lr * cfg.min_lr_ratio}


def deepspeed_config(cfg: TrainConfig, total_steps: int) -> dict[str, Any]:
    """DeepSpeed config: batch arithmetic, ZeRO stage, precision, AdamW, clipping (the schedule: ``lr_schedule``)."""
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
        "steps_per_print": 10**9,  # our own per-step metrics replace DeepSpeed's prints
        "wall_clock_breakdown": False,
    }
