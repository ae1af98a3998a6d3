"""A step's output survives interruptions and concurrent runs: --overwrite discards atomically (a kill at any moment
leaves the old output or none), one run holds an output at a time (the other is told who), leftovers of killed
writers are cleared. Real steps (sft, sample) through the real runner; kills are injected at every file-system
call of a discard."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from huatuo_ray.errors import OutputLocked
from huatuo_ray.io.lock import LOCK_FILE, OutputLock
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.trash import clear_trash, discard_output
from huatuo_ray.job import LLM_CACHE
from huatuo_ray.run.registry import step_named
from huatuo_ray.run.rundir import finished
from tests.conftest import REPO, SFT_SOURCES, local_recipe, run_steps


def recipe(root, *overrides):
    return local_recipe(root, "pack.max_seq_len=512", *overrides, sources=SFT_SOURCES)


class Killed(BaseException):
    """A kill -9 at one file-system call (BaseException: no handler of the code under test catches it)."""


def files(root: Path) -> dict[str, bytes]:
    skip = (LLM_CACHE, LOCK_FILE)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).parts[0] not in skip} if root.exists() else {}


def kill_at(monkeypatch, k: int) -> list[int]:
    """Make the k-th call of os.replace / rename / unlink / rmdir / mkdir raise Killed."""
    calls = [0]
    for name in ("replace", "rename", "unlink", "rmdir", "mkdir"):
        real = getattr(os, name)

        def wrapped(*a, _real=real, **kw):
            calls[0] += 1
            if calls[0] == k:
                raise Killed
            return _real(*a, **kw)

        monkeypatch.setattr(os, name, wrapped)
    return calls


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref") / "run"
    run_steps(recipe(root), "sft", "sample")
    cache = root / "sample" / LLM_CACHE / "ab"  # as if the step kept a request cache
    cache.mkdir(parents=True)
    (cache / "abcd.json").write_text("{}")
    return root


def test_an_interrupted_overwrite_leaves_the_old_output_or_none(finished_run, tmp_path, monkeypatch):
    """kill -9 at every file-system call of the discard: each time the old output (whole) or none; the cache is kept;
    the next run clears what is left and redoes the step. (The leftovers test below passed before this work too:
    the sampler already removed its temporaries at start.)"""
    original = files(finished_run / "sample")
    outcomes = set()
    for k in range(1, 400):
        out = tmp_path / f"k{k}" / "sample"
        shutil.copytree(finished_run / "sample", out)
        lock = OutputLock(out).acquire()
        with monkeypatch.context() as m:
            calls = kill_at(m, k)
            try:
                step_named("unify").discard(out, lock)  # --overwrite of a step that keeps its request cache
            except Killed:
                pass
        lock.release()
        left = files(out)
        assert left in (original, {}), f"killed at call {k}: half an output ({len(left)} of {len(original)} files)"
        outcomes.add("old" if left else "none")
        clear_trash(out, (LLM_CACHE,))  # what the next run does first
        assert (out / LLM_CACHE / "ab" / "abcd.json").exists(), f"killed at call {k}: the request cache is lost"
        assert [p.name for p in out.parent.iterdir()] == ["sample"]
        if calls[0] < k:  # the discard finished before the k-th call: every point has been tried
            break
    assert outcomes == {"old", "none"} and k > 5
    # a run on what an interrupted discard left redoes the step
    root = tmp_path / "rerun"
    shutil.copytree(finished_run, root)
    with monkeypatch.context() as m:
        kill_at(m, 2)
        with pytest.raises(Killed):
            discard_output(root / "sample", (LLM_CACHE,))
    run_steps(recipe(root), "sample")
    assert files(root / "sample").keys() == original.keys() and finished(root / "sample")


def test_clearing_units_never_leaves_a_marker_without_its_files(tmp_path, monkeypatch):
    for k in range(1, 40):
        out = OutputDir(tmp_path / f"k{k}")
        out.open(["u1", "u2", "u3"])
        for u in ("u1", "u2", "u3"):
            out.write_rows(u, {"kept": [{"id": u}], "dropped": [{"id": u + "d"}]})
            out.write_marker(u, {"unit_id": u})
        with monkeypatch.context() as m:
            calls = kill_at(m, k)
            try:
                out.clear()
            except Killed:
                pass
        for u in ("u1", "u2", "u3"):
            if out.is_done(u):
                assert out.path("kept", u).exists() and out.path("dropped", u).exists(), (k, u)
        out.open(["u1"])  # a rerun: the half-removed markers of the interrupted clear go
        assert not [p for p in out.root.iterdir() if p.name.startswith(".")]
        if calls[0] < k:
            break


def hold_lock(path: Path) -> subprocess.Popen:
    code = ("import sys, time\nfrom huatuo_ray.io.lock import OutputLock\n"
            "OutputLock(sys.argv[1], 'a test run').acquire()\nprint('held', flush=True)\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_two_runs_on_one_output_the_second_is_told_who_holds_it(tmp_path):
    root = tmp_path / "run"
    other = hold_lock(root / "sft")
    try:
        with pytest.raises(OutputLocked, match=rf"{root / 'sft'} is in use by another run \(host "
                                               rf"{socket.gethostname()}, pid {other.pid}, started "):
            run_steps(recipe(root), "sft")
        assert not (root / "sft" / "_run.json").exists()  # the refused run touched nothing
    finally:
        other.send_signal(signal.SIGKILL)  # the holder dies: the kernel releases its lock
        other.wait()
    run_steps(recipe(root), "sft")
    assert finished(root / "sft")


def test_leftovers_of_a_killed_sampler_are_removed(finished_run, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(finished_run, root)
    sample = root / "sample"
    (sample / "stats.json").unlink()  # killed while writing its order: not finished
    left = sample / ".tmp-order-0123456789abcdef0123456789abcdef"
    left.mkdir()
    (left / "part-00000.parquet").write_bytes(b"half a file")
    (sample / ".tmp-stats.json-0123").write_text("{")
    run_steps(recipe(root), "sample")
    assert finished(sample) and not [p.name for p in sample.iterdir() if p.name.startswith(".tmp-")]
