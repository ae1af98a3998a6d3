"""A local vLLM OpenAI-compatible server process: start, wait for health, stop with its children.

vLLM's API server forks an engine process and workers; SIGKILL of the parent leaves them running.
The server therefore runs in its own process group (session), and :meth:`LocalServer.stop` signals the
whole group: SIGTERM, then SIGKILL after a grace period.

Example::

    with LocalServer(ServerConfig()) as server:
        print(server.base_url)   # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from huatuo_ray.errors import ServerError
from huatuo_ray.llm.config import ServerConfig

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def resolve_model(cfg: ServerConfig) -> str:
    """The model path or id the server loads (the offline SmolLM2 when none is configured)."""
    if cfg.model:
        return cfg.model
    from huatuo_ray.llm.local_model import ensure_local_model

    return str(ensure_local_model())


class LocalServer:
    """One vLLM server process group on ``host:port``."""

    def __init__(self, cfg: ServerConfig, log_path: str | Path | None = None):
        self.cfg = cfg
        self.port = cfg.port or free_port(cfg.host)
        self.log_path = Path(log_path) if log_path else Path(f"/tmp/huatuo-vllm-{self.port}.log")
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.cfg.host}:{self.port}/v1"

    @property
    def model_name(self) -> str:
        return self.cfg.served_model_name

    def command(self) -> list[str]:
        c = self.cfg
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", resolve_model(c),
               "--served-model-name", c.served_model_name, "--host", c.host, "--port", str(self.port),
               "--dtype", c.dtype, "--max-model-len", str(c.max_model_len), "--disable-uvicorn-access-log"]
        if c.enforce_eager:
            cmd.append("--enforce-eager")
        if c.max_num_batched_tokens:
            cmd += ["--max-num-batched-tokens", str(max(c.max_num_batched_tokens, c.max_model_len))]
        return cmd + list(c.extra_args)

    def start(self, wait: bool = True) -> LocalServer:
        """Start the server in its own process group; with ``wait``, block until /health answers."""
        if self.proc and self.proc.poll() is None:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")
        env = {**os.environ, **self.cfg.env}
        log.info("starting vLLM server on %s (log %s)", self.base_url, self.log_path)
        self.proc = subprocess.Popen(self.command(), stdout=logf, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        logf.close()
        if wait:
            self.wait_healthy()
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.cfg.host}:{self.port}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def wait_healthy(self) -> None:
        t0 = time.time()
        while not self.healthy():
            if self.proc is None or self.proc.poll() is not None:
                raise ServerError(f"vLLM server exited with {self.proc and self.proc.returncode}:\n{self.log_tail()}")
            if time.time() - t0 > self.cfg.startup_timeout_s:
                self.stop()
                raise ServerError(f"vLLM server not healthy after {self.cfg.startup_timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)
        log.info("vLLM server ready on %s after %.1f s", self.base_url, time.time() - t0)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def group_pids(self) -> list[int]:
        """Live processes of the server's process group (the server, its engine and workers)."""
        if self.proc is None:
            return []
        pgid = self.proc.pid
        out = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if os.getpgid(int(d.name)) == pgid and _alive(int(d.name)):
                        out.append(int(d.name))
                except (ProcessLookupError, PermissionError):
                    pass
        return out

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash, as tests simulate it)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        _wait_gone(self.group_pids, 30)

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the group, SIGKILL it after ``grace_s``; returns when no process of the group is left."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        if self.group_pids():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        _wait_gone(self.group_pids, 30)
        log.info("vLLM server on port %d stopped", self.port)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids_fn, timeout_s: float) -> None:
    t0 = time.time()
    while pids_fn() and time.time() - t0 < timeout_s:
        time.sleep(0.2)
    left = pids_fn()
    if left:
        raise ServerError(f"server processes still running after stop: {left}")
