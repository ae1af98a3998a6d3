"""OutputDir: a unit written in parts is merged into the same files as the unit written whole."""

from __future__ import annotations

import pyarrow.parquet as pq

from huatuo_ray.io.output import OutputDir, rows_to_table


def test_parts_merge_into_the_rows_of_the_whole_unit(tmp_path):
    kept = [
        [{"id": "a", "text": "x", "meta": ""}, {"id": "b", "text": "y", "meta": '{"k": 1}'}],
        [{"id": "c", "text": "z", "meta": None, "conversations": '[{"from": "human"}]'}],  # a column more, a null
        [],  # a part that kept nothing
        [{"id": "d", "text": "w", "meta": "", "density": 0.5}],
    ]
    quarantined = [[], [{"id": "q", "reason": "malformed JSON"}], [], []]
    whole, parted = OutputDir(tmp_path / "whole"), OutputDir(tmp_path / "parted")
    for d in (whole, parted):
        d.open(["u"])
    whole.write_rows("u", {"kept": [r for p in kept for r in p], "quarantined": [r for p in quarantined for r in p]})
    for k, (rows, q) in enumerate(zip(kept, quarantined)):
        parted.write_part("u", k, {"kept": rows, "quarantined": q})
    (parted.root / "_parts" / "u" / "kept-00009.parquet").write_bytes(b"a part of an earlier attempt: never read")
    parted.merge_parts("u", len(kept))
    for kind in ("kept", "quarantined"):
        assert pq.read_table(parted.path(kind, "u")).equals(pq.read_table(whole.path(kind, "u"))), kind
    assert not parted.path("dropped", "u").exists()
    assert parted.row_counts("u") == whole.row_counts("u") == {"kept": 4, "dropped": 0, "quarantined": 1}
    assert pq.read_table(parted.path("kept", "u")).schema.equals(rows_to_table([r for p in kept for r in p]).schema)
    parted.write_marker("u", {"unit_id": "u"})
    parted.open(["u"])  # a kill between the marker and the removal of the parts: reopening removes them
    assert not (parted.root / "_parts" / "u").exists()
