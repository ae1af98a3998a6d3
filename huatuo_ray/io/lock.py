"""One run per output directory: an exclusive ``flock`` on ``<output>/_lock``, which names its holder.

Two runs writing one step output would delete each other's temporaries and interleave units. The runner takes
this lock before it touches a step's output and keeps it until the step ends; a second run fails at once with
:class:`~huatuo_ray.errors.OutputLocked` naming the holder's host, pid and start time. The kernel releases a
``flock`` when its holder dies (kill -9 included), so a dead run never blocks the next one, and nothing needs
cleaning up. On NFS, ``flock`` maps to POSIX byte-range locks (Linux >= 2.6.12), held across clients.

The lock file is the one file not written through :mod:`huatuo_ray.io.atomic`: a lock must stay on one inode (a
renamed-in replacement would be a second, unlocked file), so its holder line is rewritten in place; a reader that
catches it half-written just cannot name the holder.

An object store has no locks, so an output there is guarded by a lease (:class:`ObjectLease`): the ``_lock``
object names its holder and the time it was last renewed; the holder renews it every :data:`RENEW_S` seconds
and deletes it at the end. A run refuses an output whose lease is fresh (renewed within :data:`LEASE_S`) and
held by another live run; a lease of a dead run (on this host: its pid is gone; elsewhere: not renewed for
:data:`LEASE_S`) is taken over. Writing the lease, waiting :data:`SETTLE_S` and reading it back settles two runs
that start together (the store keeps the last write, the other run sees it is not the holder and stops). This is
a best-effort guard, not mutual exclusion: it relies on clocks agreeing to within the lease, and a run paused for
longer than the lease (e.g. a suspended VM) can lose its lease without noticing before its next renewal.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from huatuo_ray.errors import OutputLocked
from huatuo_ray.io.storage import ObjectPath, location

log = logging.getLogger(__name__)

LOCK_FILE = "_lock"
LEASE_S = 60.0  # an object-store lease not renewed for this long belongs to a dead run
RENEW_S = 15.0
SETTLE_S = 1.0


def holder_of(output: "Path | ObjectPath") -> dict | None:
    """Who holds (or last held) the lock of ``output``, as recorded in its lock file."""
    try:
        data = json.loads((location(output) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _busy_message(output, h: dict | None) -> str:
    who = (f"host {h.get('host')}, pid {h.get('pid')}, started {h.get('started_at')}" if h
           else "its holder is still starting")
    return (f"{output} is in use by another run ({who}): two runs on one output would delete each other's "
            "files. Wait for it to end or stop it (a run that died holds no lock), or use another run.dir / "
            "--output")


def _alive_here(holder: dict) -> bool:
    """Whether a holder on this host is a live process (elsewhere: assumed alive while its lease is fresh)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder.get("pid", -1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError):
        return True
    return True


class ObjectLease:
    """The lease on an output in an object store (see the module docstring for what it guarantees)."""

    def __init__(self, output: ObjectPath, what: str):
        self.output, self.what, self.token = output, what, uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._me = {"host": socket.gethostname(), "pid": os.getpid(),
                    "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "what": what, "token": self.token}

    def _write(self) -> None:
        (self.output / LOCK_FILE).write_text(json.dumps({**self._me, "renewed_at": time.time()}) + "\n")

    def acquire(self) -> "ObjectLease":
        h = holder_of(self.output)
        if h and h.get("token") != self.token and time.time() - float(h.get("renewed_at", 0)) < LEASE_S \
                and _alive_here(h):
            raise OutputLocked(_busy_message(self.output, h))
        self._write()
        time.sleep(SETTLE_S)
        h = holder_of(self.output)
        if not h or h.get("token") != self.token:
            raise OutputLocked(_busy_message(self.output, h))
        self._thread = threading.Thread(target=self._renew, name="huatuo-lease", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_S):
            try:
                h = holder_of(self.output)
                if h and h.get("token") != self.token:
                    log.error("%s: the lease was taken over by %s (pid %s): another run writes this output",
                              self.output, h.get("host"), h.get("pid"))
                    return
                self._write()
            except OSError as e:  # renewed next time; the lease lasts LEASE_S
                log.warning("%s: could not renew the lease: %s", self.output, e)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        h = holder_of(self.output)
        if h and h.get("token") == self.token:
            (self.output / LOCK_FILE).unlink(missing_ok=True)


class OutputLock:
    """The exclusive lock of one output directory (created when missing); ``what`` names the run in messages."""

    def __init__(self, output: "str | Path | ObjectPath", what: str = "huatuo-ray"):
        self.output, self.what = location(output), what
        self._fd: int | None = None
        self._lease: ObjectLease | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._lease is not None

    def acquire(self) -> "OutputLock":
        if isinstance(self.output, ObjectPath):
            self._lease = ObjectLease(self.output, self.what).acquire()
        else:
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
        return _busy_message(output, holder_of(output))

    def move_to(self, output: str | Path) -> None:
        """Hold the lock of ``output`` instead (the directory was renamed away and made anew); the old one goes.
        (In an object store an output is discarded in place: the lease stays.)"""
        if self._lease is not None:
            return
        fd = self._lock(Path(output))
        self.release()
        self.output, self._fd = Path(output), fd

    def release(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None
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
