"""The chaos run (scripts/chaos_run.py) with 2 trials: one crashes the LLM server, the other a Ray worker, and both
SIGKILL the run; each rerun's outputs equal the uninterrupted run's, every file is whole, no process is left.
Heavy: about 12 minutes on 2 cores (the 20-trial run and its result are in BENCHMARKS.md)."""

from __future__ import annotations

import json

import pytest

from scripts.chaos_run import main

pytestmark = [pytest.mark.slow, pytest.mark.heavy]


def test_chaos_run_two_trials(no_shared_vllm, tmp_path):
    code = main(["--kills", "2", "--segments", "2", "--train-steps", "2", "--seed", "1", "--work", str(tmp_path)])
    result = json.loads((tmp_path / "chaos.json").read_text())
    summary, trials = result["summary"], result["trials"]
    assert [t["identical"] for t in trials] == [True] * 2, [t["differences"] for t in trials]
    assert [t["clean"] for t in trials] == [True] * 2, [(t["left_processes"], t["bad_files"]) for t in trials]
    assert {t["kind"] for t in trials} == {"server", "worker"} and not summary["server_processes_left"]
    assert code == 0
