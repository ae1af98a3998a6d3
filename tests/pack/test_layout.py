import numpy as np
import pytest

from huatuo_ray.pack.layout import DROPPED, PACKED, TRUNCATED, Layout


def pieces(p):
    return list(zip(p.item.tolist(), p.seq.tolist(), p.seq_off.tolist(), p.tok_start.tolist(), p.tok_end.tolist()))


def test_continuous_cuts_at_sequence_boundaries_and_keeps_order():
    lay = Layout(10, "continuous", "split")
    p = lay.place(np.array([4, 4, 5, 23]))
    assert pieces(p) == [(0, 0, 0, 0, 4), (1, 0, 4, 0, 4), (2, 0, 8, 0, 2), (2, 1, 0, 2, 5),
                         (3, 1, 3, 0, 7), (3, 2, 0, 7, 17), (3, 3, 0, 17, 23)]
    assert (lay.seq, lay.fill, lay.num_sequences) == (3, 6, 4)
    assert p.outcome.tolist() == [PACKED] * 4 and p.kept.tolist() == [4, 4, 5, 23]


def test_whole_starts_a_new_sequence_and_overlong_rules():
    lay = Layout(10, "whole", "split")
    p = lay.place(np.array([4, 4, 5, 23, 1]))
    assert pieces(p) == [(0, 0, 0, 0, 4), (1, 0, 4, 0, 4), (2, 1, 0, 0, 5), (3, 2, 0, 0, 10), (3, 3, 0, 10, 20),
                         (3, 4, 0, 20, 23), (4, 4, 3, 0, 1)]
    lay = Layout(10, "whole", "truncate")
    p = lay.place(np.array([3, 23, 2]))
    assert pieces(p) == [(0, 0, 0, 0, 3), (1, 1, 0, 0, 10), (2, 2, 0, 0, 2)]
    assert p.outcome.tolist() == [PACKED, TRUNCATED, PACKED] and p.kept.tolist() == [3, 10, 2]
    lay = Layout(10, "continuous", "drop")
    p = lay.place(np.array([3, 23, 2]), valid=np.array([True, True, False]))
    assert pieces(p) == [(0, 0, 0, 0, 3)] and p.outcome.tolist() == [PACKED, DROPPED, DROPPED]


@pytest.mark.parametrize("fill", ["continuous", "whole"])
@pytest.mark.parametrize("overlong", ["split", "truncate", "drop"])
def test_placing_in_runs_equals_placing_at_once(fill, overlong):
    rng = np.random.default_rng(0)
    n = rng.integers(1, 40, size=300)
    one = Layout(32, fill, overlong).place(n)
    lay, got = Layout(32, fill, overlong), []
    for a, b in [(0, 7), (7, 8), (8, 150), (150, 300)]:
        p = lay.place(n[a:b])
        got += [(i + a, *rest) for i, *rest in pieces(p)]
    assert got == pieces(one)
    # every kept token placed exactly once, never past the sequence end, in stream order
    ends = one.seq_off + one.tok_end - one.tok_start
    assert ends.max() <= 32 and np.all(np.diff(one.seq * 32 + one.seq_off) > 0)
    assert np.array_equal(np.bincount(one.item, weights=one.tok_end - one.tok_start, minlength=300), one.kept)
