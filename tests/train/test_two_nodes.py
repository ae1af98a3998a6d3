"""Training from a bucket on a cluster whose nodes share no disk (three Ray nodes on this machine, each with its
own staging directory; the driver's node runs no worker): each worker downloads the pack on its own node, the ranks
upload their logs and the model, and the driver's copy, the bucket and the summary agree."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from huatuo_ray.io.staging import local_dir
from huatuo_ray.io.storage import location
from huatuo_ray.train.metrics import consumed_sequence, read_events, read_jsonl
from tests.conftest import REPO
from tests.train.test_train_ray import expected_sequence
from tests.train.two_nodes import NODES

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # about 90 s: a three-node cluster, sft -> sample -> pack -> train

STEPS = 2


def test_train_from_a_bucket_on_nodes_without_a_shared_disk(s3, s3_server, tmp_path):
    root, base = f"{s3}/run", tmp_path / "nodes"
    done = subprocess.run([sys.executable, "-m", "tests.train.two_nodes", root, str(base)], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    stats = json.loads(done.stdout.strip().splitlines()[-1])["train"]
    pack, run = location(root) / "pack", location(stats["output"])
    copies = {n: local_dir(pack, base / n) for n in NODES}
    for n in NODES:  # the driver's copy and one per worker node, each a whole pack
        assert json.loads((copies[n] / ".staged.json").read_text())["stats"] == (pack / "stats.json").read_text(), n
        assert sorted(p.name for p in copies[n].iterdir() if not p.name.startswith(".")) == \
            sorted(p.name for p in pack.iterdir()), n
    nodes_of_rank = {r: [n for n in NODES[1:] if (local_dir(run, base / n) / "train_log" / "consumed" /
                                                  f"rank{r:05d}.jsonl").exists()] for r in (0, 1)}
    assert sorted(nodes_of_rank[0] + nodes_of_rank[1]) == ["a", "b"]  # one rank per worker node, none on the head
    driver = local_dir(run, base / "head")
    assert consumed_sequence(driver) == expected_sequence(copies["head"], STEPS)  # both ranks' logs, via the bucket
    for rel in ("train_log/metrics.jsonl", "train_log/consumed/rank00001.jsonl", "train_log/events/rank00001.jsonl",
                "model/config.json", "model/model.safetensors", "model_init/config.json"):
        assert (run / rel).read_bytes() == (driver / rel).read_bytes(), rel
    assert [m["step"] for m in read_jsonl(driver / "train_log" / "metrics.jsonl")] == list(range(STEPS))
    assert {(e["rank"], e["event"]) for e in read_events(driver)} >= {(0, "start"), (1, "start"), (0, "finished")}
    assert stats["steps"] == STEPS and stats["model"] == str(run / "model") and stats["complete"] is True
    assert (run / "train_log" / "loss.png").exists() and json.loads((run / "stats.json").read_text())["complete"]
