import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from huatuo_ray.sample.config import SamplerConfig
from huatuo_ray.sample.priority import plan_sample, run_sample

# name, rows, K, epochs: 3,000 + 2 x 1,500 + 3 x 400 = 7,200 items
SOURCES = [("web", 3000, 5, 1), ("books", 1500, 2, 2), ("sft", 400, 0, 3)]
TOTAL = 7200


def _write_sources(root: Path, kind: str = "int") -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for name, n, k, epochs in SOURCES:
        ids = rng.choice(10**9, size=n, replace=False)
        if kind == "str":
            ids = np.array([f"{name}:doc/{i}" for i in ids])
        folder = root / name
        folder.mkdir(parents=True)
        for j in range(2):  # two files per source, row groups of 250
            part = ids[j::2]
            pq.write_table(pa.table({"id": part, "text": ["t"] * len(part)}), folder / f"f{j}.parquet", row_group_size=250)
        out.append({"name": name, "path": str(folder), "K": k, "epochs": epochs})
    return out


def _cfg(sources: list[dict], **kw) -> SamplerConfig:
    return SamplerConfig(preset=None, seed=kw.pop("seed", 7), sources=sources, **kw)


def _sequence(out: Path) -> list[tuple]:
    t = pq.read_table(out / "order")
    assert t.column("position").to_pylist() == list(range(t.num_rows))  # files in order, rows in order
    return list(zip(t.column("source").to_pylist(), t.column("epoch").to_pylist(), t.column("id").to_pylist()))


@pytest.fixture(scope="module")
def int_sources(tmp_path_factory) -> list[dict]:
    return _write_sources(tmp_path_factory.mktemp("ids"))


@pytest.fixture(scope="module")
def local_order(int_sources, tmp_path_factory) -> tuple[Path, list[tuple]]:
    out = tmp_path_factory.mktemp("local")
    run_sample(plan_sample(_cfg(int_sources, block_rows=1000), "local"), out)
    return out, _sequence(out)


def test_local_output_layout_summary_and_plot(local_order):
    out, seq = local_order
    assert len(seq) == TOTAL and len(set(seq)) == TOTAL  # every (source, epoch, id) exactly once
    summary = json.loads((out / "stats.json").read_text())
    assert summary["beta"] == 2.0 and summary["seed"] == 7 and summary["engine"] == "local"
    assert [(s["name"], s["K"], s["weight"], s["epochs"], s["items"], s["count"]) for s in summary["sources"]] == [
        ("web", 5, 32.0, 1, 3000, 3000), ("books", 2, 4.0, 2, 1500, 3000), ("sft", 0, 1.0, 3, 400, 1200)]
    assert [f["rows"] for f in summary["files"]] == [1000] * 7 + [200]
    assert sorted(p.name for p in (out / "order").iterdir()) == [f"part-{i:05d}.parquet" for i in range(8)]
    counts = np.array(summary["windows"]["counts"])
    assert counts.sum() == TOTAL and counts.shape[1] == 3
    assert (out / "plots" / "source_share.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # priorities show: web (weight 32) dominates the first tenth, sft (weight 1) the last
    names = summary["windows"]["sources"]
    first, last = counts[:20].sum(axis=0), counts[-20:].sum(axis=0)
    assert names[first.argmax()] == "web" and names[last.argmax()] == "sft"


def test_rerun_replaces_the_order_and_seed_changes_it(int_sources, local_order, tmp_path):
    run_sample(plan_sample(_cfg(int_sources, block_rows=5000), "local"), tmp_path)
    assert _sequence(tmp_path) == local_order[1]
    run_sample(plan_sample(_cfg(int_sources, block_rows=5000, seed=8), "local"), tmp_path)
    other = _sequence(tmp_path)
    assert sorted(other) == sorted(local_order[1]) and other != local_order[1]
    assert not list(tmp_path.glob(".tmp-*"))


def test_same_order_with_1_2_4_ray_workers_as_in_one_process(ray_local, int_sources, local_order, tmp_path):
    parts = set()
    for workers, block_rows in ((1, 2_000_000), (2, 700), (4, 300)):
        out = tmp_path / f"w{workers}"
        res = run_sample(plan_sample(_cfg(int_sources, workers=workers, block_rows=block_rows), "ray"), out)
        assert res.summary["engine"] == "ray"
        assert _sequence(out) == local_order[1], f"{workers} workers changed the order"
        parts.add(len(res.summary["files"]))
    assert len(parts) == 3  # the work really was partitioned differently


def test_string_ids_same_order_on_ray_and_locally(ray_local, tmp_path):
    sources = _write_sources(tmp_path / "in", "str")
    run_sample(plan_sample(_cfg(sources), "local"), tmp_path / "local")
    run_sample(plan_sample(_cfg(sources, workers=3, block_rows=500), "ray"), tmp_path / "ray")
    assert _sequence(tmp_path / "ray") == _sequence(tmp_path / "local")


def test_repeated_ids_are_refused(tmp_path):
    pq.write_table(pa.table({"id": [1, 2, 3, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "b.parquet")
    cfg = _cfg([{"name": "a", "path": str(tmp_path / "a.parquet"), "K": 1},
                {"name": "b", "path": str(tmp_path / "b.parquet"), "K": 0}])
    with pytest.raises(ValueError, match=r"ids repeat within a source \(a: 2\)"):
        run_sample(cfg, tmp_path / "out")
    assert not (tmp_path / "out" / "order").exists()


def test_input_errors_name_the_source(tmp_path):
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "ints.parquet")
    pq.write_table(pa.table({"id": ["x"]}), tmp_path / "strs.parquet")
    pq.write_table(pa.table({"doc": [1]}), tmp_path / "noid.parquet")
    pq.write_table(pa.table({"id": pa.array([], pa.int64())}), tmp_path / "empty.parquet")

    def plan(**paths):
        return plan_sample(_cfg([{"name": n, "path": str(p), "K": 0} for n, p in paths.items()]))

    with pytest.raises(ValueError, match="mix integer and string ids"):
        plan(a=tmp_path / "ints.parquet", b=tmp_path / "strs.parquet")
    with pytest.raises(ValueError, match="'a': .*noid.parquet has no 'id' column"):
        plan(a=tmp_path / "noid.parquet")
    with pytest.raises(ValueError, match="'a': .*matches no Parquet file"):
        plan(a=tmp_path / "missing" / "*.parquet")
    with pytest.raises(ValueError, match="every source is empty"):
        plan(a=tmp_path / "empty.parquet")
    with pytest.raises(ValueError, match="the sampler has no sources"):
        plan_sample(SamplerConfig())
    with pytest.raises(ValueError, match="without a path: a"):
        plan_sample(_cfg([{"name": "a", "K": 0}]))
    assert plan(a=tmp_path / "ints.parquet").engine == "local"
    assert plan_sample(_cfg([{"name": "a", "path": str(tmp_path / "ints.parquet"), "K": 0}],
                            local_max_items=1)).engine == "ray"
