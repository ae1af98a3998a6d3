"""LLM labelling of a curated sample: answer parsing, sampling, and a run against the real local server."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from huatuo_ray.curate.quality.label import (
    build_messages,
    label_sample,
    parse_label,
    sample_rows,
)
from huatuo_ray.curate.quality.model import read_labelled
from huatuo_ray.recipe import Recipe


@pytest.mark.parametrize("answer, label", [
    ("advertising", "advertising"), ("Advertising.", "advertising"), ("**Good**", "good"),
    ("low-quality", "low_quality"), ("Low quality text", "low_quality"), ("The text is advertising.", "advertising"),
    ("Advertising. It promotes a clinic, not good information", "advertising"), ("广告", "advertising"),
    ("advertising, low-quality or good", None), ("I cannot tell", None), ("", None), (None, None),
])
def test_parse_label(answer, label):
    assert parse_label(answer) == label


def _curated(tmp_path, n=30):
    kept = tmp_path / "cur" / "kept"
    kept.mkdir(parents=True)
    rows = read_labelled("builtin:seed").rows
    for f in range(3):
        part = [{"id": f"{f}-{i}", "text": rows[(f * 97 + i * 13) % len(rows)]["text"], "language": "en", "source": "s"}
                for i in range(n // 3)]
        pq.write_table(pa.Table.from_pylist(part), kept / f"u{f}.parquet")
    return tmp_path / "cur"


def test_sample_is_seeded_and_without_replacement(tmp_path):
    cur = _curated(tmp_path)
    a, b = sample_rows(cur, 12, seed=3), sample_rows(cur, 12, seed=3)
    assert a == b and len({r["id"] for r in a}) == 12
    assert sample_rows(cur, 12, seed=4) != a
    assert len(sample_rows(cur, 1000)) == 30
    with pytest.raises(ValueError, match="no kept"):
        sample_rows(tmp_path, 5)


def test_prompt_cuts_long_text():
    msgs = build_messages("x" * 5000, max_chars=100)
    assert msgs[0]["role"] == "system" and "x" * 100 in msgs[1]["content"] and "x" * 101 not in msgs[1]["content"]


def test_label_with_the_real_local_server(llm_server, tmp_path):
    cur = _curated(tmp_path, n=12)
    recipe = Recipe(llm={"backend": "endpoint", "endpoint": {"base_url": llm_server.base_url, "model": "local"}})
    out = tmp_path / "labels.jsonl"
    summary = label_sample(recipe, cur, out, n=8, seed=0)
    print("label summary:", summary["counts"])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == summary["sampled"] == 8 == sum(summary["counts"].values())
    assert all(r["raw_answer"] for r in rows if r["error"] is None)  # the model's answer is kept verbatim
    assert all(r["label"] in (None, "advertising", "low_quality", "good") for r in rows)
    assert summary["counts"].get("unparseable", 0) == sum(1 for r in rows if r["label"] is None and not r["error"])
    assert json.loads((tmp_path / "labels.jsonl.summary.json").read_text())["counts"] == summary["counts"]
