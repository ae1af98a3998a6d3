"""The packed stream's format, shared by the pack step (writer) and the train step (reader).

Example::

    reader = PackedReader("runs/demo/pack")
    for step in range(reader.num_steps):
        batch = reader.read(step, rank=r, world_size=W)   # this rank's B/W sequences of global step `step`
        model(input_ids=batch.input_ids, position_ids=batch.position_ids, labels=batch.labels)

Step s holds global sequences ``[s*B, (s+1)*B)`` in stream order; rank r of W reads the contiguous
rows ``[r*B/W, (r+1)*B/W)`` of it, from memory-mapped shard files (nothing else is read).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

MANIFEST = "_pack.json"
SUCCESS = "_SUCCESS"
FORMAT = "huatuo-ray/packed/v1"


def shard_dir(root: Path | str, k: int) -> Path:
    """Shard k of a pack directory: ``steps/shard-<k>/`` (input_ids.npy, labels.npy, sequences.parquet)."""
    return Path(root) / "steps" / f"shard-{k:05d}"


class PackedDataError(RuntimeError):
    """A pack directory that is incomplete, corrupt or not a pack output."""


@dataclass
class PackedBatch:
    """One rank's slice of one global step."""

    input_ids: np.ndarray  # int32 [n, max_seq_len]
    labels: np.ndarray  # int32 [n, max_seq_len], -100 where not trained
    position_ids: np.ndarray  # int32 [n, max_seq_len], restart at 0 at each packed sample (and for padding)
    cu_seqlens: list[np.ndarray]  # per sequence: int32 [0, len1, len1+len2, ..., real_len]
    sample_ids: list[list[str]]  # per sequence: the samples it holds, in order
    sequence_index: np.ndarray  # int64 [n]: step * global_batch_size + row


def position_ids_from_cu(cu_seqlens: list[np.ndarray], max_seq_len: int) -> np.ndarray:
    """Positions restarting at 0 at every boundary of ``cu_seqlens`` (and at the start of padding)."""
    out = np.empty((len(cu_seqlens), max_seq_len), dtype=np.int32)
    ramp = np.arange(max_seq_len, dtype=np.int32)
    for i, cu in enumerate(cu_seqlens):
        bounds = np.append(np.asarray(cu, dtype=np.int64), max_seq_len)
        starts = np.repeat(bounds[:-1], np.diff(bounds))
        out[i] = ramp - starts
    return out


class PackedReader:
    """Reads global steps of a finished pack directory, for any world size dividing the global batch."""

    def __init__(self, path: str | Path, cache_shards: int = 4):
        self.path = Path(path)
        if not (self.path / SUCCESS).is_file():
            raise PackedDataError(f"{self.path} is not a finished pack output (no {SUCCESS}; was the run interrupted?)")
        try:
            self.manifest: dict = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise PackedDataError(f"{self.path}/{MANIFEST} is missing or unreadable: {e}") from None
        if self.manifest.get("format") != FORMAT:
            raise PackedDataError(f"{self.path}: unknown format {self.manifest.get('format')!r} (expected {FORMAT})")
        self.num_steps: int = int(self.manifest["num_steps"])
        self.global_batch_size: int = int(self.manifest["global_batch_size"])
        self.max_seq_len: int = int(self.manifest["max_seq_len"])
        self.pad_token_id: int = int(self.manifest["pad_token_id"])
        self.steps_per_shard: int = int(self.manifest["steps_per_shard"])
        self._shards: OrderedDict[int, tuple] = OrderedDict()
        self._cache = cache_shards
        expected = -(-self.num_steps // self.steps_per_shard)
        found = len(list((self.path / "steps").glob("shard-*")))
        if found != expected:
            raise PackedDataError(f"{self.path}: {found} shards on disk, the manifest says {expected}")

    def __len__(self) -> int:
        return self.num_steps

    def _shard(self, k: int) -> tuple:
        if k in self._shards:
            self._shards.move_to_end(k)
            return self._shards[k]
        d = shard_dir(self.path, k)
        try:
            ids = np.load(d / "input_ids.npy", mmap_mode="r")
            labels = np.load(d / "labels.npy", mmap_mode="r")
            meta = pq.ParquetFile(d / "sequences.parquet")
        except (OSError, ValueError) as e:
            raise PackedDataError(f"{d}: unreadable shard ({e})") from None
        steps = min(self.steps_per_shard, self.num_steps - k * self.steps_per_shard)
        rows = steps * self.global_batch_size
        if ids.shape != (rows, self.max_seq_len) or labels.shape != ids.shape or meta.metadata.num_rows != rows:
            raise PackedDataError(f"{d}: shapes {ids.shape}, {labels.shape}, {meta.metadata.num_rows} rows; "
                                  f"expected ({rows}, {self.max_seq_len})")
        self._shards[k] = (ids, labels, meta)
        while len(self._shards) > self._cache:
            self._shards.popitem(last=False)
        return self._shards[k]

    def read(self, step: int, rank: int = 0, world_size: int = 1) -> PackedBatch:
        """Rank ``rank``'s contiguous slice of global step ``step`` (B / world_size sequences)."""
        B = self.global_batch_size
        if world_size < 1 or B % world_size:
            raise ValueError(f"world_size {world_size} does not divide the global batch size {B}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is out of range for world_size {world_size}")
        if not 0 <= step < self.num_steps:
            raise ValueError(f"step {step} is out of range (0..{self.num_steps - 1})")
        n = B // world_size
        k, s = divmod(step, self.steps_per_shard)
        ids, labels, meta = self._shard(k)
        a = s * B + rank * n
        table = meta.read_row_group(s, columns=["sequence_index", "cu_seqlens", "sample_ids"]).slice(rank * n, n)
        cu = [np.asarray(c, dtype=np.int32) for c in table.column("cu_seqlens").to_pylist()]
        seq_index = table.column("sequence_index").to_numpy().astype(np.int64)
        if seq_index[0] != step * B + rank * n:
            raise PackedDataError(f"{shard_dir(self.path, k)}: row group {s} holds sequence {seq_index[0]}, "
                                  f"expected {step * B + rank * n}")
        return PackedBatch(
            input_ids=np.array(ids[a : a + n], dtype=np.int32),
            labels=np.array(labels[a : a + n], dtype=np.int32),
            position_ids=position_ids_from_cu(cu, self.max_seq_len),
            cu_seqlens=cu,
            sample_ids=table.column("sample_ids").to_pylist(),
            sequence_index=seq_index,
        )
