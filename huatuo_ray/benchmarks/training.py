"""Training samples streamed for the contamination scan: conversation files in the HuatuoGPT2 release format.

Parquet (``id``, ``conversations`` as a list of ``{from, value}`` or a JSON string; read in record batches),
JSON lines, or a JSON array (SFT files), each record ``{"id", "conversations": [{"from", "value"}]}``; a record
without ``conversations`` may carry ``text``. A sample's text is all its turns (question and answer). Records
without an id get ``<file>@<row>``. Folders are read recursively.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from huatuo_ray.benchmarks.formats._rows import json_records
from huatuo_ray.errors import InputError

SUFFIXES = (".parquet", ".jsonl", ".json")


def training_files(paths: list[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"training data {p}: no such file or directory")
    if not files:
        raise InputError(f"training data {[str(p) for p in paths]}: no {', '.join(SUFFIXES)} files")
    return files


def sample_text(conversations, fallback: str | None = None) -> str:
    if isinstance(conversations, str):
        try:
            conversations = json.loads(conversations)
        except ValueError:
            return conversations
    if isinstance(conversations, list):
        return "\n".join(str(t.get("value") or "") for t in conversations if isinstance(t, dict))
    return fallback or ""


def iter_samples(path: Path, batch_rows: int = 4096) -> Iterator[tuple[str, str]]:
    """(sample id, text) for every record of one file, streaming."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        cols = [c for c in ("id", "conversations", "text") if c in names]
        if "conversations" not in cols and "text" not in cols:
            raise InputError(f"{path}: no 'conversations' or 'text' column (columns: {names})")
        row = 0
        for batch in pf.iter_batches(batch_size=batch_rows, columns=cols):
            data = batch.to_pydict()
            for k in range(batch.num_rows):
                rid = data["id"][k] if "id" in data and data["id"][k] is not None else f"{path}@{row}"
                yield str(rid), sample_text(data.get("conversations", [None] * batch.num_rows)[k],
                                            data.get("text", [None] * batch.num_rows)[k])
                row += 1
        return
    if path.suffix == ".json" and path.read_bytes()[:64].lstrip().startswith(b"["):
        records = json_records(path)
    else:
        records = _jsonl(path)
    for line, obj in records:
        rid = obj.get("id")
        yield (str(rid) if rid not in (None, "") else f"{path}@{line}"), sample_text(obj.get("conversations"),
                                                                                    obj.get("text"))


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    raise InputError(f"{path}, line {n}: not valid JSON ({e})") from None
                if isinstance(obj, dict):
                    yield n, obj
