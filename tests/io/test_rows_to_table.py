"""rows_to_table: the fast path for rows sharing one key set gives the table the general path gives."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from huatuo_ray.io.output import rows_to_table


def reference(rows):
    """The general path: union of keys in first-seen order, a missing key is null."""
    keys = {}
    for r in rows:
        for k in r:
            keys.setdefault(k, None)
    return pa.Table.from_pydict({k: [r.get(k) for r in rows] for k in keys})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcd"), unique=True, max_size=4), max_size=6), st.booleans())
def test_rows_to_table_equals_reference(key_lists, same):
    if same and key_lists:
        key_lists = [key_lists[0]] * len(key_lists)
    rows = [{k: f"{k}{i}" for k in keys} for i, keys in enumerate(key_lists)]
    got, want = rows_to_table(rows), reference(rows)
    assert got.column_names == want.column_names
    assert got.to_pylist() == want.to_pylist()


def test_rows_with_other_keys_or_order_keep_every_column():
    rows = [{"a": 1, "b": 2}, {"b": 3, "a": 4}, {"a": 5, "c": 6}]
    t = rows_to_table(rows)
    assert t.column_names == ["a", "b", "c"]
    assert t.to_pylist() == [{"a": 1, "b": 2, "c": None}, {"a": 4, "b": 3, "c": None}, {"a": 5, "b": None, "c": 6}]
    same_set = [{"a": 1, "b": 2}, {"b": 3, "a": 4}]  # one key set in two orders: the first row's order
    assert rows_to_table(same_set).to_pylist() == [{"a": 1, "b": 2}, {"a": 4, "b": 3}]
