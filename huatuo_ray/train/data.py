"""Each rank's slice of each global step, read straight from the step-major packed output.

Ray Data's ``streaming_split`` gives no global order, so the trainer does its own sharding: rank r of W reads
rows [r*B/W, (r+1)*B/W) of global step s (``PackedReader.read(s, r, W)``) and cuts them into micro-batches. The
global step is the data cursor: resuming at step s reads exactly what an uninterrupted run would have read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np


@dataclass
class MicroBatch:
    """One forward pass worth of sequences, as numpy arrays (converted to tensors by the loop)."""

    input_ids: np.ndarray       # int64 [m, L]
    labels: np.ndarray          # int64 [m, L], -100 = no loss
    position_ids: np.ndarray    # int64 [m, L], restart at 0 for every packed sample
    cu_seqlens: list[np.ndarray]  # per sequence: its sample boundaries [0, len1, ..., real_len]

    @property
    def trained_tokens(self) -> int:
        """Tokens that carry loss: a label predicts it from the previous position, so position 0 never does."""
        return int((self.labels[:, 1:] != -100).sum())


@dataclass
class RankStep:
    """What one rank consumes in one global step: its micro-batches and the ids they hold."""

    step: int
    micro_batches: list[MicroBatch]
    sequence_index: list[int]
    sample_ids: list[list[str]]
    real_tokens: int            # non-padding tokens in this rank's slice


class RankSliceReader:
    """Reads rank ``rank``'s slice of global steps from a packed output (any object with the PackedReader API)."""

    def __init__(self, reader: Any, rank: int, world_size: int, micro_batch_size: int):
        n = reader.global_batch_size // world_size
        if reader.global_batch_size % world_size or n % micro_batch_size:
            raise ValueError(
                f"the pack's global batch {reader.global_batch_size} does not split into {world_size} ranks x "
                f"micro-batches of {micro_batch_size}")
        self.reader, self.rank, self.world_size, self.micro_batch_size = reader, rank, world_size, micro_batch_size
        self.pad_token_id = int(reader.pad_token_id)

    @property
    def num_steps(self) -> int:
        return int(self.reader.num_steps)

    def read_step(self, step: int) -> RankStep:
        """Rank's slice of global ``step``, cut into micro-batches in row order."""
        b = self.reader.read(step, rank=self.rank, world_size=self.world_size)
        ids = np.asarray(b.input_ids, dtype=np.int64)
        labels = np.asarray(b.labels, dtype=np.int64)
        pos = np.asarray(b.position_ids, dtype=np.int64)
        m = self.micro_batch_size
        cu = [np.asarray(c, dtype=np.int64) for c in b.cu_seqlens]
        micro = [MicroBatch(ids[i:i + m], labels[i:i + m], pos[i:i + m], cu[i:i + m]) for i in range(0, len(ids), m)]
        real = int(sum(int(c[-1]) for c in cu))
        return RankStep(step, micro, [int(x) for x in np.asarray(b.sequence_index)],
                        [list(map(str, s)) for s in b.sample_ids], real)

    def steps(self, start: int, stop: int) -> Iterator[RankStep]:
        """Global steps start, start+1, ..., stop-1 of this rank."""
        for s in range(start, stop):
            yield self.read_step(s)
