"""Where the packer finds conversations, and a converter from JSON / JSONL conversation files to Parquet.

The packer reads, for every sample source, Parquet files with an ``id`` column and a
``conversations`` column (a list of ``{"from", "value"}``, as the unify stage writes, or the same as a
JSON string), by default the very files the sampler read the ids from. Optional lineage columns
(``segment_id``, ``doc_id``) are carried into the packer's per-sample table.

SFT data (HuatuoGPT2/ShareGPT JSON, JSONL or Parquet) reaches the packer the same way: the sft step
(:mod:`huatuo_ray.sft`) writes it in this format.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.io.files import parquet_files
from huatuo_ray.io.parquet_rows import read_rows  # noqa: F401  (re-exported for the packer)

LINEAGE_COLUMNS = ("segment_id", "doc_id")


def conversation_files(name: str, path: str) -> list[str]:
    """The Parquet files of a source (file, directory or glob), sorted; a clear error if none."""
    files = parquet_files(name, path)
    for f in files:
        names = pq.ParquetFile(f).schema_arrow.names
        missing = [c for c in ("id", "conversations") if c not in names]
        if missing:
            raise ValueError(f"source {name!r}: {f} has no {' or '.join(repr(m) for m in missing)} column "
                             f"(columns: {names}); point pack.conversations.{name} at the conversation files")
    return files


def conversations_of(table: pa.Table) -> list[Any]:
    """The ``conversations`` column as Python lists (JSON strings are parsed; bad JSON becomes None)."""
    col = table.column("conversations")
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        out = []
        for s in col.to_pylist():
            try:
                out.append(json.loads(s) if s is not None else None)
            except ValueError:
                out.append(None)
        return out
    return col.to_pylist()
