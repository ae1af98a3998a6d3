"""Step-major shards of packed sequences, written atomically.

Global sequence q belongs to step ``q // B`` (B = global batch size); shard k holds steps
``[k*S, (k+1)*S)`` (S = ``steps_per_shard``), i.e. sequences ``[k*S*B, (k+1)*S*B)``::

    steps/shard-00000/input_ids.npy     int32 [S*B, max_seq_len], padded with the pad id
    steps/shard-00000/labels.npy        int32 [S*B, max_seq_len], -100 where not trained
    steps/shard-00000/sequences.parquet one row per sequence (row group = one step): sequence_index,
                                        n_tokens, n_trained, cu_seqlens, sample_ids, positions,
                                        tok_start, tok_end (the token span of each sample it holds)

``.npy`` files are read with ``mmap_mode="r"``: rank r of W reads rows ``[r*B/W, (r+1)*B/W)`` of its
step and nothing else. The last shard may hold fewer steps; every step is full (empty sequences
pad the final step). The first token of every piece gets label -100, so no token is predicted
across a sample boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.io.atomic import atomic_path
from huatuo_ray.io.packed import shard_dir
from huatuo_ray.pack.tokenize import IGNORE


class TokenStore(Protocol):
    """Tokens of a set of samples: row i is ``ids[offsets[i]:offsets[i+1]]`` (arrays or memmaps)."""

    ids: np.ndarray
    labels: np.ndarray
    offsets: np.ndarray


@dataclass
class ArrayStore:
    ids: np.ndarray
    labels: np.ndarray
    offsets: np.ndarray


@dataclass
class ShardPieces:
    """The pieces of one shard, in stream order, with what is needed to fill and describe them."""

    seq: np.ndarray  # global sequence index
    seq_off: np.ndarray
    tok_start: np.ndarray
    tok_end: np.ndarray
    store: np.ndarray  # index into the stores list
    row: np.ndarray  # row in that store
    position: np.ndarray  # stream position of the sample
    sample_id: list[str]


def write_shard(root: Path | str, k: int, first_seq: int, rows: int, pieces: ShardPieces, stores: list[TokenStore],
                max_seq_len: int, global_batch_size: int, pad_id: int) -> dict:
    """Fill sequences ``[first_seq, first_seq + rows)`` from their pieces and write shard ``k`` atomically."""
    L = max_seq_len
    ids = np.full((rows, L), pad_id, dtype=np.int32)
    labels = np.full((rows, L), IGNORE, dtype=np.int32)
    flat_ids, flat_labels = ids.reshape(-1), labels.reshape(-1)
    length = (pieces.tok_end - pieces.tok_start).astype(np.int64)
    local = pieces.seq - first_seq
    if len(length) and (local.min() < 0 or local.max() >= rows):
        raise ValueError(f"shard {k}: a piece falls outside sequences {first_seq}..{first_seq + rows - 1}")
    src = np.zeros(len(length), dtype=np.int64)
    for s in np.unique(pieces.store):
        m = pieces.store == s
        src[m] = np.asarray(stores[s].offsets)[pieces.row[m]] + pieces.tok_start[m]
    dest = local * L + pieces.seq_off
    ids_of = [st.ids for st in stores]
    labels_of = [st.labels for st in stores]
    for d, s, a, n in zip(dest.tolist(), pieces.store.tolist(), src.tolist(), length.tolist()):
        flat_ids[d : d + n] = ids_of[s][a : a + n]  # one contiguous copy per piece
        flat_labels[d : d + n] = labels_of[s][a : a + n]
    flat_labels[local * L + pieces.seq_off] = IGNORE  # no prediction across a sample boundary
    table = _sequence_table(first_seq, rows, local, length, pieces, labels)
    final = shard_dir(root, k)
    with atomic_path(final) as tmp:
        tmp.mkdir()
        np.save(tmp / "input_ids.npy", ids)
        np.save(tmp / "labels.npy", labels)
        pq.write_table(table, tmp / "sequences.parquet", row_group_size=global_batch_size, compression="zstd")
    n_tokens = table.column("n_tokens").to_numpy()
    return {"shard": k, "first_sequence": first_seq, "rows": rows, "tokens": int(n_tokens.sum()),
            "trained": int(table.column("n_trained").to_numpy().sum()), "pieces": len(length),
            "empty_sequences": int((n_tokens == 0).sum()),
            "fill_hist": np.bincount(np.minimum(n_tokens * 20 // L, 19), minlength=20).tolist()}


def _sequence_table(first_seq: int, rows: int, local: np.ndarray, length: np.ndarray, p: ShardPieces,
                    labels: np.ndarray) -> pa.Table:
    counts = np.bincount(local, minlength=rows) if len(local) else np.zeros(rows, np.int64)
    list_offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    n_tokens = np.bincount(local, weights=length, minlength=rows).astype(np.int32) if len(local) \
        else np.zeros(rows, np.int32)
    # cu_seqlens per sequence: [0, len1, len1+len2, ...] (pieces are sorted by sequence, in stream order)
    cu_offsets = np.concatenate([[0], np.cumsum(counts + 1)]).astype(np.int64)
    before = np.concatenate([[0], np.cumsum(length)])
    within = before[1:] - np.repeat(before[np.cumsum(counts) - counts], counts)
    cu_vals = np.zeros(len(length) + rows, dtype=np.int32)
    is_zero = np.zeros(len(cu_vals), bool)
    is_zero[cu_offsets[:-1]] = True
    cu_vals[~is_zero] = within
    return pa.table({
        "sequence_index": np.arange(first_seq, first_seq + rows, dtype=np.int64),
        "n_tokens": n_tokens,
        "n_trained": (labels != IGNORE).sum(axis=1).astype(np.int32),
        "cu_seqlens": pa.ListArray.from_arrays(pa.array(cu_offsets.astype(np.int32)), pa.array(cu_vals)),
        "sample_ids": pa.ListArray.from_arrays(list_offsets, pa.array(p.sample_id, pa.string())),
        "positions": pa.ListArray.from_arrays(list_offsets, pa.array(p.position.astype(np.int64))),
        "tok_start": pa.ListArray.from_arrays(list_offsets, pa.array(p.tok_start.astype(np.int32))),
        "tok_end": pa.ListArray.from_arrays(list_offsets, pa.array(p.tok_end.astype(np.int32))),
    })
