"""unify.max_segments: how many segments of each unit a trial slice unifies."""

from __future__ import annotations

from huatuo_ray.unify.pipeline import segment_budgets
from tests.unify.helpers import make_curated


def test_budgets_follow_unit_order(tmp_path):
    curated = make_curated(tmp_path, {"u0": ["a", "b"], "u1": ["c", "d", "e"], "u2": ["f", "g"]})
    assert segment_budgets(curated, ["u0", "u1", "u2"], 4) == {"u0": 2, "u1": 2, "u2": 0}
    assert segment_budgets(curated, ["u2", "u1"], 4) == {"u2": 0, "u1": 2}  # pending units keep their place
    assert segment_budgets(curated, ["u0", "u1"], None) == {"u0": -1, "u1": -1}
    assert segment_budgets(curated, ["u0", "u1", "u2"], 0) == {"u0": 0, "u1": 0, "u2": 0}


def test_budgets_count_only_source_languages(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    curated = make_curated(tmp_path, {"u0": ["a", "b", "c"], "u1": ["d", "e"]})
    path = curated / "kept" / "u0.parquet"  # u0: one en segment among zh ones
    table = pq.read_table(path)
    pq.write_table(table.set_column(table.schema.get_field_index("language"), "language",
                                    pa.array(["zh", "en", "zh"])), path)
    assert segment_budgets(curated, ["u0", "u1"], 2, ["en"]) == {"u0": 1, "u1": 1}
    assert segment_budgets(curated, ["u0", "u1"], 2, ["zh"]) == {"u0": 2, "u1": 0}
    assert segment_budgets(curated, ["u0", "u1"], 2) == {"u0": 2, "u1": 0}
