"""Packed samples do not attend to each other: a sample's logits inside a pack equal its logits alone."""

from __future__ import annotations

import pytest
import torch

from huatuo_ray.train.config import TrainConfig
from huatuo_ray.train.model import build_model


def _cfg(attn: str) -> TrainConfig:
    return TrainConfig(num_workers=1, use_gpu=False, accelerator_type=None, precision="fp32", global_batch_size=1,
                       micro_batch_size=1, max_seq_len=64, model={"attn_implementation": attn,
                                                                  "activation_checkpointing": False})


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_sample_logits_equal_alone(attn):
    model = build_model(_cfg(attn), vocab_size=300).eval()
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randint(1, 300, (n,), generator=g) for n in (11, 17, 9))
    ids = torch.cat([a, b, c]).unsqueeze(0)
    pos = torch.cat([torch.arange(11), torch.arange(17), torch.arange(9)]).unsqueeze(0)
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=pos, use_cache=False).logits[0]
        alone = [model(input_ids=x.unsqueeze(0), use_cache=False).logits[0] for x in (a, b, c)]
        leaky = model(input_ids=ids, use_cache=False).logits[0]   # plain causal: samples see each other
    torch.testing.assert_close(packed, torch.cat(alone), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(leaky[11:28], alone[1], atol=1e-3)
