"""Settings of the training job: worker group, DeepSpeed ZeRO, optimiser, batch arithmetic, checkpoints.

Defaults reproduce the paper (section 4 / appendix of HuatuoGPT-II): 8 x A100, global batch 128 sequences of
4096 tokens, lr 1e-4 with cosine decay and 1% warm-up, weight decay 0.1, bf16, gradient clipping 1.0,
DeepSpeed ZeRO (the public config used stage 1; 2 and 3 work too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from huatuo_ray.errors import RecipeError
from huatuo_ray.io.storage import check_uri


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TinyModelConfig(_Strict):
    """A small Llama built from a config (no weights to download): the local recipe's model."""

    hidden_size: int = Field(64, gt=0)
    intermediate_size: int = Field(128, gt=0)
    num_hidden_layers: int = Field(2, gt=0)
    num_attention_heads: int = Field(1, gt=0, description="Head size 64 (vLLM's CPU attention has no kernel for 16).")
    num_key_value_heads: int = Field(1, gt=0)
    tie_word_embeddings: bool = True
    seed: int = Field(0, ge=0, description="Seed of the random initialisation (the same on every rank).")


# Model shapes for the dry run's memory estimate when the model's config.json is not readable here, with the
# model type that decides how packed samples are kept apart (huatuo_ray/train/isolation.py). Values from each
# model's published config.json on the Hugging Face hub.
ARCH_PRESETS: dict[str, dict] = {
    # baichuan-inc/Baichuan2-7B-Base config.json, trained in the Llama layout made by
    # `huatuo-ray model convert baichuan2` (its own remote-code layout cannot keep packed samples apart).
    "7B": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
           "num_key_value_heads": 32, "vocab_size": 125696, "model_type": "llama"},
    # baichuan-inc/Baichuan2-13B-Base config.json: ALiBi, remote code only (no Llama layout exists for it).
    "13B": {"hidden_size": 5120, "intermediate_size": 13696, "num_hidden_layers": 40, "num_attention_heads": 40,
            "num_key_value_heads": 40, "vocab_size": 125696, "model_type": "baichuan", "remote_code": True},
    # Qwen/Qwen2.5-7B(-Instruct) config.json: GQA with 4 KV heads, biases on q/k/v, untied embeddings.
    "Qwen2.5-7B": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                   "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064, "model_type": "qwen2",
                   "attention_bias": True},
    # meta-llama/Meta-Llama-3-8B(-Instruct) config.json: GQA with 8 KV heads, untied embeddings.
    "Llama-3-8B": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "model_type": "llama"},
}


class ModelConfig(_Strict):
    """Which model is trained and how its forward pass runs."""

    path: str | None = Field(
        None, description="Base model: a Hugging Face directory or hub id; null builds the tiny Llama below.")
    tokenizer: str | None = Field(
        None, description="Tokenizer saved with the exported model (default: the model path; for the tiny "
        "model the offline SmolLM2 tokenizer). It must be the one the packer used.")
    trust_remote_code: bool = Field(
        False, description="Needed for models or tokenizers with their own code (Baichuan2's tokenizer, also after "
        "`huatuo-ray model convert baichuan2`). A model running its own code cannot keep packed samples apart.")
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)
    size: Literal["7B", "13B", "Qwen2.5-7B", "Llama-3-8B"] | None = Field(
        None, description="Architecture used by the dry run when the model's config.json is not readable from here: "
        "7B / 13B are Baichuan2's shapes (7B in the Llama layout), Qwen2.5-7B and Llama-3-8B their models'.")
    attn_implementation: Literal["flash_attention_2", "sdpa", "eager"] = Field(
        "flash_attention_2", description="flash_attention_2 (GPUs) keeps packed samples apart with the varlen kernel "
        "on the pack's cu_seqlens; sdpa / eager (CPU) with a block-diagonal mask built from them.")
    allow_cross_sample_attention: bool = Field(
        False, description="Train a model for which neither mechanism keeps packed samples apart (remote code, "
        "unverified families): its packed samples then attend to each other. Refused unless true.")
    activation_checkpointing: bool = Field(True, description="Recompute activations in the backward pass.")


class TrainConfig(_Strict):
    """The training job (huatuo-ray train). One pass over the packed stream; the global step is the data cursor."""

    packed: str | None = Field(None, description="Pack output directory (the packer's step-major sequences).")
    output: str | None = Field(
        None, description="Storage path of training runs (shared by all nodes); a run lives in output/run_name.")
    checkpoint_storage: str | None = Field(
        None, description="Where Ray Train keeps the run's checkpoints: a directory every node mounts, or an "
        "object-store URI (s3://bucket/prefix, gs://...; credentials from the environment). Default: train.output "
        "(with run.dir in an object store: the train output there). The run's logs and exported model stay in "
        "output/run_name (staged locally and pushed when run.dir is in an object store).")
    run_name: str = Field("huatuo-train", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                          description="Resubmitting with the same run name resumes the run from its last checkpoint.")
    model: ModelConfig = Field(default_factory=ModelConfig)

    @field_validator("checkpoint_storage")
    @classmethod
    def _storage_uri(cls, v: str | None) -> str | None:
        try:
            return None if v is None else check_uri(v, "train.checkpoint_storage")
        except RecipeError as e:
            raise ValueError(str(e)) from None

    num_workers: int = Field(8, ge=1, description="Training workers (one GPU each when use_gpu).")
    use_gpu: bool = True
    accelerator_type: str | None = Field("A100", description="Ray accelerator type each worker asks for (GPU only).")
    cpus_per_worker: float = Field(1.0, gt=0)
    zero_stage: Literal[1, 2, 3] = Field(1, description="DeepSpeed ZeRO stage (1 in the public config).")
    precision: Literal["bf16", "fp32"] = "bf16"

    global_batch_size: int = Field(128, ge=1, description="Sequences per optimiser step (must equal the pack's).")
    micro_batch_size: int = Field(4, ge=1, description="Sequences per forward pass on one worker.")
    max_seq_len: int = Field(4096, ge=8, description="Tokens per sequence (must equal the pack's).")
    lr: float = Field(1e-4, gt=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="Cosine decays to lr * min_lr_ratio.")
    warmup_ratio: float = Field(0.01, ge=0, lt=1, description="Share of the steps with linear warm-up.")
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float = Field(1.0, ge=0, description="Clip the global gradient norm (0: no clipping).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many global steps (default: the whole pack).")

    checkpoint_every: int = Field(500, ge=1, description="Checkpoint every N global steps (and at the end).")
    report_every: int = Field(
        1, ge=1, description="Report metrics to Ray Train every N steps (checkpoints always). Ray Train's controller "
        "takes one report per worker at a time and polls every 2 s, so with steps much shorter than that, reporting "
        "every step makes the loop wait; train_log/metrics.jsonl has every step regardless.")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept in storage (older ones are deleted).")
    max_failures: int = Field(3, ge=0, description="Worker-group restarts from the last checkpoint after a failure.")
    peak_flops: float = Field(312e12, gt=0, description="Peak FLOP/s of one worker's accelerator, for MFU "
                              "(A100 bf16 dense: 312e12).")
    export: bool = Field(True, description="Write the final model in Hugging Face format (run_dir/model).")
    extensions_dir: str | None = Field(
        None, description="TORCH_EXTENSIONS_DIR for DeepSpeed's JIT-built ops (default ~/.cache/huatuo-ray/torch_extensions).")

    @property
    def gradient_accumulation_steps(self) -> int:
        """global batch = micro-batch x gradient accumulation x workers."""
        return self.global_batch_size // (self.micro_batch_size * self.num_workers)

    @model_validator(mode="after")
    def _batch_arithmetic(self) -> "TrainConfig":
        per_step = self.micro_batch_size * self.num_workers
        if self.global_batch_size % per_step:
            raise ValueError(
                f"global_batch_size {self.global_batch_size} is not micro_batch_size {self.micro_batch_size} x "
                f"num_workers {self.num_workers} x an integer number of gradient accumulation steps")
        if self.precision == "bf16" and not self.use_gpu:
            raise ValueError("precision bf16 needs GPUs here; use precision fp32 with use_gpu false")
        if self.model.attn_implementation == "flash_attention_2" and not self.use_gpu:
            raise ValueError("flash_attention_2 needs GPUs; use model.attn_implementation sdpa on CPU")
        return self

    def extensions_path(self) -> str:
        """Where DeepSpeed caches its compiled ops (kept across runs: the first build takes minutes)."""
        return self.extensions_dir or os.environ.get("TORCH_EXTENSIONS_DIR") or str(
            Path.home() / ".cache" / "huatuo-ray" / "torch_extensions")
