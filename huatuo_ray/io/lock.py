"""One run per output directory: an exclusive ``flock`` on ``<output>/_lock``, which names its holder.

Two runs writing one step output would delete each other's temporaries and interleave units. The runner takes
this lock before it touches a step's output and keeps it until the step ends; a second run fails at once with
:class:`~huatuo_ray.errors.OutputLocked` naming the holder's host, pid and start time. The kernel releases a
``flock`` when its holder dies (kill -9 included), so a dead run never blocks the next one, and nothing needs
cleaning up. On NFS, ``flock`` maps to POSIX byte-range locks (Linux >= 2.6.12), held across clients.

The lock file is the one file not written through :mod:`huatuo_ray.io.atomic`: a lock must stay on one inode (a
renamed-in replacement would be a second, unlocked file), so its holder line is rewritten in place; a reader that
catches it half-written just cannot name the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from huatuo_ray.errors import OutputLocked

LOCK_FILE = "_lock"


def holder_of(output: Path) -> dict | None:
    """Who holds (or last held) the lock of ``output``, as recorded in its lock file."""
    try:
        data = json.loads((Path(output) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class OutputLock:
    """The exclusive lock of one output directory (created when missing); ``what`` names the run in messages."""

    def __init__(self, output: str | Path, what: str = "huatuo-ray"):
        self.output, self.what = Path(output), what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "OutputLock":
        self._fd = self._lock(self.output)
        return self

    def _lock(self, output: Path) -> int:
        output.mkdir(parents=True, exist_ok=True)
        fd = os.open(output / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLocked(self._busy(output)) from None
        except BaseException:
            os.close(fd)
            raise
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "what": self.what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        return fd

    def _busy(self, output: Path) -> str:
        h = holder_of(output)
        who = (f"host {h.get('host')}, pid {h.get('pid')}, started {h.get('started_at')}" if h
               else "its holder is still starting")
        return (f"{output} is in use by another run ({who}): two runs on one output would delete each other's "
                "files. Wait for it to end or stop it (a run that died holds no lock), or use another run.dir / "
                "--output")

    def move_to(self, output: str | Path) -> None:
        """Hold the lock of ``output`` instead (the directory was renamed away and made anew); the old one goes."""
        fd = self._lock(Path(output))
        self.release()
        self.output, self._fd = Path(output), fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
