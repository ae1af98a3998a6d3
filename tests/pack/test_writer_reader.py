"""Hand-built packing cases: labels, position ids, boundaries, lineage, the reader contract."""

import json

import numpy as np
import pytest

from huatuo_ray.io.packed import PackedDataError, PackedReader, position_ids_from_cu
from huatuo_ray.pack.config import PackConfig
from huatuo_ray.pack.writer import PackWriter
from tests.pack.conftest import synthetic_store


def _pack(tmp_path, lengths, dropped=None, **cfg):
    c = PackConfig(tokenizer="-", max_seq_len=cfg.pop("L", 10), global_batch_size=cfg.pop("B", 4),
                   steps_per_shard=cfg.pop("S", 1), **cfg)
    store = synthetic_store(lengths)
    w = PackWriter(tmp_path / "p", c, pad_token_id=0)
    n = len(lengths)
    w.add(store, np.arange(n), np.arange(n), [f"s{i}" for i in range(n)], dropped=dropped)
    return w.close(), PackedReader(tmp_path / "p")


def test_continuous_packing_labels_positions_and_boundaries(tmp_path):
    m, r = _pack(tmp_path, [4, 3, 6, 2])  # 15 tokens in sequences of 10: [4, 3, 3 | 3, 2]
    assert (r.num_steps, r.global_batch_size, r.max_seq_len, r.pad_token_id) == (1, 4, 10, 0)
    b = r.read(0)
    assert b.input_ids.dtype == np.int32 and b.input_ids.shape == (4, 10)
    assert b.input_ids[0].tolist() == [1, 2, 3, 4, 1001, 1002, 1003, 2001, 2002, 2003]
    assert b.labels[0].tolist() == [-100, -100, 3, 4, -100, -100, 1003, -100, -100, 2003]
    assert b.position_ids[0].tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 1, 2]
    assert [c.tolist() for c in b.cu_seqlens] == [[0, 4, 7, 10], [0, 3, 5], [0], [0]]
    # the continuation of s2 starts the next sequence: its first token is never predicted across the cut
    assert b.input_ids[1].tolist() == [2004, 2005, 2006, 3001, 3002, 0, 0, 0, 0, 0]
    assert b.labels[1].tolist() == [-100, 2005, 2006, -100, -100] + [-100] * 5
    assert b.position_ids[1].tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 3, 4]
    assert b.sample_ids == [["s0", "s1", "s2"], ["s2", "s3"], [], []]
    assert b.sequence_index.tolist() == [0, 1, 2, 3] and b.sequence_index.dtype == np.int64
    assert (b.input_ids[2:] == 0).all() and (b.labels[2:] == -100).all()
    assert m["empty_sequences"] == 2 and m["tokens"] == 15 and m["samples"]["packed"] == 4


def test_whole_fill_overlong_truncate_drop_and_ledger(tmp_path):
    m, r = _pack(tmp_path, [4, 12, 3, 0, 5], dropped={2: "turn 1 has no text"}, fill="whole", overlong="truncate",
                 B=2)
    s = m["samples"]
    assert (s["total"], s["packed"], s["truncated"], s["dropped"]) == (5, 2, 1, 2)
    assert s["dropped_by_reason"] == {"turn # has no text": 1, "no tokens": 1}
    assert m["counters"]["truncated_tokens"] == 2
    b0, b1 = r.read(0), r.read(1)
    assert b0.sample_ids == [["s0"], ["s1"]] and b1.sample_ids == [["s4"], []]
    assert b0.input_ids[1].tolist() == list(range(1001, 1011))  # first 10 of 12 tokens
    assert [c.tolist() for c in b0.cu_seqlens] == [[0, 4], [0, 10]]
    assert b0.position_ids[0].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5]  # padding counts from 0 too
    import pyarrow.parquet as pq
    t = pq.read_table(tmp_path / "p" / "samples").to_pydict()
    assert t["outcome"] == ["packed", "truncated", "dropped", "dropped", "packed"]
    assert t["first_sequence"] == [0, 1, -1, -1, 2] and t["packed_tokens"] == [4, 10, 0, 0, 5]


def test_overlong_split_spans_sequences_with_lineage(tmp_path):
    m, r = _pack(tmp_path, [3, 25, 2], fill="whole", overlong="split", B=2, S=2)
    rows = [r.read(s, rank, 2) for s in range(r.num_steps) for rank in range(2)]
    assert [b.sample_ids[0] for b in rows] == [["s0"], ["s1"], ["s1"], ["s1", "s2"]]
    import pyarrow.parquet as pq
    seq = pq.read_table(tmp_path / "p" / "steps" / "shard-00000" / "sequences.parquet").to_pydict()
    assert seq["tok_start"][1:4] == [[0], [10], [20, 0]] and seq["tok_end"][1:4] == [[10], [20], [25, 2]]
    assert seq["positions"][3] == [1, 2]
    assert m["counters"]["overlong_split"] == 1 and m["samples"]["packed"] == 3


@pytest.mark.parametrize("world_size", [1, 2, 4, 8])
def test_any_world_size_reads_the_same_step(tmp_path, world_size):
    _, r = _pack(tmp_path, list(range(1, 60)), L=16, B=8, S=3)
    for step in range(r.num_steps):
        full = r.read(step)
        parts = [r.read(step, rank, world_size) for rank in range(world_size)]
        assert np.array_equal(np.concatenate([p.input_ids for p in parts]), full.input_ids)
        assert np.array_equal(np.concatenate([p.labels for p in parts]), full.labels)
        assert np.array_equal(np.concatenate([p.position_ids for p in parts]), full.position_ids)
        assert sum((p.sample_ids for p in parts), []) == full.sample_ids
        assert np.concatenate([p.sequence_index for p in parts]).tolist() == list(range(step * 8, step * 8 + 8))
    # stream order: the samples, read step by step, come back in order with nothing missing
    seen = [s for step in range(r.num_steps) for seq in r.read(step).sample_ids for s in seq]
    assert [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]] == [f"s{i}" for i in range(59)]


def test_reader_refuses_bad_requests_and_incomplete_dirs(tmp_path):
    _, r = _pack(tmp_path, [4, 4])
    with pytest.raises(ValueError, match="does not divide"):
        r.read(0, 0, 3)
    with pytest.raises(ValueError, match="out of range"):
        r.read(1)
    with pytest.raises(ValueError, match="rank 4"):
        r.read(0, 4, 4)
    (tmp_path / "p" / "_SUCCESS").unlink()
    with pytest.raises(PackedDataError, match="_SUCCESS"):
        PackedReader(tmp_path / "p")
    (tmp_path / "p" / "_SUCCESS").write_text("ok")
    man = json.loads((tmp_path / "p" / "_pack.json").read_text())
    (tmp_path / "p" / "_pack.json").write_text(json.dumps({**man, "num_steps": 3}))
    with pytest.raises(PackedDataError, match="shards on disk"):
        PackedReader(tmp_path / "p")


def test_position_ids_from_cu():
    pos = position_ids_from_cu([np.array([0, 2, 5]), np.array([0])], 6)
    assert pos.tolist() == [[0, 1, 0, 1, 2, 0], [0, 1, 2, 3, 4, 5]]
