"""Property test: for any lengths and settings, packing conserves tokens, keeps order and marks boundaries."""

import numpy as np
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huatuo_ray.io.packed import PackedReader
from huatuo_ray.pack.config import PackConfig
from huatuo_ray.pack.writer import PackWriter
from tests.pack.conftest import synthetic_store


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lengths=st.lists(st.integers(0, 60), min_size=1, max_size=40), L=st.integers(8, 32),
       B=st.sampled_from([1, 2, 4]), S=st.integers(1, 3), fill=st.sampled_from(["continuous", "whole"]),
       overlong=st.sampled_from(["split", "truncate", "drop"]), runs=st.integers(1, 3))
def test_packing_invariants(tmp_path_factory, lengths, L, B, S, fill, overlong, runs):
    root = tmp_path_factory.mktemp("prop")
    cfg = PackConfig(tokenizer="-", max_seq_len=L, global_batch_size=B, steps_per_shard=S, fill=fill, overlong=overlong)
    store = synthetic_store(lengths)
    w = PackWriter(root, cfg, pad_token_id=0)
    n = len(lengths)
    for part in np.array_split(np.arange(n), runs):  # the stream arrives in several runs
        if len(part):
            w.add(store, part, part, [f"s{i}" for i in part])
    m = w.close()
    r = PackedReader(root)
    got = {i: [] for i in range(n)}
    got_labels = {i: [] for i in range(n)}
    order = []
    for step in range(r.num_steps):
        b = r.read(step)
        for row in range(B):
            cu = b.cu_seqlens[row]
            assert (b.input_ids[row, cu[-1]:] == 0).all() and (b.labels[row, cu[-1]:] == -100).all()
            for k, (a, e) in enumerate(zip(cu[:-1], cu[1:])):
                i = int(b.sample_ids[row][k][1:])
                order.append(i)
                got[i] += b.input_ids[row, a:e].tolist()
                got_labels[i] += b.labels[row, a:e].tolist()
                assert b.labels[row, a] == -100 and b.position_ids[row, a:e].tolist() == list(range(e - a))
    assert order == sorted(order)  # stream order, never reordered
    samples = pq.read_table(root / "samples").to_pydict()
    for i, n_i in enumerate(lengths):
        ids = store.ids[store.offsets[i] : store.offsets[i + 1]].tolist()
        outcome = samples["outcome"][i]
        keep = {"packed": n_i, "truncated": L, "dropped": 0}[outcome]
        assert got[i] == ids[:keep] and samples["packed_tokens"][i] == keep
        labels = store.labels[store.offsets[i] : store.offsets[i] + keep].tolist()
        assert all(g in (-100, x) for g, x in zip(got_labels[i], labels))
        assert outcome == ("dropped" if n_i == 0 or (n_i > L and overlong == "drop") else
                           "truncated" if n_i > L and overlong == "truncate" else "packed")
        if fill == "whole" and 0 < keep <= L:
            assert samples["first_sequence"][i] == samples["last_sequence"][i]  # whole samples are never cut
    s = m["samples"]
    assert s["total"] == n == s["packed"] + s["truncated"] + s["dropped"]
    assert m["tokens"] == sum(len(v) for v in got.values())
    if fill == "continuous":
        assert m["num_sequences"] == -(-m["tokens"] // L)  # only the last sequence can be partial
