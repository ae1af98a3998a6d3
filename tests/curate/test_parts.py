"""A compressed file (one unit: it cannot be cut into byte ranges) curated in parts: the same output as whole."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq

from huatuo_ray.curate.parts import PartTracker
from huatuo_ray.curate.pipeline import plan_curation, run_curation
from huatuo_ray.io.output import OutputDir
from tests.curate.test_pipeline import MED_EN, MED_ZH, OTHER_EN, assert_balanced, make_recipe


def _corpus(path, n: int = 600) -> int:
    lines = []
    for i in range(n):
        text = [MED_ZH * (1 + i % 9), MED_EN * (1 + i % 7), OTHER_EN * 3][i % 3]
        lines.append(json.dumps({"id": f"d{i}", "text": text, "crawl": i, "language": "zh" if i % 3 == 0 else "en"},
                                ensure_ascii=False).encode())
    lines[50] = b'{"id": "broken", "text": "no end'
    lines[400] = b'{"id": "long", "text": "' + b"x" * 70_000 + b'"}'  # over max_record_bytes
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n\n"))
    return n


def _tables(out):
    return {kind: pq.read_table(f) for kind in ("kept", "dropped", "quarantined")
            for f in (out / kind).glob("*.parquet")}


def test_a_unit_in_parts_writes_what_the_whole_unit_writes(ray_local, tmp_path):
    src = tmp_path / "in" / "big.jsonl.gz"
    src.parent.mkdir()
    n = _corpus(src)
    whole = run_curation(make_recipe(src.parent, max_record_bytes=65_536), tmp_path / "whole")
    recipe = make_recipe(src.parent, max_record_bytes=65_536, part_bytes=32_768)
    parted = run_curation(recipe, tmp_path / "parted")
    assert_balanced(parted.stats, n)
    assert parted.stats["ledger"] == whole.stats["ledger"]
    marker = json.loads(next((tmp_path / "parted" / "_markers").glob("*.json")).read_text())
    assert marker["parts"] > 10 and marker["ledger"] == whole.stats["ledger"]
    assert not list((tmp_path / "parted" / "_parts").iterdir())  # merged and removed
    a, b = _tables(tmp_path / "whole"), _tables(tmp_path / "parted")
    assert a.keys() == b.keys() == {"kept", "dropped", "quarantined"}
    for kind in a:
        assert b[kind].equals(a[kind]), kind
    assert "exceeds max_record_bytes=65536" in " ".join(b["quarantined"].column("reason").to_pylist())

    # a kill after some parts were written and before the commit: no marker, so the rerun redoes the unit whole
    out = OutputDir(tmp_path / "parted")
    (unit,) = plan_curation(recipe)
    out.marker(unit.unit_id).unlink()
    out.path("kept", unit.unit_id).unlink()
    out.part_path("kept", unit.unit_id, 3).parent.mkdir(parents=True)
    out.part_path("kept", unit.unit_id, 3).write_bytes(b"half of an earlier attempt")
    again = run_curation(recipe, tmp_path / "parted")
    assert again.stats["ledger"] == whole.stats["ledger"]
    assert _tables(tmp_path / "parted")["kept"].equals(a["kept"])


def test_tracker_commits_a_unit_once_every_part_is_written():
    t = PartTracker()
    rows = [{"unit_id": "u", "part": k, "last": k == 2} for k in range(3)]
    assert t.add(rows[2]) is None  # the last part may arrive first
    assert t.add(rows[0]) is None
    assert t.add({"unit_id": "v", "part": 0, "last": False}) is None
    assert t.add(rows[1]) == rows
