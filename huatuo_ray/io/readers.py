"""Readers: turn one work unit into documents, quarantining what cannot be read.

Every raw record ends as exactly one document or one quarantine entry; ``ReadResult.records``
counts raw records (blank lines in JSONL are skipped and counted separately, they are not records).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyarrow.parquet as pq

from huatuo_ray.io.language import detect_language
from huatuo_ray.io.units import WorkUnit
from huatuo_ray.recipe import SourceConfig

RESERVED = ("id", "text", "source", "source_type", "language", "path", "meta", "conversations")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class ReadResult:
    """Documents and quarantine entries read from one unit."""

    docs: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    records: int = 0
    blank_lines: int = 0


class _Reader:
    def __init__(self, unit: WorkUnit, source: SourceConfig, max_record_bytes: int, excerpt_chars: int):
        self.unit, self.source = unit, source
        self.max_record_bytes, self.excerpt_chars = max_record_bytes, excerpt_chars
        self.result = ReadResult()

    # -- outcomes -------------------------------------------------------------------------------
    def quarantine(self, rid: str, reason: str, raw: bytes | str | None) -> None:
        self.result.records += 1
        if isinstance(raw, bytes):
            excerpt = raw[: self.excerpt_chars * 4].decode("utf-8", "backslashreplace")[: self.excerpt_chars]
        else:
            excerpt = (raw or "")[: self.excerpt_chars]
        self.result.quarantined.append(
            {
                "id": rid,
                "stage": "read",
                "reason": reason,
                "excerpt": _SURROGATE.sub("\ufffd", excerpt),
                "source": self.source.name,
                "source_type": self.source.type,
                "path": self.unit.relpath,
            }
        )

    def record(self, obj: Any, fallback_id: str, raw_size: int, extra_text: str | None = None) -> None:
        """Validate one parsed record and emit a document or a quarantine entry."""
        if not isinstance(obj, dict):
            self.quarantine(fallback_id, f"record is a JSON {type(obj).__name__}, expected an object", _short(obj))
            return
        rid = fallback_id
        own = obj.get(self.source.id_field)
        if own is not None:
            if isinstance(own, bool) or not isinstance(own, (str, int)) or (isinstance(own, str) and not own.strip()):
                self.quarantine(fallback_id, f"field {self.source.id_field!r} is not a usable id: {_short(own)}", _short(obj))
                return
            rid = str(own)
        if raw_size > self.max_record_bytes:
            self.quarantine(rid, f"record of {raw_size} bytes exceeds max_record_bytes={self.max_record_bytes}", _short(obj))
            return
        text, problem = self._text_of(obj)
        if problem:
            self.quarantine(rid, problem, _short(obj))
            return
        if _SURROGATE.search(text) or _SURROGATE.search(rid):
            self.quarantine(rid, "text contains invalid Unicode (unpaired surrogate)", text)
            return
        if not text.strip():
            self.quarantine(rid, "empty text", _short(obj))
            return
        language = self.source.language
        if language == "detect":
            language = detect_language(text)
        doc = {
            "id": rid,
            "text": text,
            "source": self.source.name,
            "source_type": self.source.type,
            "language": language,
            "path": self.unit.relpath,
        }
        rest = {k: v for k, v in obj.items() if k not in RESERVED and k != self.source.id_field and k not in self._text_fields()}
        doc["meta"] = json.dumps(rest, ensure_ascii=True, default=str) if rest else ""
        if "conversations" in obj:
            doc["conversations"] = json.dumps(obj["conversations"], ensure_ascii=False)
        self.result.records += 1
        self.result.docs.append(doc)

    def _text_fields(self) -> list[str]:
        tf = self.source.text_field
        return [tf] if isinstance(tf, str) else list(tf)

    def _text_of(self, obj: dict) -> tuple[str, str | None]:
        fields = self._text_fields()
        present = [f for f in fields if f in obj]
        if not present:
            if "conversations" in obj:
                return _conversation_text(obj["conversations"])
            return "", f"missing text field {fields[0]!r}" if len(fields) == 1 else f"missing text fields {fields}"
        parts = []
        for f in present:
            v = obj[f]
            if v is None:
                continue
            if not isinstance(v, str):
                return "", f"field {f!r} is {type(v).__name__}, expected string"
            parts.append(v)
        return "\n".join(parts), None

    # -- formats --------------------------------------------------------------------------------
    def read(self) -> ReadResult:
        fmt = self.unit.format
        try:
            if fmt == "jsonl":
                self._read_jsonl()
            elif fmt == "parquet":
                self._read_parquet()
            elif fmt == "conversations":
                self._read_json_document()
            elif fmt in ("text", "text_blocks"):
                self._read_text(blocks=fmt == "text_blocks")
            else:
                raise ValueError(f"unknown format {fmt!r}")
        except OSError as e:
            self.quarantine(self._id("file"), f"unreadable file: {e}", None)
        return self.result

    def _id(self, suffix: str | int) -> str:
        return f"{self.source.name}:{self.unit.relpath}@{suffix}"

    def _read_jsonl(self) -> None:
        if self.unit.compression:
            with _open_binary(self.unit.path, self.unit.compression) as f:
                pos = 0
                try:
                    for line in f:
                        self._jsonl_line(line, pos)
                        pos += len(line)
                except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
                    self.quarantine(self._id(pos), f"unreadable compressed stream after byte {pos}: {e}", None)
            return
        with open(self.unit.path, "rb") as f:
            start, end = self.unit.start, self.unit.end
            if start > 0 and not _skip_partial_line(f, start, end):
                return  # no line starts inside this range (it lies within one long line)
            while True:
                pos = f.tell()
                if end >= 0 and pos >= end:
                    break
                line = f.readline()
                if not line:
                    break
                self._jsonl_line(line, pos)

    def _jsonl_line(self, line: bytes, pos: int) -> None:
        raw = line.rstrip(b"\r\n")
        if not raw.strip():
            self.result.blank_lines += 1
            return
        rid = self._id(pos)
        if len(raw) > self.max_record_bytes:
            self.quarantine(rid, f"record of {len(raw)} bytes exceeds max_record_bytes={self.max_record_bytes}", raw)
            return
        text = self._decode(raw, rid)
        if text is None:
            return
        try:
            obj = json.loads(text)
        except ValueError as e:
            self.quarantine(rid, f"malformed JSON ({getattr(e, 'msg', str(e))}, char {getattr(e, 'pos', '?')})", raw)
            return
        self.record(obj, rid, len(raw))

    def _read_parquet(self) -> None:
        try:
            pf = pq.ParquetFile(self.unit.path)
            meta = pf.metadata
            end = meta.num_row_groups if self.unit.end < 0 else self.unit.end
            offset = sum(meta.row_group(g).num_rows for g in range(self.unit.start))
            for g in range(self.unit.start, end):
                rows = pf.read_row_group(g).to_pylist()
                for i, row in enumerate(rows):
                    size = sum(len(v) for v in row.values() if isinstance(v, (str, bytes)))
                    self.record(row, self._id(f"row{offset + i}"), size)
                offset += len(rows)
        except (OSError, ValueError) as e:  # pyarrow raises ArrowInvalid (a ValueError) for corrupt files
            self.quarantine(self._id("file"), f"unreadable Parquet: {e}", None)

    def _read_json_document(self) -> None:
        """A JSON file holding a list of records (ShareGPT / HuatuoGPT2 release) or one record."""
        with _open_binary(self.unit.path, self.unit.compression) as f:
            raw = f.read()
        text = self._decode(raw, self._id("file"))
        if text is None:
            return
        try:
            data = json.loads(text)
        except ValueError as e:
            self.quarantine(self._id("file"), f"malformed JSON document: {e}", raw)
            return
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            size = len(json.dumps(item, ensure_ascii=False)) if len(raw) > self.max_record_bytes else 0
            self.record(item, self._id(f"item{i}"), size)

    def _read_text(self, blocks: bool) -> None:
        with _open_binary(self.unit.path, self.unit.compression) as f:
            raw = f.read()
        if not blocks:
            self._text_record(raw, f"{self.source.name}:{self.unit.relpath}")
            return
        pos = 0
        for chunk in re.split(rb"((?:\r?\n[ \t]*){2,})", raw):
            if chunk.strip() and not re.fullmatch(rb"(?:\r?\n[ \t]*){2,}", chunk):
                self._text_record(chunk, self._id(pos))
            pos += len(chunk)

    def _decode(self, raw: bytes, rid: str) -> str | None:
        """UTF-8 text of a raw record, or None after quarantining it."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.quarantine(rid, f"invalid UTF-8 at byte {e.start} of the record", raw)
            return None

    def _text_record(self, raw: bytes, rid: str) -> None:
        if not raw.strip():
            self.quarantine(rid, "empty text", raw)
            return
        text = self._decode(raw, rid)
        if text is not None:
            self.record({self._text_fields()[0]: text}, rid, len(raw))


def _conversation_text(conv: Any) -> tuple[str, str | None]:
    if not isinstance(conv, list) or not conv:
        return "", "field 'conversations' is not a non-empty list"
    parts = []
    for i, turn in enumerate(conv):  # ShareGPT spelling (from / value) or OpenAI's (role / content)
        value = turn.get("value", turn.get("content")) if isinstance(turn, dict) else None
        who = turn.get("from", turn.get("role")) if isinstance(turn, dict) else None
        if not isinstance(value, str) or not isinstance(who, str):
            return "", f"conversation turn {i} lacks string 'from' and 'value' (or 'role' and 'content')"
        parts.append(value)
    return "\n".join(parts), None


def _short(obj: Any) -> str:
    try:
        s = json.dumps(obj, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        s = repr(obj)
    return s[:2000]


def _open_binary(path: str, compression: str | None) -> BinaryIO:
    if compression is None:
        return open(path, "rb")
    if compression == ".gz":
        return gzip.open(path, "rb")
    if compression == ".bz2":
        return bz2.open(path, "rb")
    if compression == ".xz":
        return lzma.open(path, "rb")
    if compression == ".zst":
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True))
    raise ValueError(f"unsupported compression {compression}")


def read_unit(unit: WorkUnit, source: SourceConfig, max_record_bytes: int, excerpt_chars: int) -> ReadResult:
    """Read one work unit into documents and quarantine entries."""
    return _Reader(unit, source, max_record_bytes, excerpt_chars).read()


def _skip_partial_line(f: BinaryIO, start: int, end: int, chunk: int = 1 << 16) -> bool:
    """Position ``f`` at the first line that starts in [start, end); False when none does.

    A line belongs to the unit its first byte lies in. Reads at most up to ``end`` while looking
    for the newline, so a 50 MB line split across many units is not read once per unit.
    """
    f.seek(start - 1)
    pos = start - 1
    while pos < end:
        buf = f.read(min(chunk, end - pos))
        if not buf:
            return False
        nl = buf.find(b"\n")
        if nl >= 0:
            f.seek(pos + nl + 1)
            return pos + nl + 1 < end
        pos += len(buf)
    return False
