"""The final model in Hugging Face format (config, safetensors, tokenizer): loadable by transformers and vLLM."""

from __future__ import annotations

from pathlib import Path

from huatuo_ray.io.atomic import atomic_path
from huatuo_ray.train.config import TrainConfig


def export_model(engine, cfg: TrainConfig, dest: Path, rank: int) -> None:
    """Write the trained weights to ``dest`` (all ranks call; rank 0 writes).

    ZeRO-3 weights are partitioned: they are gathered layer by layer to rank 0 first (the same call
    DeepSpeed's ``save_16bit_model`` and transformers' Trainer use). ZeRO-1/2 keep full weights on every rank.
    """
    import torch.distributed as dist

    from huatuo_ray.train.model import save_tokenizer

    if cfg.zero_stage == 3:
        state_dict = engine._zero3_consolidated_16bit_state_dict()  # collective: every rank takes part
    else:
        state_dict = engine.module.state_dict() if rank == 0 else None
    if rank == 0:
        dest = Path(dest)
        with atomic_path(dest) as tmp:
            engine.module.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
            save_tokenizer(cfg.model, tmp)
    dist.barrier()
