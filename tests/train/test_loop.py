"""One global step of the loop equals the full-batch objective: token-weighted loss, same gradient norm."""

from __future__ import annotations

import os
import socket

import pytest
import torch

from huatuo_ray.train.config import TrainConfig
from tests.train.fake_pack import FakePackedReader, write_spec


@pytest.fixture
def one_process_group():
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    # one process: an in-memory store, so no port is bound (a free port picked above can be taken by the time a
    # TCP store listens on it); the variables stay for DeepSpeed's own checks
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.parametrize("zero_stage", [2])  # one per process: DeepSpeed caches the process group
def test_step_loss_and_grad_norm_match_the_full_batch(one_process_group, tmp_path, zero_stage):
    from huatuo_ray.train.loop import make_engine, train_step
    from huatuo_ray.train.model import build_model

    reader = FakePackedReader(write_spec(tmp_path / "p.json", num_steps=2, global_batch_size=4, max_seq_len=64))
    cfg = TrainConfig(num_workers=1, use_gpu=False, accelerator_type=None, precision="fp32", zero_stage=zero_stage,
                      global_batch_size=4, micro_batch_size=1, max_seq_len=64, grad_clip=1.0,
                      model={"attn_implementation": "sdpa", "activation_checkpointing": False})
    os.environ["TORCH_EXTENSIONS_DIR"] = cfg.extensions_path()
    engine, data, total, flops, iso = make_engine(cfg, reader, 0, 1, vocab_size=200)
    assert iso.mechanism == "block_mask"
    m = train_step(engine, data, 0, cfg, 1, flops, iso.mechanism)

    ref = build_model(cfg, vocab_size=200, pad_token_id=0)      # same seed: same initial weights
    b = reader.read(0)
    logits = ref(input_ids=torch.from_numpy(b.input_ids).long(), position_ids=torch.from_numpy(b.position_ids).long(),
                 use_cache=False).logits
    labels = torch.from_numpy(b.labels).long()
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 200), labels[:, 1:].reshape(-1),
                                             ignore_index=-100)          # mean over every trained token
    loss.backward()
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in ref.parameters() if p.grad is not None))
    assert m["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert m["grad_norm"] == pytest.approx(norm.item(), rel=1e-4)
    assert m["trained_tokens"] == int((labels[:, 1:] != -100).sum())
