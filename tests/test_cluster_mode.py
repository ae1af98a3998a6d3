"""The same entrypoints against a running Ray cluster: `ray job submit` and RAY_ADDRESS."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A separate local Ray head (as `ray start --head` on a real head node), stopped with its process group."""
    port, dash = free_port(), free_port()
    # fixed default ports (agent 52365, client server 10001, ...) may be held by the tests' other local Ray
    extra = [f"--{flag}={free_port()}" for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                    "runtime-env-agent-port", "metrics-export-port",
                                                    "ray-client-server-port")]
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path_factory.mktemp("head") / "head.log", "w")
    head = subprocess.Popen([str(BIN / "ray"), "start", "--head", "--block", f"--port={port}", f"--dashboard-port={dash}",
                             "--num-cpus=2", "--disable-usage-stats", *extra], env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.time() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", dash), timeout=1).close()
            break
        except OSError:
            assert head.poll() is None and time.time() < deadline, "ray head did not start"
            time.sleep(0.5)
    time.sleep(2)
    yield {"gcs": f"127.0.0.1:{port}", "dashboard": f"http://127.0.0.1:{dash}", "env": env}
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)


@pytest.mark.heavy  # ~90 s; tests/unify/test_job.py submits a job to a separate head by default
def test_ray_job_submit_runs_the_curation_job(cluster, tmp_path):
    out = tmp_path / "out"
    cmd = [str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"], "--working-dir", str(REPO), "--",
           "python", "jobs/curate.py", "--config", "configs/local.yaml", "--output", str(out)]
    for _ in range(20):  # the head's job agent registers a few seconds after the dashboard answers
        proc = subprocess.run(cmd, env=cluster["env"], capture_output=True, text=True, timeout=600)
        if "No available agent" not in proc.stderr:
            break
        time.sleep(3)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["ledger"]["kept_rows"] > 0 and stats["balanced"]


def test_cli_connects_to_ray_address(cluster, tmp_path):
    out = tmp_path / "out"
    env = {**cluster["env"], "RAY_ADDRESS": cluster["gcs"]}
    cmd = [str(BIN / "huatuo-ray"), "curate", "--input", str(REPO / "examples/demo_corpus/encyclopedia"),
           "--output", str(out), "--language", "en", "--set", "curate.stages=[density,segment]"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"connected to Ray cluster at {cluster['gcs']}" in proc.stderr
    assert json.loads((out / "stats.json").read_text())["ledger"]["records"] == 120


def test_cluster_manifests_match_the_package():
    pin = next(d for d in __import__("tomllib").loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
               if d.startswith("ray["))
    version = pin.split("==")[1]
    rc = yaml.safe_load((REPO / "cluster/kuberay/raycluster.yaml").read_text())
    assert rc["spec"]["rayVersion"] == version and rc["spec"]["enableInTreeAutoscaling"]
    groups = {g["groupName"]: g for g in rc["spec"]["workerGroupSpecs"]}
    assert groups["cpu"]["minReplicas"] == 0 < groups["cpu"]["maxReplicas"]
    assert "nvidia.com/gpu" in groups["gpu-a100"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    launcher = yaml.safe_load((REPO / "cluster/ray-cluster-aws.yaml").read_text())
    assert launcher["docker"]["image"].startswith(f"rayproject/ray:{version}")
    assert f"rayproject/ray:{version}" in (REPO / "cluster/Dockerfile").read_text()
    for name, entry in (("rayjob-curate.yaml", "jobs/curate.py"), ("rayjob-run.yaml", "jobs/run.py")):
        job = yaml.safe_load((REPO / "cluster/kuberay" / name).read_text())
        assert entry in job["spec"]["entrypoint"] and job["spec"]["clusterSelector"]["ray.io/cluster"] == \
            rc["metadata"]["name"]
        assert (REPO / job["spec"]["entrypoint"].split()[1]).exists() and (REPO / job["spec"]["entrypoint"].split()[3]).exists()
