"""The release writer streams: its memory does not grow with the release (16 bytes per pair for the id check)."""

from __future__ import annotations

import json
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from huatuo_ray.errors import LedgerError
from huatuo_ray.io.output import OutputDir
from huatuo_ray.unify.output import write_release


def _kept_units(root, units: int, rows: int, repeat: str | None = None) -> tuple[OutputDir, list[str]]:
    out, ids = OutputDir(root), [f"u{u:03d}" for u in range(units)]
    out.open(ids)
    for u in ids:
        seg = [f"{u}-d{i}#0" for i in range(rows)]
        if repeat and u == ids[-1]:
            seg[-1] = repeat
        pq.write_table(pa.table({
            "id": seg, "conversations": [[{"from": "human", "value": "q?"}, {"from": "gpt", "value": "a."}]] * rows,
            "segment_id": seg, "doc_id": [s[:-2] for s in seg], "source": ["web"] * rows,
            "source_type": ["web" if i % 3 else "books" for i in range(rows)], "language": ["en"] * rows,
            "target_language": ["en"] * rows, "span_start": [0] * rows, "span_end": [9] * rows}), out.path("kept", u))
    return out, ids


def _peak(root, units: int, rows: int) -> tuple[int, dict]:
    out, ids = _kept_units(root, units, rows)
    tracemalloc.start()
    try:
        release = write_release(out, ids)
        return tracemalloc.get_traced_memory()[1], release
    finally:
        tracemalloc.stop()


def test_release_memory_does_not_grow_with_the_number_of_pairs(tmp_path):
    small, r1 = _peak(tmp_path / "small", 8, 1500)
    big, r4 = _peak(tmp_path / "big", 32, 1500)
    assert r1["rows"] == 12_000 and r4["rows"] == 48_000
    assert r4["by_type"] == {"books": {"dir": "release/by_type/books", "rows": 16_000},
                             "web": {"dir": "release/by_type/web", "rows": 32_000}}
    per_pair = (big - small) / 36_000
    assert per_pair < 40, f"{per_pair:.0f} bytes more per pair: the writer holds the release (a set of ids took about 100)"
    lines = (tmp_path / "big" / "release" / "huatuogpt2.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 48_000 and json.loads(lines[0])["id"] == "web:u000-d0#0"
    assert pq.read_table(tmp_path / "big" / "release" / "huatuogpt2.parquet").num_rows == 48_000
    assert len(list((tmp_path / "big" / "release" / "by_type" / "web").glob("*.parquet"))) == 32
    by_type = tmp_path / "big" / "release" / "by_type"
    assert pq.read_table(by_type / "books").num_rows == 16_000 and not list(by_type.rglob(".tmp-*"))


def test_a_repeated_id_fails_naming_it_and_writes_no_release(tmp_path):
    out, ids = _kept_units(tmp_path, 3, 10, repeat="u000-d4#0")
    with pytest.raises(LedgerError, match=r"'web:u000-d4#0' in units u000, u002"):
        write_release(out, ids)
    assert not (tmp_path / "release" / "huatuogpt2.jsonl").exists()
