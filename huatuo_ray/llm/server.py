"""A local vLLM OpenAI-compatible server process: start, wait for health, stop with its children; never left behind.

vLLM's API server forks an engine process and workers; SIGKILL of the parent leaves them running (~3 GB).
The server therefore runs in its own process group (session), and :meth:`LocalServer.stop` signals the
whole group: SIGTERM, then SIGKILL after a grace period, until no process of the group is left.

Every way a run can end stops it:

- normal end, an exception, Ctrl-C (SIGINT), SIGTERM (``ray job stop``), during start-up or while serving:
  :func:`~huatuo_ray.llm.backends.open_backend` starts the server inside ``try``/``finally`` and, while it runs,
  turns SIGTERM into ``SystemExit`` (Python's default would end the process without any ``finally``);
  :meth:`LocalServer.stop` itself is shielded from a second signal;
- the driver SIGKILLed (nothing runs in it any more): the server's pid, process group, host, port and start time
  are recorded in ``<step output>/_llm_server.json`` as soon as it is spawned; the next run of the step finds
  the record and stops that group (:func:`reap_recorded`) before it starts its own server.

A fixed ``llm.server.port`` where something already listens is refused: the run would otherwise send its requests
to a foreign server; after start-up the listening socket must belong to the server's own process group.

Example::

    with LocalServer(ServerConfig()) as server:
        print(server.base_url)   # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from huatuo_ray.errors import ServerError
from huatuo_ray.io.atomic import write_json_atomic
from huatuo_ray.llm.config import ServerConfig

log = logging.getLogger(__name__)

SERVER_RECORD = "_llm_server.json"  # in the step's output: the server a run started (found again after a kill)


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

    def __init__(self, cfg: ServerConfig, log_path: str | Path | None = None, record: str | Path | None = None):
        self.cfg = cfg
        self.port = cfg.port or free_port(cfg.host)
        self.log_path = Path(log_path) if log_path else Path(f"/tmp/huatuo-vllm-{self.port}.log")
        self.record = Path(record) if record else None  # where the pid file goes (None: not recorded)
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
        """Start the server in its own process group and record it; with ``wait``, block until /health answers.

        Anything that interrupts the wait (an error, a timeout, Ctrl-C, SIGTERM turned into SystemExit) stops the
        server before it propagates.
        """
        if self.proc and self.proc.poll() is None:
            return self
        if self.cfg.port and port_in_use(self.cfg.host, self.cfg.port):
            raise ServerError(
                f"llm.server.port = {self.cfg.port}: something already listens on {self.cfg.host}:{self.cfg.port} "
                "and this run did not start it. Refusing to send the run's requests to an unknown server: stop it, "
                "set llm.server.port=0 (a free port), or use it with llm.backend=endpoint")
        command = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.cfg.env}
        log.info("starting vLLM server on %s (log %s)", self.base_url, self.log_path)
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(command, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        try:
            self._write_record()
            if wait:
                self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _write_record(self) -> None:
        if self.record is None or self.proc is None:
            return
        write_json_atomic(self.record, {"pid": self.proc.pid, "pgid": self.proc.pid, "host": socket.gethostname(),
                                        "port": self.port, "started": process_start(self.proc.pid),
                                        "log": str(self.log_path), "driver_pid": os.getpid()})

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.cfg.host}:{self.port}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def wait_healthy(self) -> None:
        t0 = time.time()
        while True:
            if self.proc is None or self.proc.poll() is not None:  # before trusting an answer on the port
                raise ServerError(f"vLLM server exited with {self.proc and self.proc.returncode}:\n{self.log_tail()}")
            if self.healthy():
                break
            if time.time() - t0 > self.cfg.startup_timeout_s:
                raise ServerError(f"vLLM server not healthy after {self.cfg.startup_timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)
        if not group_listens(self.port, self.group_pids()):
            raise ServerError(f"{self.cfg.host}:{self.port} answers, but not from the server this run started (a "
                              "foreign server took the port)")
        log.info("vLLM server ready on %s after %.1f s", self.base_url, time.time() - t0)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def group_pids(self) -> list[int]:
        """Live processes of the server's process group (the server, its engine and workers)."""
        return group_pids(self.proc.pid) if self.proc is not None else []

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
        """SIGTERM the group, SIGKILL it after ``grace_s``; returns when no process of the group is left (and
        removes the record). A Ctrl-C or SIGTERM arriving meanwhile waits until the group is gone."""
        if self.proc is None:
            return
        with _shielded():
            stop_group(self.proc.pid, grace_s, self.proc)
            if self.record is not None:
                self.record.unlink(missing_ok=True)
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


def process_start(pid: int) -> int | None:
    """A process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid, it names the process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pgid and _alive(int(d.name)):
                    out.append(int(d.name))
            except (ProcessLookupError, PermissionError):
                pass
    return out


def stop_group(pgid: int, grace_s: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """SIGTERM a process group, SIGKILL it after ``grace_s``; returns when none of its processes is left."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.time() + grace_s
    while time.time() < deadline and group_pids(pgid):
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
        else:
            time.sleep(0.2)
    if group_pids(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc is not None:
        proc.wait()
    _wait_gone(lambda: group_pids(pgid), 30)


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _listen_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f[9])
    return inodes


def group_listens(port: int, pids: list[int]) -> bool:
    """Whether the socket listening on ``port`` belongs to one of ``pids`` (True where /proc cannot tell)."""
    inodes = _listen_inodes(port)
    if not inodes:
        return True  # no /proc/net here (not Linux): nothing to check against
    for pid in pids:
        try:
            for fd in os.scandir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(fd.path) in {f"socket:[{i}]" for i in inodes}:
                        return True
                except OSError:
                    pass
        except OSError:
            pass
    return False


def reap_recorded(record: str | Path, grace_s: float = 20.0) -> list[int]:
    """Stop the server a killed run left behind, as recorded in ``record``; returns the pids that were running.

    The group is the recorded one only if its leader is gone or is the very process recorded (same start time):
    a process group id is not reused while any member lives, so the members of a group whose leader died are the
    server's orphans. A record from another host is left alone (with a warning): only that host can stop it.
    """
    record = Path(record)
    try:
        rec = json.loads(record.read_text(encoding="utf-8"))
        pgid, host = int(rec["pgid"]), rec.get("host")
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if host != socket.gethostname():
        log.warning("%s records a vLLM server on host %s (pid %s); it cannot be stopped from %s", record, host,
                    pgid, socket.gethostname())
        return []
    left = group_pids(pgid)
    leader_start = process_start(pgid)
    if left and (leader_start is None or leader_start == rec.get("started")):
        log.warning("stopping the vLLM server a previous run left behind (process group %d: %d processes)", pgid,
                    len(left))
        stop_group(pgid, grace_s)
    else:
        left = []
    record.unlink(missing_ok=True)
    return left


@contextmanager
def _shielded() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs (stopping a server); re-raise what arrived, after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    saved = {sig: signal.signal(sig, lambda n, _f: got.append(n)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        if got:
            _raise_for(got[0])


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


@contextmanager
def terminate_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``SystemExit(143)`` (unwinding ``finally`` blocks) instead of ending
    the process at once, unless the program installed its own SIGTERM handler. Main thread only."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda n, _f: _raise_for(n))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_gone(pids_fn, timeout_s: float) -> None:
    t0 = time.time()
    while pids_fn() and time.time() - t0 < timeout_s:
        time.sleep(0.2)
    left = pids_fn()
    if left:
        raise ServerError(f"server processes still running after stop: {left}")
