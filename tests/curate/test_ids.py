"""The id check streams a unit's id column: the driver holds 8 bytes per document, not the ids."""

from __future__ import annotations

import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.curate.ids import check_unique_ids, kept_document_ids
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.units import WorkUnit


def test_id_check_of_a_large_unit_holds_hashes_not_ids(tmp_path):
    n = 300_000
    out = OutputDir(tmp_path)
    unit = WorkUnit("s", str(tmp_path / "x.jsonl.zst"), "x.jsonl.zst", "jsonl", ".zst")
    out.open([unit.unit_id])
    doc_ids = [f"a-rather-long-document-identifier-{i // 2:09d}" for i in range(n)]  # two segments per document
    pq.write_table(pa.table({"doc_id": doc_ids, "segment_index": [i % 2 for i in range(n)]}),
                   out.path("kept", unit.unit_id), row_group_size=50_000)
    out.write_marker(unit.unit_id, {"unit_id": unit.unit_id})
    assert sum(len(ids) for ids in kept_document_ids(out.path("kept", unit.unit_id))) == n // 2
    tracemalloc.start()
    try:
        check_unique_ids([unit], [out])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # 150k ids as a list of str: about 15 MB; their hashes: 1.2 MB, plus one batch of ids
    assert peak < 8 << 20, f"the id check took {peak / 2**20:.1f} MiB for 150k documents"
