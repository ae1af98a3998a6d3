"""Integration tests of the curation job on a real local Ray."""

from __future__ import annotations

import glob
import json
import os

import pandas as pd
import pytest

from huatuo_ray.curate.pipeline import run_curation
from huatuo_ray.recipe import Recipe, SourceConfig

MED_ZH = "高血压患者应长期服用降压药物，定期监测血压，并注意低盐饮食。糖尿病可引起视网膜病变和肾功能衰竭。"
MED_EN = ("Hypertension is treated with antihypertensive medication such as lisinopril. Patients with diabetes "
          "mellitus should have their blood glucose and kidney function checked, since nephropathy is common. ")
OTHER_EN = "The railway reached the western coast in the spring, and the merchants of the town built new warehouses. "
OTHER_ZH = "那天傍晚，他骑着马穿过山谷，远处的村庄升起了炊烟，孩子们在河边嬉戏。"


def write_hostile_corpus(root, big_kb: int = 50 * 1024) -> int:
    """A corpus with every kind of bad input; returns the number of records it holds."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": "zh-med", "text": MED_ZH * 3}, ensure_ascii=False).encode(),
        json.dumps({"id": "en-med", "text": MED_EN * 4}).encode(),
        json.dumps({"id": "en-other", "text": OTHER_EN * 4}).encode(),
        json.dumps({"id": "zh-other", "text": OTHER_ZH * 3}, ensure_ascii=False).encode(),
        b'{"id": "broken", "text": "no end',
        b'{"id": "badutf", "text": "\xc3\x28 invalid"}',
        b'{"id": "notext"}',
        b'{"id": "emptytext", "text": ""}',
        b'{"id": "wrongtype", "text": {"a": 1}}',
        b'{"id": ["list"], "text": "id is a list"}',
        b"42",
    ]
    (root / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n\n")
    (root / "empty.jsonl").write_bytes(b"")
    big = MED_ZH * (big_kb * 1024 // len(MED_ZH.encode()) + 1)
    (root / "big.jsonl").write_text(json.dumps({"id": "big", "text": big}, ensure_ascii=False) + "\n", encoding="utf-8")
    (root / "notes.txt").write_bytes(b"\xff\xfe\x00 not utf-8 at all")
    return len(lines) + 1 + 1


def make_recipe(path, unit_bytes=512, **curate) -> Recipe:
    """A recipe reading ``path`` with the stages that need no model (density, segment) unless told otherwise."""
    return Recipe(sources=[SourceConfig(name="h", path=str(path), type="web", language="detect")],
                  curate={"unit_bytes": unit_bytes, "stages": ["density", "segment"], **curate})


def read_kind(out, kind) -> pd.DataFrame:
    files = sorted(glob.glob(os.path.join(out, kind, "*.parquet")))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def assert_balanced(stats, n_records):
    led = stats["ledger"]
    assert led["records"] == n_records
    assert led["records"] == led["kept_documents"] + led["dropped_documents"] + led["quarantined"]
    previous = led["records"] - led["quarantined"]
    for s in led["stages"]:
        assert s["rows_in"] == previous == s["kept_in"] + s["dropped"]
        previous = s["rows_out"]


def test_hostile_corpus_runs_to_completion(ray_local, tmp_path):
    n = write_hostile_corpus(tmp_path / "in")
    out = tmp_path / "out"
    stats = run_curation(make_recipe(tmp_path / "in", unit_bytes=8 << 20), out).stats
    assert_balanced(stats, n)
    kept, dropped, quarantined = (read_kind(out, k) for k in ("kept", "dropped", "quarantined"))
    assert set(kept["doc_id"]) == {"zh-med", "en-med", "big"}
    assert set(dropped["id"]) == {"en-other", "zh-other"} and set(dropped["stage"]) == {"density"}
    assert dropped["density"].notna().all() and kept["density"].notna().all()
    assert len(quarantined) == 8 and quarantined["reason"].str.len().min() > 5
    assert {"id", "stage", "reason", "excerpt"} <= set(quarantined.columns)
    assert len(kept) == stats["ledger"]["kept_rows"]
    big = kept[kept["doc_id"] == "big"].sort_values("segment_index")
    assert big["span_end"].max() == len(MED_ZH * (50 * 1024 * 1024 // len(MED_ZH.encode()) + 1))
    assert os.path.exists(out / "plots" / "density.png")


def test_resume_after_lost_units_gives_identical_output(ray_local, tmp_path):
    n = write_hostile_corpus(tmp_path / "in", big_kb=16)
    out = tmp_path / "out"
    first = run_curation(make_recipe(tmp_path / "in"), out).stats
    before = read_kind(out, "kept").sort_values("id").reset_index(drop=True)
    markers = sorted(glob.glob(str(out / "_markers" / "*.json")))
    for m in markers[::2]:  # as if the run had died before these units committed
        os.remove(m)
    for f in sorted(glob.glob(str(out / "kept" / "*.parquet")))[:1]:
        os.remove(f)
    second = run_curation(make_recipe(tmp_path / "in"), out).stats
    assert second["units"]["done_before_this_run"] == len(markers) - len(markers[::2])
    after = read_kind(out, "kept").sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    assert first["ledger"] == second["ledger"]
    assert_balanced(second, n)


def test_stage_subset_on_any_input(ray_local, tmp_path):
    n = write_hostile_corpus(tmp_path / "in", big_kb=16)
    out = tmp_path / "seg"
    stats = run_curation(make_recipe(tmp_path / "in"), out, stages=["segment"]).stats
    assert [s["name"] for s in stats["ledger"]["stages"]] == ["segment"]
    assert_balanced(stats, n)
    assert "density" not in read_kind(out, "kept").columns
    # and the output of one run is a valid input of another
    again = run_curation(make_recipe(out / "kept"), tmp_path / "density_only", stages=["density"]).stats
    assert again["ledger"]["records"] == stats["ledger"]["kept_rows"]
    with pytest.raises(ValueError, match="not among the recipe's stages"):
        run_curation(make_recipe(tmp_path / "in"), tmp_path / "x", stages=["dedup"])


def test_stage_as_actor_pool_gives_the_same_output(ray_local, tmp_path):
    n = write_hostile_corpus(tmp_path / "in", big_kb=16)
    tasks = run_curation(make_recipe(tmp_path / "in"), tmp_path / "tasks").stats
    actors_recipe = make_recipe(tmp_path / "in", resources={"density": {"num_cpus": 0.5, "actors": [1, 2]}})
    actors = run_curation(actors_recipe, tmp_path / "actors").stats
    assert_balanced(actors, n)
    assert actors["ledger"] == tasks["ledger"]
    pd.testing.assert_frame_equal(read_kind(tmp_path / "tasks", "kept").sort_values("id").reset_index(drop=True),
                                  read_kind(tmp_path / "actors", "kept").sort_values("id").reset_index(drop=True))
