"""Fixtures for the packer tests: the offline SmolLM2 tokenizer, and synthetic samples."""

from __future__ import annotations

import numpy as np
import pytest

from huatuo_ray.pack.shards import ArrayStore


@pytest.fixture(scope="session")
def smol_path() -> str:
    from huatuo_ray.llm.local_model import ensure_local_model

    return str(ensure_local_model())


def synthetic_store(lengths: list[int], prompt: int = 2) -> ArrayStore:
    """Sample i has tokens 1000*i + 1 .. 1000*i + n_i; its first ``prompt`` tokens are untrained."""
    ids, labels = [], []
    for i, n in enumerate(lengths):
        t = np.arange(1, n + 1, dtype=np.int32) + 1000 * i
        lab = t.copy()
        lab[:prompt] = -100
        ids.append(t)
        labels.append(lab)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int32))
    return ArrayStore(cat(ids), cat(labels), offsets)
