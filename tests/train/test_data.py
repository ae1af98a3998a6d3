"""Each rank reads its own contiguous slice of every global step; together the ranks read the stream in order."""

from __future__ import annotations

import pytest

from huatuo_ray.train.data import RankSliceReader
from tests.train.fake_pack import FakePackedReader, write_spec


@pytest.fixture
def reader(tmp_path):
    return FakePackedReader(write_spec(tmp_path / "p.json", num_steps=5, global_batch_size=8, max_seq_len=64))


def test_ranks_cover_each_step_in_order(reader):
    for world in (1, 2, 4):
        got = []
        for step in range(reader.num_steps):
            for rank in range(world):
                rs = RankSliceReader(reader, rank, world, micro_batch_size=2).read_step(step)
                assert rs.step == step and len(rs.micro_batches) == 8 // world // 2
                got += rs.sequence_index
        assert got == list(range(5 * 8))


def test_micro_batches_keep_row_order_and_ids(reader):
    rs = RankSliceReader(reader, 1, 2, micro_batch_size=2).read_step(3)
    b = reader.read(3, rank=1, world_size=2)
    rows = [r for mb in rs.micro_batches for r in mb.input_ids.tolist()]
    assert rows == b.input_ids.tolist()
    assert rs.sample_ids == b.sample_ids and rs.real_tokens == sum(int(c[-1]) for c in b.cu_seqlens)


def test_slices_that_do_not_divide_are_refused(reader):
    with pytest.raises(ValueError, match="does not split"):
        RankSliceReader(reader, 0, 3, micro_batch_size=1)
    with pytest.raises(ValueError, match="does not split"):
        RankSliceReader(reader, 0, 2, micro_batch_size=3)
