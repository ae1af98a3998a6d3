"""The training job on the driver: checks, Ray Train ``TorchTrainer`` setup, resume by run name, the summary.

A run lives in ``<output>/<run_name>``: Ray Train's checkpoints (``checkpoint_*``) and its checkpoint manager
snapshot (or in ``<train.checkpoint_storage>/<run_name>``, e.g. an S3 prefix), ``train_log/`` (metrics, consumed sequences, events, the loss plot) and, at the end, ``model/``; as a
step of the run also ``_run.json`` and ``stats.json`` (:mod:`huatuo_ray.train.job`). Submitting the same run name again resumes from its latest
checkpoint (Ray Train restores the run from its snapshot); a worker that dies makes Ray Train restart the group
from the latest checkpoint, up to ``max_failures`` times.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from huatuo_ray.errors import SetupError
from huatuo_ray.train.config import TrainConfig

if TYPE_CHECKING:
    from huatuo_ray.train.node_files import RemoteRun

log = logging.getLogger(__name__)

# Settings that may change when a run is resubmitted: they do not change what the model learns. (max_steps is not
# one of them: it sets the learning-rate schedule.) Paths name where things are, not what they are.
RUNTIME_KEYS = {"max_failures", "keep_checkpoints", "peak_flops", "export", "extensions_dir", "cpus_per_worker",
                "accelerator_type", "checkpoint_every", "report_every", "packed", "output", "run_name",
                "checkpoint_storage"}

@dataclass
class TrainResult:
    run_dir: Path
    summary: dict[str, Any]


def check_pack(cfg: TrainConfig, reader: Any) -> None:
    """The pack must have been made for this batch size and sequence length."""
    if reader.global_batch_size != cfg.global_batch_size:
        raise SetupError(f"the pack has {reader.global_batch_size} sequences per global step, the recipe "
                         f"train.global_batch_size = {cfg.global_batch_size}")
    if reader.max_seq_len != cfg.max_seq_len:
        raise SetupError(f"the pack has sequences of {reader.max_seq_len} tokens, the recipe "
                         f"train.max_seq_len = {cfg.max_seq_len}")


def learning_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The settings that decide what a run learns (the training step's fingerprint), with the mechanism that keeps
    packed samples apart: it changes what each token attends to, so a run made with another one is not resumed."""
    from huatuo_ray.train.isolation import for_recipe

    settings = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in RUNTIME_KEYS}
    return settings | {"sample_isolation": for_recipe(cfg).mechanism}


def checkpoint_storage(cfg: TrainConfig, output: Path) -> dict[str, Any]:
    """Ray Train's ``storage_path`` (and ``storage_filesystem`` for an object store, built by
    :func:`huatuo_ray.io.storage.filesystem`: the same endpoint and credentials as every other object)."""
    from huatuo_ray.io.storage import ObjectPath, resolved

    where = resolved(cfg.checkpoint_storage) if cfg.checkpoint_storage else output
    if isinstance(where, ObjectPath):
        return {"storage_path": where.key, "storage_filesystem": where.fs}
    return {"storage_path": str(where)}


def run_training(cfg: TrainConfig, reader_factory: Callable | None = None, remote: "RemoteRun | None" = None,
                 after_fit: Callable[[], Any] | None = None) -> TrainResult:
    """Train (or resume) the run ``cfg.output / cfg.run_name`` on the connected Ray cluster.

    ``remote``: the pack and / or the run directory are in a bucket, ``cfg`` names the driver's local copies; each
    worker uses its own node's (:mod:`huatuo_ray.train.node_files`). ``after_fit`` brings what the workers uploaded
    into the driver's copy before the summary is read from it."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from huatuo_ray.train.isolation import for_recipe, require
    from huatuo_ray.train.loop import default_reader_factory, train_func
    from huatuo_ray.train.metrics import log_summary, repair_logs
    from huatuo_ray.train.model import load_tokenizer

    if not cfg.packed:
        raise SetupError("train.packed is not set: the pack output directory to train on")
    if not cfg.output:
        raise SetupError("train.output is not set: where runs (checkpoints, logs, model) are stored")
    if "://" not in cfg.packed:  # Ray Train workers do not run in the driver's directory
        cfg = cfg.model_copy(update={"packed": str(Path(cfg.packed).resolve())})
    reader = (reader_factory or default_reader_factory)(cfg.packed)
    check_pack(cfg, reader)
    iso = require(for_recipe(cfg, download=True))   # refused before any worker starts
    log.info("%s", iso.line())
    output = Path(cfg.output).resolve()
    run_dir = output / cfg.run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    vocab_size = len(load_tokenizer(cfg.model))

    scaling = ScalingConfig(
        num_workers=cfg.num_workers, use_gpu=cfg.use_gpu, resources_per_worker={"CPU": cfg.cpus_per_worker},
        accelerator_type=cfg.accelerator_type if cfg.use_gpu else None)
    run_config = RunConfig(
        name=cfg.run_name, **checkpoint_storage(cfg, output),
        failure_config=FailureConfig(max_failures=cfg.max_failures),
        checkpoint_config=CheckpointConfig(num_to_keep=cfg.keep_checkpoints))
    trainer = TorchTrainer(
        train_func,
        train_loop_config={"train": cfg.model_dump(mode="json"), "run_dir": str(run_dir), "vocab_size": vocab_size,
                           "reader_factory": reader_factory, "remote": remote.to_dict() if remote else None},
        torch_config=TorchConfig(backend="nccl" if cfg.use_gpu else "gloo"),
        scaling_config=scaling, run_config=run_config)
    repair_logs(run_dir)  # lines a kill cut from the shared logs (no worker runs now)
    if remote is not None and remote.run:
        shutil.rmtree(run_dir / "model", ignore_errors=True)  # exported again (rank 0 uploads it), maybe elsewhere
    t0 = time.time()
    result = trainer.fit()
    seconds = time.time() - t0
    if after_fit is not None:
        after_fit()
    repair_logs(run_dir)

    summary = {
        "run_dir": str(run_dir), "seconds_this_submission": round(seconds, 1), **log_summary(run_dir),
        "checkpoint": result.checkpoint.path if result.checkpoint else None,
        "model": str(run_dir / "model") if cfg.export else None,
        "zero_stage": cfg.zero_stage, "num_workers": cfg.num_workers, "sample_isolation": iso.mechanism,
    }
    return TrainResult(run_dir, summary)
