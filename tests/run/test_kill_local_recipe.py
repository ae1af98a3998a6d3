"""kill -9 of `huatuo-ray run --config configs/local.yaml` during unification and during packing, then the same
command again: every step's output equals an uninterrupted run's (heavy: about 10 minutes on 2 cores). The
uninterrupted run's report opens in headless chromium with every section filled (when chromium is installed).

The recipe is the local one; generation goes to the session's real vLLM server (llm.backend=endpoint) with greedy
decoding, so the reference and the interrupted runs ask the same questions and get the same answers.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from scripts.chaos_run import outputs, start_and_kill_when, write_recipe
from tests.conftest import REPO
from tests.report.browser import CHROMIUM, check_report

pytestmark = [pytest.mark.slow, pytest.mark.heavy]


def test_kill_during_unify_and_during_pack_then_rerun(llm_server, tmp_path):
    ref_root, root = tmp_path / "ref", tmp_path / "run"
    ref = subprocess.run(write_recipe(tmp_path / "ref.yaml", ref_root, llm_server.base_url), cwd=REPO,
                         capture_output=True, text=True, timeout=1800)
    assert ref.returncode == 0, ref.stderr[-3000:]
    if CHROMIUM.exists():  # the local run's report: every section filled, every image rendered, no console error
        pairs = json.loads((ref_root / "unify" / "stats.json").read_text())["release"]["rows"]
        check_report(ref_root / "report.html", not_run=set() if pairs else {"pairs"})  # SmolLM2 may accept none
    cmd = write_recipe(tmp_path / "run.yaml", root, llm_server.base_url)

    cache = root / "unify" / "_llm_cache"
    start_and_kill_when(cmd, lambda: cache.exists() and sum(1 for _ in cache.rglob("*.json")) >= 2)
    assert (root / "curate" / "stats.json").exists() and not (root / "unify" / "stats.json").exists()
    start_and_kill_when(cmd, lambda: (root / "pack" / "_run.json").exists())
    assert (root / "unify" / "stats.json").exists() and not (root / "pack" / "stats.json").exists()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    for step in ("sft", "curate", "unify", "sample"):
        assert f"[{step}] done" in done.stderr, step
    assert outputs(root) == outputs(ref_root)
