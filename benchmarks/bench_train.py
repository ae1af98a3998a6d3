"""Step time of the Ray Train + DeepSpeed loop against the same DeepSpeed loop launched without Ray.

Both sides run the same code on the same data in two CPU processes (gloo), one thread each (Ray Train's
workers get OMP_NUM_THREADS=1, the baseline calls torch.set_num_threads(1)):

  ray       ``run_training`` of the local recipe: TorchTrainer, 2 workers, DeepSpeed ZeRO, run logs every step,
            ``ray.train.report`` every --report-every steps (the local recipe's 5: Ray Train's controller takes
            reports every 2 s, so reporting each sub-second step waits for it), checkpoints every
            --checkpoint-every steps
  baseline  ``torch.multiprocessing.spawn`` of 2 processes: ``init_process_group("gloo")``, then the same
            ``make_engine`` + ``train_step`` (huatuo_ray/train/loop.py), no Ray, no reports, no checkpoints

Step time = mean interval between the starts of consecutive global steps after --warmup steps (so it
includes everything the loop does between steps; the last step, followed by the final checkpoint, is not
counted). Data: the demo SFT conversations, sampled with
--epochs epochs and packed (SmolLM2 tokenizer) into --global-batch x --seq-len steps; the tiny Llama of the
local recipe unless --hidden/--layers say otherwise. Prints both step times and the ratio ray / baseline.

Usage: python benchmarks/bench_train.py [--zero 2] [--steps 20] [--warmup 3] [--seq-len 512] [--global-batch 8]
       [--micro-batch 2] [--hidden 256] [--layers 4] [--epochs 10] [--checkpoint-every 1000] [--report-every 5]
       [--work /tmp/bench_train]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_pack(work: Path, seq_len: int, batch: int, epochs: int) -> Path:
    from _sft import sft_conversations

    from huatuo_ray.llm.local_model import ensure_local_model
    from huatuo_ray.pack.config import PackConfig
    from huatuo_ray.pack.packer import run_pack
    from huatuo_ray.sample.config import SamplerConfig
    from huatuo_ray.sample.priority import run_sample

    pack = work / f"pack-{seq_len}-{batch}-{epochs}"
    if (pack / "_SUCCESS").exists():
        return pack
    kept = sft_conversations(work, {"sft": REPO / "examples" / "demo_corpus" / "sft"})["sft"]
    sampler = SamplerConfig(preset=None, sources=[{"name": "sft", "type": "sft", "K": 0, "epochs": epochs,
                                                   "path": str(kept)}])
    run_sample(sampler, work / f"order-{epochs}")
    run_pack(work / f"order-{epochs}", pack, PackConfig(tokenizer=str(ensure_local_model()), trust_remote_code=False,
                                                        template="chat", max_seq_len=seq_len, global_batch_size=batch),
             engine="local")
    return pack


def train_config(args, pack: Path, work: Path, run_name: str):
    import yaml

    from huatuo_ray.train.config import TrainConfig

    t = yaml.safe_load((REPO / "configs" / "local.yaml").read_text())["train"]
    t.update(packed=str(pack), output=str(work / "runs"), run_name=run_name, zero_stage=args.zero,
             max_seq_len=args.seq_len, global_batch_size=args.global_batch, micro_batch_size=args.micro_batch,
             max_steps=args.steps, checkpoint_every=args.checkpoint_every, export=False)
    if args.report_every:
        t["report_every"] = args.report_every
    t["model"]["tiny"].update(hidden_size=args.hidden, intermediate_size=args.hidden * 2,
                              num_hidden_layers=args.layers, num_attention_heads=max(1, args.hidden // 64),
                              num_key_value_heads=max(1, args.hidden // 64))
    return TrainConfig.model_validate(t)


def step_time(starts: list[float], warmup: int) -> float:
    s = sorted(starts)[warmup:]
    return (s[-1] - s[0]) / (len(s) - 1)


def _baseline_worker(rank: int, world: int, port: int, cfg_json: str, vocab: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    import torch
    import torch.distributed as dist

    from huatuo_ray.train.config import TrainConfig
    from huatuo_ray.train.loop import default_reader_factory, make_engine, train_step

    torch.set_num_threads(1)
    cfg = TrainConfig.model_validate_json(cfg_json)
    os.environ["TORCH_EXTENSIONS_DIR"] = cfg.extensions_path()
    dist.init_process_group("gloo", rank=rank, world_size=world)
    engine, data, total, flops, iso = make_engine(cfg, default_reader_factory(cfg.packed), rank, world, vocab)
    starts, losses = [], []
    for step in range(total):
        m = train_step(engine, data, step, cfg, world, flops, iso.mechanism)
        starts.append(m["started_at"])
        losses.append(m["loss"])
    if rank == 0:
        Path(out).write_text(json.dumps({"starts": starts, "losses": losses}))
    dist.barrier()
    dist.destroy_process_group()


def run_baseline(cfg, vocab: int, work: Path) -> dict:
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = work / "baseline.json"
    t0 = time.time()
    mp.spawn(_baseline_worker, args=(2, port, cfg.model_dump_json(), vocab, str(out)), nprocs=2, join=True)
    r = json.loads(out.read_text())
    r["wall"] = time.time() - t0
    return r


def run_ray(cfg, work: Path) -> dict:
    import ray

    from huatuo_ray.train.metrics import log_dir, read_jsonl
    from huatuo_ray.train.trainer import run_training

    ray.init(address="local", num_cpus=2, include_dashboard=False)
    t0 = time.time()
    try:
        result = run_training(cfg)
    finally:
        ray.shutdown()
    metrics = sorted(read_jsonl(log_dir(result.run_dir) / "metrics.jsonl"), key=lambda m: m["step"])
    return {"starts": [m["started_at"] for m in metrics], "losses": [m["loss"] for m in metrics],
            "wall": time.time() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zero", type=int, default=2, choices=[1, 2, 3])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--global-batch", type=int, default=8)
    p.add_argument("--micro-batch", type=int, default=2)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--report-every", type=int, default=None, help="default: the local recipe's train.report_every")
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_train"))
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.work / "runs", ignore_errors=True)

    from huatuo_ray.train.model import load_tokenizer

    pack = make_pack(args.work, args.seq_len, args.global_batch, args.epochs)
    cfg = train_config(args, pack, args.work, "bench")
    if args.warmup + 2 > cfg.max_steps:
        sys.exit(f"--steps must exceed --warmup + 1 (got {args.steps}, {args.warmup})")
    vocab = len(load_tokenizer(cfg.model))
    base = run_baseline(cfg, vocab, args.work)
    ours = run_ray(cfg, args.work)
    n = min(len(base["losses"]), len(ours["losses"]))
    tb, tr = step_time(base["starts"], args.warmup), step_time(ours["starts"], args.warmup)
    print(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "zero_stage": args.zero, "steps": n, "report_every": cfg.report_every, "warmup_steps": args.warmup,
        "batch": f"{args.global_batch} x {args.seq_len} tokens, micro-batch {args.micro_batch}, 2 workers",
        "model": f"tiny Llama hidden {args.hidden}, {args.layers} layers",
        "baseline_step_s": round(tb, 4), "ray_step_s": round(tr, 4), "ratio_ray_over_baseline": round(tr / tb, 3),
        "same_losses": all(abs(a - b) <= 1e-4 * abs(a) for a, b in zip(base["losses"][:n], ours["losses"][:n])),
        "wall_s": {"baseline": round(base["wall"], 1), "ray": round(ours["wall"], 1)},
    }, indent=1))


if __name__ == "__main__":
    main()
