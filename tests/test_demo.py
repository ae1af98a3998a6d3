"""The demo's glue: unified pairs split by source type into sampler sources."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.demo import unified_sources


def test_unified_pairs_become_one_source_per_type(tmp_path):
    conv = [[{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]] * 3
    pq.write_table(pa.table({"id": ["a", "b", "c"], "conversations": conv,
                             "source_type": ["web", "encyclopedia", "web"]}), tmp_path / "release.parquet")
    sources, counts = unified_sources(tmp_path / "release.parquet", tmp_path / "pairs")
    assert counts == {"unified-web": 2, "unified-literature": 0, "unified-encyclopedia": 1, "unified-books": 0}
    assert [(s["name"], s["type"]) for s in sources] == [("unified-web", "web"), ("unified-encyclopedia", "encyclopedia")]
    assert pq.read_table(sources[0]["path"])["id"].to_pylist() == ["a", "c"]
    assert unified_sources(tmp_path / "missing.parquet", tmp_path / "p2") == ([], dict.fromkeys(counts, 0))
