"""One work unit of an SFT source: records -> release-format conversations or quarantine entries with reasons."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pyarrow as pa

from huatuo_ray.conversations import (
    CONVERSATION_TYPE,
    conversation_turns,
    release_turns,
)
from huatuo_ray.io.readers import read_unit
from huatuo_ray.io.units import WorkUnit
from huatuo_ray.recipe import SourceConfig
from huatuo_ray.sft.config import SftConfig

KEPT_SCHEMA = pa.schema([("id", pa.string()), ("conversations", CONVERSATION_TYPE), ("source", pa.string()),
                         ("source_type", pa.string()), ("language", pa.string()), ("path", pa.string())])


@dataclass
class Converted:
    kept: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    records: int = 0


def convert_unit(unit: WorkUnit, source: SourceConfig, cfg: SftConfig, seen: dict[str, str]) -> Converted:
    """Read and validate one unit; ``seen`` (id -> path of its first occurrence in the source) catches repeats."""
    res = read_unit(unit, source, cfg.max_record_bytes, cfg.excerpt_chars)
    out = Converted(quarantined=list(res.quarantined), records=res.records)
    for doc in res.docs:
        reason, turns = None, None
        if "conversations" not in doc:
            reason = "record has no 'conversations' list"
        else:
            turns, reason = conversation_turns(json.loads(doc["conversations"]))
        if reason is None and doc["id"] in seen:
            reason = f"duplicate id (first seen in {seen[doc['id']]})"
        if reason:
            out.quarantined.append({"id": doc["id"], "stage": "sft", "reason": reason,
                                    "excerpt": doc.get("conversations", doc["text"])[: cfg.excerpt_chars],
                                    "source": source.name, "source_type": source.type, "path": doc["path"]})
            continue
        seen[doc["id"]] = doc["path"]
        out.kept.append({"id": doc["id"], "conversations": release_turns(turns), "source": source.name,
                         "source_type": source.type, "language": doc["language"], "path": doc["path"]})
    return out


def kept_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=KEPT_SCHEMA)
