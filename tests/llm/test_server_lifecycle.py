"""The local vLLM server never outlives its run: however the run ends, /proc shows no process of its group after.

Fast tests (no vLLM): a foreign server on a fixed port is refused; the record a SIGKILLed driver leaves lets the
next run stop the orphaned group, and only that group. Heavy tests start the real server (offline SmolLM2) from a
real driver: an exception, Ctrl-C and SIGTERM during start-up, SIGTERM while serving, and `huatuo-ray unify`
SIGKILLed while serving, then run again.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from huatuo_ray.errors import ServerError
from huatuo_ray.llm.config import ServerConfig
from huatuo_ray.llm.server import (
    SERVER_RECORD,
    LocalServer,
    group_listens,
    group_pids,
    process_start,
    reap_recorded,
)
from tests.conftest import REPO
from tests.unify.helpers import make_curated, medquad_texts


def wait_for(cond, timeout_s: float, what: str):
    deadline = time.time() + timeout_s
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_foreign_server_on_a_fixed_port_is_refused(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        server = LocalServer(ServerConfig(port=port), tmp_path / "log", tmp_path / SERVER_RECORD)
        with pytest.raises(ServerError, match=rf"llm.server.port = {port}: something already listens on "
                                              rf"127.0.0.1:{port} and this run did not start it"):
            server.start()
        assert server.proc is None and not (tmp_path / SERVER_RECORD).exists()
        assert group_listens(port, [os.getpid()]) and not group_listens(port, [os.getppid()])


ORPHANS = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # an 'engine' child in the group
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("up", flush=True)
time.sleep(600)
"""


def spawn_group() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", ORPHANS], start_new_session=True, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    wait_for(lambda: len(group_pids(proc.pid)) == 3, 10, "the group")
    return proc


def test_the_next_run_stops_what_a_killed_run_left(tmp_path):
    proc = spawn_group()
    record = tmp_path / SERVER_RECORD
    record.write_text(json.dumps({"pid": proc.pid, "pgid": proc.pid, "host": socket.gethostname(), "port": 1,
                                  "started": process_start(proc.pid)}))
    os.kill(proc.pid, signal.SIGKILL)  # the server's main process dies: its children stay, as vLLM's do
    proc.wait()
    assert len(group_pids(proc.pid)) == 2
    assert len(reap_recorded(record, grace_s=5)) == 2
    assert group_pids(proc.pid) == [] and not record.exists()


def test_a_record_of_another_process_kills_nothing(tmp_path):
    proc = spawn_group()
    try:
        record = tmp_path / SERVER_RECORD
        record.write_text(json.dumps({"pid": proc.pid, "pgid": proc.pid, "host": socket.gethostname(), "port": 1,
                                      "started": process_start(proc.pid) - 1}))  # the pid was reused
        assert reap_recorded(record) == [] and len(group_pids(proc.pid)) == 3
        record.write_text(json.dumps({"pid": proc.pid, "pgid": proc.pid, "host": "elsewhere", "port": 1}))
        assert reap_recorded(record) == [] and len(group_pids(proc.pid)) == 3
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- the real server -------------------------------------------------------------------------------------------

DRIVER = """
import sys, time
from huatuo_ray.llm.backends import open_backend
from huatuo_ray.recipe import load_recipe

mode, out = sys.argv[1], sys.argv[2]
cfg = load_recipe(None, ["llm.backend=local"]).llm
with open_backend(cfg, out) as endpoint:
    print("serving", endpoint.base_url, flush=True)
    if mode == "raise":
        raise RuntimeError("the step failed")
    time.sleep(600)
"""


def record_of(out: Path) -> dict | None:
    try:
        return json.loads((out / SERVER_RECORD).read_text())
    except (OSError, ValueError):
        return None


def healthy(rec: dict) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{rec['port']}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.heavy
@pytest.mark.parametrize("mode,signum,when,code", [
    ("raise", None, "serving", 1),
    ("wait", signal.SIGINT, "starting", -signal.SIGINT),  # Python ends on an uncaught Ctrl-C by the signal
    ("wait", signal.SIGTERM, "starting", 143),
    ("wait", signal.SIGTERM, "serving", 143),
])
def test_no_server_is_left_however_the_run_ends(no_shared_vllm, tmp_path, mode, signum, when, code):
    out = tmp_path / "unify"
    out.mkdir()
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, mode, str(out)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: record_of(out) is not None, 120, "the server record")
    pgid = record_of(out)["pgid"]
    assert group_pids(pgid)
    if when == "serving" or mode == "raise":
        assert driver.stdout.readline().startswith("serving")
    else:
        time.sleep(1.0)  # inside the start-up wait, before the model is loaded
        assert not healthy(record_of(out))
    if signum is not None:
        driver.send_signal(signum)
    assert driver.wait(timeout=120) == code, driver.stderr.read()[-2000:]
    assert group_pids(pgid) == [], "a vLLM process outlived its run"
    assert not (out / SERVER_RECORD).exists()


def unify_cmd(curated: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "huatuo_ray.cli", "unify", "--config", str(REPO / "configs/local.yaml"),
            "--input", str(curated), "--output", str(out), "--set", "unify.max_segments=1",
            "--set", "unify.max_regenerations=0", "--set", "unify.answer_sampling.max_tokens=48",
            "--set", "unify.question_sampling.max_tokens=32"]


@pytest.mark.heavy
def test_a_sigkilled_driver_s_server_is_stopped_by_the_next_run(no_shared_vllm, tmp_path):
    curated = make_curated(tmp_path / "curated", {"u0": medquad_texts(1)})
    out = tmp_path / "unify"
    first = subprocess.Popen(unify_cmd(curated, out), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    wait_for(lambda: (rec := record_of(out)) is not None and healthy(rec), 300, "the first run's server")
    pgid = record_of(out)["pgid"]
    os.killpg(first.pid, signal.SIGKILL)  # the driver and its local Ray; the server lives in its own session
    first.wait()
    assert group_pids(pgid), "the scenario needs the orphaned server"
    again = subprocess.run(unify_cmd(curated, out), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "stopping the vLLM server a previous run left behind" in again.stderr
    assert group_pids(pgid) == [] and not (out / SERVER_RECORD).exists()
    assert (out / "stats.json").exists()
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _vllm_under(p, out)]
    assert not left, f"vLLM processes of the run are still alive: {left}"


def _vllm_under(proc: Path, out: Path) -> bool:
    """A live vLLM process whose log goes to this run's output."""
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        logs = {os.readlink(proc / "fd" / "1"), os.readlink(proc / "fd" / "2")}
    except OSError:
        return False
    return "vllm" in cmd and any(str(out) in x for x in logs)
