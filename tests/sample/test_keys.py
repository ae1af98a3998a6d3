import numpy as np
import pyarrow as pa
import pytest

from huatuo_ray.sample import keys


def test_splitmix64_matches_the_reference_sequence():
    # splitmix64 seeded with 0: first output 0xE220A8397B1DCDAF (Vigna's reference implementation)
    assert int(keys.splitmix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF


def test_keys_are_pinned():
    """Any change here changes every order ever written: bump the stream tag (v1) deliberately instead."""
    h = keys.hash_ids(np.array([0, 1, 2**40]))
    assert h.tolist() == [16294208416658607535, 10451216379200822465, 2296115805719413641]
    assert keys.hash_ids(pa.array(["", "a", "web-zh:/data/x.jsonl@1024"])).tolist() == [
        7192185014346937746, 1869013979133038490, 6373131673448708717]
    assert keys.stream(42, "web", 0) == 15787922082717625801
    np.testing.assert_array_equal(keys.item_keys(h, 42, "web", 0, 32.0),
                                  [0.010755092518971434, 0.009980221247651482, 0.026570368474583998])


def test_uniforms_stay_inside_the_open_interval():
    extremes = np.array([0, 1, 2**64 - 1, 2**63, 4095, 2**64 - 4096], dtype=np.uint64)
    for s in range(50):
        u = keys.uniforms(extremes, keys.stream(s, "x", 0))
        assert ((u > 0) & (u < 1)).all()
    # whatever splitmix64 returns, the mapping from its bits cannot reach 0 or 1
    top = ((np.array([0, 2**64 - 1], dtype=np.uint64) >> np.uint64(12)).astype(np.float64) + 0.5) * 2.0**-52
    assert top[0] > 0 and top[1] < 1


def test_uniforms_look_uniform():
    u = keys.uniforms(keys.hash_ids(np.arange(200_000)), keys.stream(7, "web", 0))
    counts = np.histogram(u, bins=20, range=(0, 1))[0]
    assert abs(u.mean() - 0.5) < 0.003 and counts.min() > 9_500 and counts.max() < 10_500


def test_neg_log_is_within_a_few_ulps_of_log():
    rng = np.random.default_rng(0)
    u = np.concatenate([rng.random(100_000), [2.0**-53, 1 - 2.0**-53, 0.5, 2**-0.5, 1e-300]])
    got, want = keys.neg_log(u.copy()), -np.log(u)
    assert (np.abs(got - want) <= 4 * np.spacing(want)).all()


def test_hash_depends_on_the_value_only():
    ids = np.arange(1000, dtype=np.int64)
    whole = keys.hash_ids(ids)
    np.testing.assert_array_equal(keys.hash_ids(ids.astype(np.int32)), whole)
    np.testing.assert_array_equal(keys.hash_ids(ids[::-1]), whole[::-1])
    np.testing.assert_array_equal(np.concatenate([keys.hash_ids(ids[:300]), keys.hash_ids(ids[300:])]), whole)
    s = pa.array([f"doc-{i}" * (i % 5) for i in range(1000)])
    hs = keys.hash_ids(s)
    np.testing.assert_array_equal(keys.hash_ids(s.slice(400)), hs[400:])
    np.testing.assert_array_equal(keys.hash_ids(pa.chunked_array([s.slice(0, 10), s.slice(10)])), hs)
    np.testing.assert_array_equal(keys.hash_ids(s.cast(pa.large_string())), hs)
    assert len(set(keys.hash_ids(pa.array(["ab", "ba", "a", "a\x00", "abcdefgh", "abcdefgh\x00"])).tolist())) == 6


def test_keys_depend_on_seed_source_and_epoch():
    h = keys.hash_ids(np.arange(100))
    base = keys.item_keys(h, 1, "web", 0, 2.0)
    for other in (keys.item_keys(h, 2, "web", 0, 2.0), keys.item_keys(h, 1, "books", 0, 2.0),
                  keys.item_keys(h, 1, "web", 1, 2.0)):
        assert not np.array_equal(base, other)
    np.testing.assert_array_equal(keys.item_keys(h, 1, "web", 0, 4.0) * 2, base)


def test_bad_ids_are_refused():
    with pytest.raises(ValueError, match="null"):
        keys.hash_ids(pa.array([1, None]))
    with pytest.raises(TypeError, match="integers or strings"):
        keys.hash_ids(pa.array([1.5]))
