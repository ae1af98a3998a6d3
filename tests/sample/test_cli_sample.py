import json

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from typer.testing import CliRunner

from huatuo_ray.cli import app

runner = CliRunner()


def _recipe(tmp_path, **sample) -> str:
    for name, n in (("web", 50), ("sft", 10)):
        pq.write_table(pa.table({"id": list(range(n))}), tmp_path / f"{name}.parquet")
    sources = [{"name": "web", "type": "web", "path": str(tmp_path / "web.parquet")},
               {"name": "sft", "type": "sft", "path": str(tmp_path / "sft.parquet")}]
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"sample": {"preset": "release", "sources": sources, **sample}}))
    return str(p)


def test_sample_command_local(tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["sample", "--config", _recipe(tmp_path), "--output", str(out), "--set", "sample.seed=3"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "stats.json").read_text())
    assert s["complete"] and s["engine"] == "local" and s["total"] == s["counts"]["in"] == 80
    assert s["seed"] == 3 and s["preset"] == "release" and [x["count"] for x in s["sources"]] == [50, 30]
    assert (out / "plots" / "source_share.png").exists()


def test_sample_command_on_ray_gives_the_same_order(ray_local, tmp_path):
    cfg = _recipe(tmp_path)
    assert runner.invoke(app, ["sample", "-c", cfg, "-o", str(tmp_path / "a")]).exit_code == 0
    res = runner.invoke(app, ["sample", "-c", cfg, "-o", str(tmp_path / "b"), "--workers", "2",
                              "--set", "sample.local_max_items=0"])
    assert res.exit_code == 0 and json.loads((tmp_path / "b" / "stats.json").read_text())["engine"] == "ray", res.output
    assert pq.read_table(tmp_path / "a" / "order").equals(pq.read_table(tmp_path / "b" / "order"))


def test_sample_command_errors(tmp_path):
    res = runner.invoke(app, ["sample", "--output", str(tmp_path / "o")])
    assert res.exit_code == 2 and "the sampler has no sources" in res.output
    res = runner.invoke(app, ["sample", "-c", _recipe(tmp_path), "-o", str(tmp_path / "o"), "--set", "sample.beta=-1"])
    assert res.exit_code == 2 and "sample.beta = -1" in res.output
