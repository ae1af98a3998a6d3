"""`huatuo-ray unify` and `ray job submit ... jobs/unify.py` end to end against the real local server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cluster_mode import cluster  # noqa: F401  (the `ray start --head` fixture)
from tests.unify.helpers import (
    check_release_format,
    make_curated,
    medquad_texts,
    release_rows,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def options(server_url: str, curated: Path, out: Path) -> list[str]:
    return ["--config", "configs/local.yaml", "--input", str(curated), "--output", str(out),
            "--set", "llm.backend=endpoint", "--set", f"llm.endpoint.base_url={server_url}",
            "--set", "llm.endpoint.model=local", "--set", "unify.answer_sampling.max_tokens=48",
            "--set", "unify.question_sampling.max_tokens=32", "--set", "unify.max_regenerations=0"]


def check_output(out: Path, segments: int) -> None:
    stats = json.loads((out / "stats.json").read_text())
    assert stats["segments"] == segments and stats["complete"] and stats["llm_errors"] == 0
    assert stats["counts"]["in"] == segments
    rows = release_rows(out)
    check_release_format(rows)
    assert len(rows) == stats["pairs"]


def test_cli_unify(llm_server, tmp_path):
    texts = medquad_texts(4)
    curated = make_curated(tmp_path / "curated", {"a": texts[:2], "b": texts[2:]})
    proc = subprocess.run([str(BIN / "huatuo-ray"), "unify", *options(llm_server.base_url, curated, tmp_path / "out")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 segments sent to the model ->" in proc.stderr
    check_output(tmp_path / "out", 4)


def test_ray_job_submit_unify(cluster, llm_server, tmp_path):  # noqa: F811
    texts = medquad_texts(4)
    curated = make_curated(tmp_path / "curated", {"a": texts[:2], "b": texts[2:]})
    out = tmp_path / "out"
    cmd = [str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"], "--working-dir", str(REPO), "--",
           "python", "jobs/unify.py", *options(llm_server.base_url, curated, out)]
    for _ in range(20):  # the head's job agent registers a few seconds after the dashboard answers
        proc = subprocess.run(cmd, env=cluster["env"], capture_output=True, text=True, timeout=600)
        if "No available agent" not in proc.stderr:
            break
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    check_output(out, 4)
