import numpy as np
import pyarrow as pa
import pytest

from huatuo_ray.sample.config import SamplerConfig
from huatuo_ray.sample.order import argsort_keys, order_ids, sort_keyed


@pytest.mark.parametrize("n", [1, 2, 3, 17, 1000, 50_000])
def test_argsort_keys_is_a_stable_argsort(n):
    rng = np.random.default_rng(n)
    key = rng.exponential(size=n) / rng.choice([1.0, 8.0, 32.0], size=n)
    key[::7] = key[0]  # exact ties keep index order
    np.testing.assert_array_equal(argsort_keys(key), np.argsort(key, kind="stable"))


def test_argsort_keys_orders_keys_that_share_their_high_bits():
    key = 1.0 + np.arange(2000) * 1e-15  # equal in the high bits the packed sort sees
    np.random.default_rng(0).shuffle(key)
    np.testing.assert_array_equal(argsort_keys(key), np.argsort(key, kind="stable"))


def test_exact_key_ties_are_broken_by_source_epoch_id():
    t = pa.table({"key": [0.5, 0.5, 0.5, 0.1, 0.5], "src": pa.array([1, 0, 0, 2, 0], pa.int16()),
                  "epoch": pa.array([0, 1, 0, 0, 0], pa.int32()), "id": [3, 9, 8, 1, 2]})
    assert sort_keyed(t).select(["src", "epoch", "id"]).to_pylist() == [
        {"src": 2, "epoch": 0, "id": 1}, {"src": 0, "epoch": 0, "id": 2}, {"src": 0, "epoch": 0, "id": 8},
        {"src": 0, "epoch": 1, "id": 9}, {"src": 1, "epoch": 0, "id": 3}]


def test_order_ids_is_a_permutation_and_ignores_the_order_of_sources_and_ids():
    cfg = SamplerConfig(preset=None, seed=5, sources=[{"name": "a", "K": 3}, {"name": "b", "K": 0, "epochs": 2}])
    ids = {"a": ["x", "y", "z"], "b": ["p", "q"]}
    t = order_ids(ids, cfg)
    rows = list(zip(t.column("source").to_pylist(), t.column("epoch").to_pylist(), t.column("id").to_pylist()))
    assert sorted(rows) == sorted([("a", 0, i) for i in "xyz"] + [("b", e, i) for e in (0, 1) for i in "pq"])
    swapped = SamplerConfig(preset=None, seed=5, sources=list(reversed(cfg.sources)))
    assert order_ids({"a": ["z", "x", "y"], "b": ["q", "p"]}, swapped).equals(t)
    with pytest.raises(ValueError, match="differ in"):
        order_ids({"a": ["x"]}, cfg)
