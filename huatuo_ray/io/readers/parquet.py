"""Parquet: row groups read in record batches of about ``PARQUET_BATCH_BYTES`` (or ``part_bytes`` when smaller)."""

from __future__ import annotations

from typing import Iterator

import pyarrow.parquet as pq

from huatuo_ray.io.compressed import is_io_error
from huatuo_ray.io.readers.record import ReadResult, RecordReader
from huatuo_ray.io.storage import arrow_source

PARQUET_BATCH_BYTES = 8 << 20  # Parquet is decoded in record batches of about this many (uncompressed) bytes


class ParquetReader(RecordReader):
    def _read_parquet(self) -> Iterator[ReadResult]:
        try:
            pf = pq.ParquetFile(arrow_source(self.unit.path), buffer_size=1 << 20, pre_buffer=False)  # pages, not whole chunks
            meta = pf.metadata
        except (OSError, ValueError) as e:  # pyarrow raises ArrowInvalid (a ValueError) for corrupt files
            if isinstance(e, OSError) and is_io_error(e):
                raise
            self.quarantine(self._id("file"), f"unreadable Parquet: {e}", None)
            return
        end = meta.num_row_groups if self.unit.end < 0 else self.unit.end
        offset = sum(meta.row_group(g).num_rows for g in range(self.unit.start))
        for g in range(self.unit.start, end):
            group = meta.row_group(g)
            n, done = group.num_rows, 0
            target = min(PARQUET_BATCH_BYTES, self.part_bytes or PARQUET_BATCH_BYTES)
            batch = max(1, min(n, target * n // max(1, group.total_byte_size)))
            try:
                for b in pf.iter_batches(batch_size=batch, row_groups=[g]):
                    for row in b.to_pylist():
                        size = sum(len(v) for v in row.values() if isinstance(v, (str, bytes)))
                        self.record(row, self._id(f"row{offset + done}"), size)
                        self._bytes += size
                        done += 1
                        if self._full():
                            yield self._take()
            except (OSError, ValueError, NotImplementedError) as e:
                if isinstance(e, OSError) and is_io_error(e):
                    raise
                # the footer says how many rows the group holds: each unread one is counted, none is lost silently
                reason = f"unreadable Parquet row group {g} ({n} rows): {e}"
                for i in range(done, n):
                    self.quarantine(self._id(f"row{offset + i}"), reason, None)
            offset += n

