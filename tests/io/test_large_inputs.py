"""Large inputs read in bounded memory: lines over the cap, parts of a unit, Parquet row groups in batches."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from huatuo_ray.io.readers import read_parts, read_unit
from huatuo_ray.io.units import plan_units
from huatuo_ray.recipe import SourceConfig

CAP = 1 << 20  # max_record_bytes of these tests


def _unit(path: Path, fmt: str = "auto"):
    source = SourceConfig(name="s", path=str(path), type="web", language="en", format=fmt)
    (unit,) = plan_units([source], 1 << 30, 1 << 30)
    return unit, source


def _long_line_file(path: Path, long_bytes: int) -> tuple[bytes, int]:
    """A good record, a record of ``long_bytes`` with no newline for all of it, a good record; the long one's offset."""
    first = json.dumps({"id": "a", "text": "first record"}).encode() + b"\n"
    long = b'{"id": "b", "text": "' + b"x" * long_bytes + b'"}\n'
    last = json.dumps({"id": "c", "text": "last record"}).encode()  # the file ends without a newline
    data = first + long + last
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return data, len(first)


@pytest.mark.parametrize("name", ["long.jsonl", "long.jsonl.gz"])
def test_line_over_the_cap_is_quarantined_without_being_held(tmp_path, name):
    path = tmp_path / name
    data, offset = _long_line_file(path, 8 * CAP)
    unit, source = _unit(path)
    tracemalloc.start()
    try:
        r = read_unit(unit, source, max_record_bytes=CAP, excerpt_chars=50)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [d["id"] for d in r.docs] == ["a", "c"]
    (q,) = r.quarantined
    assert q["id"] == f"s:{name}@{offset}"  # the byte offset of the line
    assert q["reason"] == f"record of {8 * CAP + 23} bytes exceeds max_record_bytes={CAP} (read up to the cap only)"
    assert q["excerpt"].startswith('{"id": "b", "text": "xxx')
    assert r.records == len(r.docs) + len(r.quarantined) == 3
    assert peak < 3 * CAP, f"reading an {8 * CAP}-byte line took {peak} bytes: the line was held whole"


def test_line_at_the_cap_is_read_and_one_over_quarantined(tmp_path):
    at = b'{"text": "' + b"y" * (CAP - 12) + b'"}'  # exactly CAP bytes
    over = b'{"text": "' + b"z" * (CAP - 10) + b'"}'  # CAP + 2 bytes: no newline within the cap + 2
    path = tmp_path / "edge.jsonl"
    path.write_bytes(at + b"\r\n" + over + b"\n")
    unit, source = _unit(path)
    r = read_unit(unit, source, max_record_bytes=CAP, excerpt_chars=20)
    assert len(at) == CAP and len(r.docs) == 1 and r.records == 2
    assert r.quarantined[0]["reason"].startswith(f"record of {CAP + 2} bytes exceeds")
    assert r.quarantined[0]["id"] == f"s:edge.jsonl@{CAP + 2}"


def test_parts_cover_every_record_once_in_order(tmp_path):
    path = tmp_path / "many.jsonl.gz"
    lines = [json.dumps({"id": f"r{i}", "text": f"record {i} " * 20}) for i in range(3000)]
    lines.insert(100, "{not json")
    lines.insert(200, "")
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    unit, source = _unit(path)
    parts = list(read_parts(unit, source, CAP, 50, part_bytes=64 << 10))
    assert len(parts) > 5
    assert all(sum(len(d["text"]) for d in p.docs) < 2 * (64 << 10) for p in parts)
    whole = read_unit(unit, source, CAP, 50)
    assert [d for p in parts for d in p.docs] == whole.docs
    assert [q for p in parts for q in p.quarantined] == whole.quarantined
    assert sum(p.records for p in parts) == whole.records == 3001
    assert sum(p.blank_lines for p in parts) == whole.blank_lines == 1


def test_parts_of_an_exact_fit_end_without_an_empty_part(tmp_path):
    path = tmp_path / "fit.jsonl"
    line = json.dumps({"text": "a" * 90}).encode() + b"\n"
    path.write_bytes(line * 4)
    unit, source = _unit(path)
    parts = list(read_parts(unit, source, CAP, 50, part_bytes=2 * len(line)))
    assert [len(p.docs) for p in parts] == [2, 2]
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    unit, source = _unit(empty)
    assert [p.records for p in read_parts(unit, source, CAP, 50, part_bytes=10)] == [0]  # one part, even empty


PARQUET_PROBE = """
import json, sys
import pyarrow as pa
from huatuo_ray.io.readers import read_parts
from huatuo_ray.io.units import WorkUnit
from huatuo_ray.recipe import SourceConfig
src = SourceConfig(name="s", path=sys.argv[1], type="web", language="en")
unit = WorkUnit("s", sys.argv[1], "one.parquet", "parquet", None, 0, 1)
parts, rows, first = 0, 0, None
for p in read_parts(unit, src, 1 << 24, 50, part_bytes=1 << 20):
    parts += 1
    rows += len(p.docs)
    first = first or p.docs[0]["id"]
print(json.dumps({"parts": parts, "rows": rows, "first": first, "arrow_peak": pa.default_memory_pool().max_memory()}))
"""


def test_parquet_with_one_big_row_group_is_read_in_bounded_batches(tmp_path):
    path = tmp_path / "one.parquet"
    n = 40_000  # 40 MB of text in one row group
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(n)], "text": [f"{i:08d}" + "t" * 992 for i in range(n)]}),
                   path, row_group_size=n, compression="zstd")
    assert pq.ParquetFile(path).metadata.num_row_groups == 1
    out = subprocess.run([sys.executable, "-c", PARQUET_PROBE, str(path)], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["rows"] == n and got["first"] == "r0" and got["parts"] >= 30
    # whole, the row group decodes to 40 MB of Arrow memory; in batches of about 1 MB (part_bytes) it holds a few
    assert got["arrow_peak"] < 12 << 20, got
