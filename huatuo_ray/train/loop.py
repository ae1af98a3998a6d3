"""The per-worker training loop (``train_loop_per_worker`` of the TorchTrainer): DeepSpeed on the packed stream.

Every rank: builds the model, wraps it with ``deepspeed.initialize`` (the process group is Ray Train's),
restores the last checkpoint if there is one, then for each global step from the cursor on reads its slice,
runs the micro-batches (each with its samples' boundaries, :mod:`huatuo_ray.train.isolation`) (DeepSpeed accumulates gradients and steps at the boundary), logs metrics and the
sequences consumed, and every ``checkpoint_every`` steps saves its ZeRO shards and reports them with
``ray.train.report`` (Ray Train merges all ranks' files into one checkpoint directory).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from huatuo_ray import metrics as run_metrics
from huatuo_ray.io.atomic import write_json_atomic
from huatuo_ray.train.config import TrainConfig

STATE_FILE = "huatuo_state.json"
INIT_MODEL = "model_init"  # the randomly initialised model of a run without train.model.path (its base model)


def default_reader_factory(path: str):
    from huatuo_ray.io.packed import PackedReader

    return PackedReader(path)


def _param_groups(model, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only (not on norms and biases), as Hugging Face's Trainer does."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_engine(cfg: TrainConfig, reader: Any, rank: int, world: int, vocab_size: int):
    """Model + ``deepspeed.initialize`` on an existing process group; returns (engine, data, total steps,
    FLOPs/token, sample isolation). The isolation is chosen from the model this worker built (refused: SetupError)."""
    import deepspeed

    from huatuo_ray.train import isolation
    from huatuo_ray.train.data import RankSliceReader
    from huatuo_ray.train.deepspeed_config import deepspeed_config, lr_schedule
    from huatuo_ray.train.model import build_model, model_flops_per_token

    data = RankSliceReader(reader, rank, world, cfg.micro_batch_size)
    total = min(data.num_steps, cfg.max_steps or data.num_steps)
    ds_config = deepspeed_config(cfg, total)
    model = build_model(cfg, vocab_size, data.pad_token_id, ds_config)
    iso = isolation.require(isolation.choose(isolation.facts_from_model(model), cfg))
    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=_param_groups(model, cfg.weight_decay),
                                           lr_scheduler=lr_schedule(cfg, total), config=ds_config,
                                           dist_init_required=False)
    return engine, data, total, model_flops_per_token(engine.module, cfg.max_seq_len), iso


def train_step(engine, data, step: int, cfg: TrainConfig, world: int, flops_token: float,
               mechanism: str) -> dict[str, Any]:
    """One global step on this rank: its micro-batches (DeepSpeed steps at the boundary); returns the metrics.
    ``mechanism`` keeps the packed samples apart (:mod:`huatuo_ray.train.isolation`)."""
    import torch
    import torch.distributed as dist

    from huatuo_ray.train.isolation import model_inputs

    started_at = time.time()
    t0 = time.perf_counter()
    rs = data.read_step(step)
    device = engine.device
    lr = float(engine.get_lr()[0])
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float32
    # Every trained token of the global step weighs the same: the loss of a micro-batch is its summed token
    # loss over the step's trained tokens on all ranks, times ranks x accumulation steps (DeepSpeed averages
    # gradients over both). A step of padding only has no trained tokens: zero loss, and DeepSpeed still steps.
    counts = torch.tensor([float(sum(mb.trained_tokens for mb in rs.micro_batches)), float(rs.real_tokens)],
                          dtype=torch.float64)
    dist.all_reduce(counts)
    n_trained = float(counts[0])
    scale = world * len(rs.micro_batches) / max(n_trained, 1.0)
    loss_sum = torch.zeros((), dtype=torch.float64)
    for mb in rs.micro_batches:
        labels = torch.from_numpy(mb.labels).to(device)
        logits = engine(**model_inputs(mechanism, torch.from_numpy(mb.input_ids).to(device),
                                       torch.from_numpy(mb.position_ids).to(device), mb.cu_seqlens, dtype)).logits
        token_loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
            ignore_index=-100, reduction="sum")
        engine.backward(token_loss * scale)
        engine.step()
        loss_sum += token_loss.detach().double().cpu()
    dist.all_reduce(loss_sum)
    seconds = time.perf_counter() - t0
    positions = cfg.global_batch_size * cfg.max_seq_len
    grad_norm = engine.get_global_grad_norm()
    return {
        "step": step, "loss": float(loss_sum) / max(n_trained, 1.0), "lr": lr,
        "grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
        "step_seconds": seconds, "started_at": started_at, "tokens_per_s": positions / seconds,
        "real_tokens_per_s": float(counts[1]) / seconds, "trained_tokens": int(n_trained),
        "mfu": flops_token * positions / seconds / (cfg.peak_flops * world),
        "_consumed": (rs.sequence_index, rs.sample_ids),
    }


def train_func(config: dict[str, Any]) -> None:
    """Entry point of every training worker. ``config``: train (TrainConfig as dict), run_dir, vocab_size."""
    cfg = TrainConfig.model_validate(config["train"])
    os.environ["TORCH_EXTENSIONS_DIR"] = cfg.extensions_path()  # DeepSpeed's JIT ops: built once, cached
    import ray.train
    import torch.distributed as dist

    from huatuo_ray.train.export import export_model
    from huatuo_ray.train.metrics import RunLog
    from huatuo_ray.train.node_files import RemoteRun, RunFiles, node_pack

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    remote = RemoteRun.from_dict(config.get("remote"))  # a pack or run directory in a bucket (maybe another node)
    if remote is not None and remote.pack:
        cfg = cfg.model_copy(update={"packed": node_pack(remote)})
    files = RunFiles(config["run_dir"], rank, remote)
    files.take()
    run_dir = files.dir
    factory: Callable = config.get("reader_factory") or default_reader_factory
    engine, data, total, flops_token, iso = make_engine(cfg, factory(cfg.packed), rank, world, config["vocab_size"])

    log = RunLog(run_dir, rank)
    write_json_atomic(log.dir / "workers" / f"rank{rank:05d}.json", {"pid": os.getpid(), "rank": rank})
    start = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = json.loads((Path(d) / STATE_FILE).read_text())
            _, client_state = engine.load_checkpoint(d, tag=state["tag"])
        start = int(state["next_step"])
        # The data cursor and the restored model must agree: one optimiser step per global step.
        if client_state.get("next_step") != start or engine.global_steps != start:
            raise RuntimeError(f"checkpoint {checkpoint.path}: data cursor {start}, DeepSpeed client state "
                               f"{client_state.get('next_step')}, optimiser steps {engine.global_steps}")
        removed = log.roll_back(start)
        log.event("resume", next_step=start, checkpoint=checkpoint.path, records_discarded=removed,
                  sample_isolation=iso.as_dict())
    else:
        removed = log.roll_back(0)
        log.event("start", next_step=0, records_discarded=removed, sample_isolation=iso.as_dict())
        if cfg.export and not cfg.model.path:  # trained from a random start: keep that start, the base to compare with
            export_model(engine, cfg, run_dir / INIT_MODEL, rank)
            if rank == 0:
                files.put_tree(INIT_MODEL)
    files.put()  # the rolled-back logs, the event and the worker record

    step_time_sum, step_count = 0.0, 0
    for step in range(start, total):
        metrics = train_step(engine, data, step, cfg, world, flops_token, iso.mechanism)
        seconds = metrics["step_seconds"]
        step_time_sum += seconds
        step_count += 1
        log.consumed(step, *metrics.pop("_consumed"))
        if rank == 0:
            log.metrics(metrics)
            run_metrics.set_gauge("huatuo_train_step", step + 1)
            for key, name in (("loss", "huatuo_train_loss"), ("real_tokens_per_s", "huatuo_train_tokens_per_second"),
                              ("mfu", "huatuo_train_mfu")):
                run_metrics.set_gauge(name, metrics.get(key))
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == total:
            files.put()  # the logs up to the checkpoint are in place before it is
            _save_and_report(engine, metrics, step + 1, rank)
        elif (step + 1) % cfg.report_every == 0:
            ray.train.report(metrics)

    if cfg.export:
        export_model(engine, cfg, run_dir / "model", rank)
        if rank == 0:
            files.put_tree("model")
    if rank == 0:
        log.event("finished", steps=total, steps_this_attempt=step_count,
                  mean_step_seconds=step_time_sum / step_count if step_count else None)
    files.put()
    dist.barrier()


def _save_and_report(engine, metrics: dict[str, Any], next_step: int, rank: int) -> None:
    """Every rank saves its ZeRO shards into a local directory; Ray Train uploads all of them as one checkpoint."""
    import ray.train

    tag = f"step{next_step:08d}"
    tmp = tempfile.mkdtemp(prefix="huatuo-ckpt-")
    try:
        engine.save_checkpoint(tmp, tag=tag, client_state={"next_step": next_step})
        if rank == 0:
            (Path(tmp) / STATE_FILE).write_text(json.dumps({"tag": tag, "next_step": next_step}))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
