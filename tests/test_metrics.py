"""The run's metrics on Ray's Prometheus endpoint, scraped from a live local run; the Grafana dashboard's model."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from huatuo_ray import metrics
from huatuo_ray.unify.config import LANGUAGE_REASON
from tests.conftest import REPO, local_recipe

pytestmark = pytest.mark.slow

# the real runner in a process of its own (its local Ray exports the metrics), scraped every half second as Prometheus
# would (Ray exports a gauge for a while after it was last set); it waits after the run so the last step is scraped too
SCRIPT = """
import pathlib, sys, time
from huatuo_ray.recipe import load_recipe
from huatuo_ray.run.runner import Runner
Runner(load_recipe(sys.argv[1]), echo=lambda m: None).run(["sft", "curate", "unify", "sample", "pack"])
pathlib.Path(sys.argv[2]).write_text("done")
time.sleep(300)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def series(text: str, name: str) -> dict[tuple, float]:
    """{(sorted label items without Ray's own): value} of one metric."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            keep = {k: v for k, v in labels.items() if k in ("step", "outcome", "state", "reason", "kind")}
            out[tuple(sorted(keep.items()))] = float(m.group(2))
    return out


def test_a_live_run_exports_its_metrics(tmp_path):
    port = free_port()
    recipe = local_recipe(tmp_path / "run", "curate.stages=[density,segment]", "unify.max_segments=0",
                          "llm.backend=endpoint", "llm.endpoint.base_url=http://127.0.0.1:9/v1", "llm.endpoint.model=x",
                          f"ray.metrics_export_port={port}", sources=("web-zh", "sft-medical"))
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe.model_dump(mode="json"), allow_unicode=True))
    flag = tmp_path / "done"
    env = {**os.environ, "RAY_metrics_report_interval_ms": "500"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "r.yaml"), str(flag)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "run.log", "w"), start_new_session=True)
    seen: dict[str, dict[tuple, float]] = {}  # what Prometheus would have stored: every series scraped, last value
    names = ("ray_huatuo_step_items", "ray_huatuo_units", "ray_huatuo_step_dropped", "ray_huatuo_packed_tokens",
             "ray_huatuo_sampler_items")

    def scrape() -> None:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        except OSError:
            return  # the endpoint is not up yet
        for name in names:
            seen.setdefault(name, {}).update(series(text, name))

    try:
        deadline = time.time() + 300
        while not flag.exists():
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.time() < deadline
            scrape()
            time.sleep(0.5)
        for _ in range(10):  # the last step's figures: exported within a few report intervals
            scrape()
            time.sleep(0.5)
        stats = {s: json.loads((tmp_path / "run" / s / "stats.json").read_text()) for s in ("sft", "curate", "pack")}
        want = {(("outcome", o), ("step", s)): stats[s]["counts"][o] for s in stats for o in ("in", "kept", "dropped")}
        items = seen["ray_huatuo_step_items"]
        assert {k: items.get(k) for k in want} == want
        units = seen["ray_huatuo_units"]
        n = len(json.loads((tmp_path / "run" / "curate" / "_run.json").read_text())["units"])
        assert units[(("state", "done"), ("step", "curate"))] == n and units[(("state", "pending"), ("step", "curate"))] == 0
        assert any(dict(k)["step"] == "unify" and LANGUAGE_REASON in dict(k)["reason"]
                   for k in seen["ray_huatuo_step_dropped"])
        assert seen["ray_huatuo_packed_tokens"][()] == stats["pack"]["tokens"]
        assert seen["ray_huatuo_sampler_items"][()] == stats["pack"]["samples"]["total"]
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def test_the_grafana_dashboard_shows_every_metric():
    dash = json.loads((REPO / "cluster" / "grafana" / "huatuo-ray.json").read_text())
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert all(p["datasource"]["type"] == "prometheus" and {"x", "y", "w", "h"} <= set(p["gridPos"])
               for p in dash["panels"])
    names = set(metrics._GAUGES) | set(metrics._COUNTERS)
    shown = {n for n in names if any(f"ray_{n}" in e for e in exprs)}
    assert shown == names, names - shown
    assert all(n in metrics._GAUGES or f"ray_{n}_total" in " ".join(exprs) for n in names)  # counters: rate of _total
