"""Demo-size packer inputs from the bundled corpus, standing in for the unify stage's output.

The demo corpus already holds question/answer pairs: the zh forum lines (``问``/``答``), the MedQuAD
records (``question``/``text``) and the SFT conversations. :func:`write_demo_pairs` writes them as
conversation Parquet files (``id``, ``conversations``, ``segment_id``, ``doc_id``) in the release
format, one directory per source, so that `huatuo-ray sample` and `huatuo-ray pack` run on
realistic demo data before unified pairs exist. Records without both fields are skipped and counted.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from huatuo_ray.pack.sources import CONVERSATION_TYPE, convert_conversations

# source name, type, file (relative to the corpus), question field, answer field
DEMO_PAIRS = (
    ("web-zh", "web", "web/zh_forum.jsonl", "问", "答"),
    ("encyclopedia-en", "encyclopedia", "encyclopedia/medquad.jsonl.gz", "question", "text"),
    ("literature-en", "literature", "literature/medquad_more.parquet", "question", "text"),
)


def _records(path: Path) -> tuple[list[dict], int]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist(), 0
    opener = gzip.open if path.suffix == ".gz" else open
    rows, bad = [], 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                bad += 1
                continue
            rows.append(obj) if isinstance(obj, dict) else None
            bad += 0 if isinstance(obj, dict) else 1
    return rows, bad


def write_demo_pairs(corpus: str | Path, out: str | Path) -> dict:
    """Write ``out/<source>/conversations.parquet`` for each demo source; returns sample sources and counts."""
    corpus, out = Path(corpus), Path(out)
    sources, counts = [], {}
    for name, typ, rel, qf, af in DEMO_PAIRS:
        rows, bad = _records(corpus / rel)
        ids, convs = [], []
        for i, r in enumerate(rows):
            q, a = r.get(qf), r.get(af)
            if not (isinstance(q, str) and isinstance(a, str) and q.strip() and a.strip()):
                bad += 1
                continue
            ids.append(str(r.get("id") or f"{name}:{rel}@{i}"))
            convs.append([{"from": "human", "value": q}, {"from": "gpt", "value": a}])
        (out / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": pa.array(ids, pa.string()), "conversations": pa.array(convs, CONVERSATION_TYPE),
                                 "segment_id": pa.array(ids, pa.string()), "doc_id": pa.array(ids, pa.string())}),
                       out / name / "conversations.parquet")
        sources.append({"name": name, "type": typ, "path": str(out / name)})
        counts[name] = {"pairs": len(ids), "skipped": bad}
    s = convert_conversations([str(corpus / "sft")], out / "sft-zh", name="sft-zh")
    sources.append({"name": "sft-zh", "type": "sft", "path": str(out / "sft-zh" / "conversations.parquet")})
    counts["sft-zh"] = {"pairs": s["conversations"], "skipped": s["quarantined"]}
    return {"sources": sources, "counts": counts}
