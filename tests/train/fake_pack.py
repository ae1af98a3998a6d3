"""A small in-test object satisfying the PackedReader contract (docs: /work/notes/PACKED_CONTRACT.md).

Used only by unit tests of the trainer's own logic (rank slices, micro-batches, cursor); the integration tests
train on real packed output made by the packer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class FakeBatch:
    input_ids: np.ndarray
    labels: np.ndarray
    position_ids: np.ndarray
    cu_seqlens: list
    sample_ids: list
    sequence_index: np.ndarray


class FakePackedReader:
    """Deterministic packed sequences: samples of 5..20 tokens following a learnable pattern, padded."""

    def __init__(self, path: str | Path):
        spec = json.loads(Path(path).read_text())
        self.num_steps, self.global_batch_size = spec["num_steps"], spec["global_batch_size"]
        self.max_seq_len, self.pad_token_id = spec["max_seq_len"], spec.get("pad_token_id", 0)
        self.vocab = spec.get("vocab", 200)
        self.manifest = {"fake": True, **spec}
        self.rows = [self._row(i) for i in range(self.num_steps * self.global_batch_size)]

    def _row(self, index: int):
        rng = np.random.default_rng(index)
        L = self.max_seq_len
        ids = np.full(L, self.pad_token_id, np.int32)
        labels = np.full(L, -100, np.int32)
        pos = np.arange(L, dtype=np.int32)
        cu, names, at, k = [0], [], 0, 0
        while True:
            n = int(rng.integers(5, 21))
            if at + n > L:
                break
            start = int(rng.integers(1, self.vocab - 1))
            toks = (start + np.arange(n)) % (self.vocab - 1) + 1   # a counting pattern: learnable
            ids[at:at + n] = toks
            labels[at + 2:at + n] = toks[2:]
            pos[at:at + n] = np.arange(n)
            at += n
            cu.append(at)
            names.append(f"s{index}-{k}")
            k += 1
        pos[at:] = np.arange(L - at)
        return ids, labels, pos, np.array(cu, np.int32), names

    def read(self, step: int, rank: int = 0, world_size: int = 1) -> FakeBatch:
        if self.global_batch_size % world_size:
            raise ValueError("world_size does not divide global_batch_size")
        if not (0 <= step < self.num_steps and 0 <= rank < world_size):
            raise ValueError("step or rank out of range")
        n = self.global_batch_size // world_size
        first = step * self.global_batch_size + rank * n
        rows = self.rows[first:first + n]
        return FakeBatch(np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]), np.stack([r[2] for r in rows]),
                         [r[3] for r in rows], [r[4] for r in rows], np.arange(first, first + n, dtype=np.int64))


def write_spec(path: Path, **spec) -> Path:
    path.write_text(json.dumps(spec))
    return path
