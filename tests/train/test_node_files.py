"""What a training worker does on its own node when the pack and the run directory are in a bucket (a real S3
server, moto on 127.0.0.1): one copy of the pack per node, each rank's files uploaded and taken back, the exported
model mirrored, and the driver's copy brought up to date without uploading it again. The whole of it on a cluster
of three nodes: tests/train/test_two_nodes.py (-m heavy)."""

from __future__ import annotations

import json
import os

from huatuo_ray.io.staging import Staging, local_dir
from huatuo_ray.io.storage import location
from huatuo_ray.train.node_files import RUN_FILES, RemoteRun, RunFiles, node_pack


def test_each_node_copies_the_pack_once_and_again_when_it_changes(s3, tmp_path):
    pack = location(f"{s3}/run/pack")
    for name, text in (("steps-00000.bin", "x" * 1000), ("_pack.json", '{"steps": 3}'), ("stats.json", '{"v": 1}')):
        (pack / name).write_text(text)
    remote = RemoteRun(staging_dir=str(tmp_path / "node-a"), pack=pack.uri)
    copy = node_pack(remote)
    assert copy == str(local_dir(pack, tmp_path / "node-a"))
    assert sorted(os.listdir(copy)) == [".staged.json", "_pack.json", "stats.json", "steps-00000.bin"]
    before = os.stat(os.path.join(copy, "steps-00000.bin")).st_mtime_ns
    assert node_pack(remote) == copy and os.stat(os.path.join(copy, "steps-00000.bin")).st_mtime_ns == before
    (pack / "steps-00000.bin").write_text("y" * 1000)
    (pack / "stats.json").write_text('{"v": 2}')  # the pack was made again
    node_pack(remote)
    assert open(os.path.join(copy, "steps-00000.bin")).read() == "y" * 1000
    assert node_pack(RemoteRun(staging_dir=str(tmp_path / "node-b"), pack=pack.uri)) != copy  # another node's


def test_a_rank_uploads_its_own_files_and_takes_them_back_on_another_node(s3, tmp_path):
    run = location(f"{s3}/run/train/r")
    on_a = RunFiles("unused", 1, RemoteRun(staging_dir=str(tmp_path / "a"), run=run.uri))
    assert on_a.own() == ["train_log/consumed/rank00001.jsonl", "train_log/events/rank00001.jsonl",
                          "train_log/workers/rank00001.json"]  # rank 0 also writes metrics.jsonl
    for rel in on_a.own()[:2]:
        (on_a.dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (on_a.dir / rel).write_text(f'{{"step": 0, "file": "{rel}"}}\n')
    on_a.put()
    assert sorted(str(p.relative_to(run)) for p, _ in run.files()) == on_a.own()[:2]
    on_b = RunFiles("unused", 1, RemoteRun(staging_dir=str(tmp_path / "b"), run=run.uri))
    stale = on_b.dir / on_b.own()[2]
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")  # of an attempt that never uploaded it
    on_b.take()
    assert [(on_b.dir / r).read_text() for r in on_b.own()[:2]] == [(on_a.dir / r).read_text() for r in on_a.own()[:2]]
    assert not stale.exists()
    local = RunFiles(tmp_path / "shared", 0, None)  # the run directory on a disk: nothing moves
    local.take()
    local.put()
    assert local.dir == tmp_path / "shared" and not (tmp_path / "shared").exists()


def test_the_model_is_mirrored_and_the_driver_copy_pulled_without_a_second_upload(s3, tmp_path):
    run = location(f"{s3}/run/train/r")
    worker = RunFiles("unused", 0, RemoteRun(staging_dir=str(tmp_path / "a"), run=run.uri))
    model = worker.dir / "model"
    model.mkdir(parents=True)
    for name in ("config.json", "model-00001.safetensors", "model-00002.safetensors"):
        (model / name).write_text(name * 10)
    worker.put_tree("model")
    (model / "model-00002.safetensors").unlink()  # exported again, in one file
    (model / "model-00001.safetensors").write_text("one" * 50)
    worker.put_tree("model")
    assert sorted(p.name for p, _ in (run / "model").files()) == ["config.json", "model-00001.safetensors"]
    (worker.dir / "train_log" / "metrics.jsonl").parent.mkdir(parents=True)
    (worker.dir / "train_log" / "metrics.jsonl").write_text('{"step": 0, "loss": 2.5}\n')
    worker.put()

    staging = Staging(tmp_path / "driver")
    driver = staging.local(run)
    (driver / "train_log").mkdir(parents=True)
    (driver / "train_log" / "metrics.jsonl").write_text('{"step": 0, "loss": 9.9}\n')  # same size, older
    (driver / "train_log" / "stray.jsonl").write_text("{}\n")
    assert staging.pull_files(run, driver, RUN_FILES, fresh=("train_log",)) == 3
    assert (driver / "train_log" / "metrics.jsonl").read_text() == '{"step": 0, "loss": 2.5}\n'
    assert not (driver / "train_log" / "stray.jsonl").exists()
    assert (driver / "model" / "model-00001.safetensors").read_text() == "one" * 50
    (driver / "train_log" / "loss.png").write_bytes(b"png")  # written by the driver after the pull
    uploaded = []
    staging.push(driver, run, on_upload=uploaded.append)
    assert [str(p.relative_to(run)) for p in uploaded] == ["train_log/loss.png"]
    assert json.loads((run / "train_log" / "metrics.jsonl").read_text()) == {"step": 0, "loss": 2.5}
