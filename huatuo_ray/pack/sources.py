"""Where the packer finds conversations, and a converter from JSON / JSONL conversation files to Parquet.

The packer reads, for every sample source, Parquet files with an ``id`` column and a
``conversations`` column (a list of ``{"from", "value"}``, as the unify stage writes, or the same as a
JSON string), by default the very files the sampler read the ids from. Optional lineage columns
(``segment_id``, ``doc_id``) are carried into the packer's per-sample table.

SFT data usually comes as HuatuoGPT2/ShareGPT JSON (a list) or JSONL; :func:`convert_conversations`
turns it into such a Parquet file (ids: the record's ``id``, else ``source:file@itemN``), with
unreadable records quarantined with a reason, so that the sampler and the packer can read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.io.atomic import write_json_atomic
from huatuo_ray.io.parquet_rows import read_rows  # noqa: F401  (re-exported for the packer)

LINEAGE_COLUMNS = ("segment_id", "doc_id")
CONVERSATION_TYPE = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))


def conversation_files(name: str, path: str) -> list[str]:
    """The Parquet files of a source (file, directory or glob), sorted; a clear error if none."""
    from huatuo_ray.sample.priority import _parquet_files

    files = _parquet_files(name, path)
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


def convert_conversations(inputs: list[str], output: str | Path, name: str = "sft") -> dict:
    """HuatuoGPT2/ShareGPT JSON or JSONL files -> ``output/conversations.parquet`` (+ quarantine, summary)."""
    from huatuo_ray.io.readers import read_unit
    from huatuo_ray.io.units import plan_units
    from huatuo_ray.recipe import SourceConfig

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    rows, quarantined, records = [], [], 0
    for i, path in enumerate(inputs):
        src = SourceConfig(name=name, path=path, type="sft", language="detect",
                           format="conversations" if str(path).endswith(".json") else "auto")
        for unit in plan_units([src], 1 << 62, 1 << 62):
            res = read_unit(unit, src, max_record_bytes=1 << 30, excerpt_chars=300)
            records += res.records
            quarantined += res.quarantined
            for d in res.docs:
                if "conversations" not in d:
                    quarantined.append({"id": d["id"], "stage": "read", "reason": "record has no 'conversations'",
                                        "excerpt": d.get("text", "")[:300], "source": name, "path": d["path"]})
                    continue
                conv = json.loads(d["conversations"])
                ok = isinstance(conv, list) and all(isinstance(t, dict) for t in conv)
                rows.append({"id": d["id"], "source": name, "path": d["path"],
                             "conversations": [{"from": _s(t.get("from")), "value": _s(t.get("value"))} for t in conv]
                             if ok else None})
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        dup = sorted({x for x in ids if ids.count(x) > 1})[:5]
        raise ValueError(f"repeated conversation ids {dup}: ids must be unique within a source")
    table = pa.table({"id": pa.array(ids, pa.string()),
                      "conversations": pa.array([r["conversations"] for r in rows], CONVERSATION_TYPE),
                      "source": pa.array([r["source"] for r in rows], pa.string()),
                      "path": pa.array([r["path"] for r in rows], pa.string())})
    pq.write_table(table, out / "conversations.parquet", compression="zstd")
    if quarantined:
        pq.write_table(pa.Table.from_pylist(quarantined), out / "quarantined.parquet", compression="zstd")
    summary = {"job": "conversations", "inputs": [str(p) for p in inputs], "records": records,
               "conversations": len(rows), "quarantined": len(quarantined),
               "quarantined_by_reason": _count(q["reason"] for q in quarantined)}
    if records != len(rows) + len(quarantined):
        raise RuntimeError(f"records {records} != conversations {len(rows)} + quarantined {len(quarantined)}")
    write_json_atomic(out / "_conversations.json", summary)
    return summary


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) or v is None else json.dumps(v, ensure_ascii=False)


def _count(xs) -> dict[str, int]:
    from collections import Counter

    from huatuo_ray.ledger import reason_key

    return dict(Counter(reason_key(x) for x in xs).most_common())
