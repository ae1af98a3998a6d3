"""Fixtures for the training tests: a real pack made from the demo SFT conversations by the packer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import local_recipe, run_steps

PACK_SEQ_LEN = 128
PACK_BATCH = 8


def make_demo_pack(root: Path, max_seq_len: int = PACK_SEQ_LEN, global_batch_size: int = PACK_BATCH) -> Path:
    """The demo's medical SFT conversations -> sft -> priority order -> packed steps (SmolLM2 tokenizer, chat
    template), with the real runner in ``root``."""
    recipe = local_recipe(root, f"pack.max_seq_len={max_seq_len}", f"pack.global_batch_size={global_batch_size}",
                          sources=("sft-medical",))
    run_steps(recipe, "sft", "sample", "pack")
    return root / "pack"


@pytest.fixture(scope="session")
def demo_pack(tmp_path_factory) -> Path:
    return make_demo_pack(tmp_path_factory.mktemp("demo_pack"))
