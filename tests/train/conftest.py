"""Fixtures for the training tests: a real pack made from the demo SFT conversations by the packer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO

PACK_SEQ_LEN = 128
PACK_BATCH = 8


def make_demo_pack(root: Path, max_seq_len: int = PACK_SEQ_LEN, global_batch_size: int = PACK_BATCH) -> Path:
    """Demo conversations -> priority order -> packed steps (SmolLM2 tokenizer, chat template), in ``root``."""
    from huatuo_ray.llm.local_model import ensure_local_model
    from huatuo_ray.pack.config import PackConfig
    from huatuo_ray.pack.packer import run_pack
    from huatuo_ray.pack.sources import convert_conversations
    from huatuo_ray.sample.config import SamplerConfig
    from huatuo_ray.sample.priority import run_sample

    convert_conversations([str(REPO / "examples" / "demo_corpus" / "sft")], root / "conv", "sft")
    sampler = SamplerConfig(sources=[{"name": "sft", "type": "sft", "path": str(root / "conv" / "conversations.parquet")}])
    run_sample(sampler, root / "order")
    pack = PackConfig(tokenizer=str(ensure_local_model()), trust_remote_code=False, template="chat",
                      max_seq_len=max_seq_len, global_batch_size=global_batch_size)
    run_pack(root / "order", root / "pack", pack, engine="local")
    return root / "pack"


@pytest.fixture(scope="session")
def demo_pack(tmp_path_factory) -> Path:
    return make_demo_pack(tmp_path_factory.mktemp("demo_pack"))
