"""Reading a row range of a Parquet file without reading the row groups outside it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq


def read_rows(path: str, start: int, stop: int, columns: list[str]) -> pa.Table:
    """Rows ``start:stop`` of a Parquet file, reading only the row groups they touch."""
    pf = pq.ParquetFile(path)
    groups, offset, first = [], 0, None
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if offset < stop and offset + n > start:
            groups.append(g)
            first = offset if first is None else first
        offset += n
    cols = [c for c in columns if c in pf.schema_arrow.names]
    return pf.read_row_groups(groups, columns=cols).slice(start - (first or 0), stop - start)
