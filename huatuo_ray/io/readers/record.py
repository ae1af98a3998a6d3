"""Records: a parsed record becomes one document or one quarantine entry; the parts a unit is read in."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from huatuo_ray.io import readers  # the package's settings, read when used (tests set CHUNK)
from huatuo_ray.io.compressed import DAMAGE, Stream, is_io_error
from huatuo_ray.io.language import detect_languages
from huatuo_ray.io.units import WorkUnit
from huatuo_ray.recipe import SourceConfig

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark at the start of a file is not part of its first record
NESTED = "JSON nested too deeply to parse (Python's recursion limit)"
RESERVED = ("id", "text", "source", "source_type", "language", "path", "meta", "conversations")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class ReadResult:
    """Documents and quarantine entries read from one unit."""

    docs: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    records: int = 0
    blank_lines: int = 0


class RecordReader:
    """What every format shares: parts, and turning a parsed record into a document or a quarantine entry."""

    def __init__(self, unit: WorkUnit, source: SourceConfig, max_record_bytes: int, excerpt_chars: int,
                 part_bytes: int = 0):
        self.unit, self.source = unit, source
        self.max_record_bytes, self.excerpt_chars = max_record_bytes, excerpt_chars
        self.part_bytes = part_bytes  # 0: the whole unit is one part
        self.result = ReadResult()
        tf = source.text_field
        self._tf = [tf] if isinstance(tf, str) else list(tf)
        self._not_meta = frozenset((*RESERVED, source.id_field, *self._tf))  # keys not kept in meta
        self._bytes = 0  # raw bytes of the records in the current part
        self._parts = 0  # parts yielded so far

    # -- parts ----------------------------------------------------------------------------------
    def _full(self) -> bool:
        return 0 < self.part_bytes <= self._bytes

    def _take(self) -> ReadResult:
        """The current part; the next one starts empty."""
        part, self.result, self._bytes = self.result, ReadResult(), 0
        self._parts += 1
        if self.source.language == "detect" and part.docs:  # the part's languages at once (record() left None)
            for doc, language in zip(part.docs, detect_languages([d["text"] for d in part.docs])):
                doc["language"] = language
        return part

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

    def record(self, obj: Any, fallback_id: str, raw_size: int, extra_text: str | None = None,
               unicode_checked: bool = False) -> None:
        """Validate one parsed record and emit a document or a quarantine entry (``unicode_checked``: the parser
        returns no string with a lone surrogate, e.g. orjson, so only the id is checked for one)."""
        if not isinstance(obj, dict):
            self.quarantine(fallback_id, f"record is a JSON {type(obj).__name__}, expected an object", _short(obj))
            return
        rid, problem = self._own_id(obj.get(self.source.id_field), fallback_id)
        if problem:
            self.quarantine(fallback_id, problem, _short(obj))
            return
        if raw_size > self.max_record_bytes:
            self.quarantine(rid, self._too_big(raw_size), _short(obj))
            return
        text, problem = self._text_of(obj)
        if problem:
            self.quarantine(rid, problem, _short(obj))
            return
        if (not unicode_checked and _SURROGATE.search(text)) or _SURROGATE.search(rid):
            self.quarantine(rid, "text contains invalid Unicode (unpaired surrogate)", text)
            return
        if not text or text.isspace():
            self.quarantine(rid, "empty text", _short(obj))
            return
        language = self.source.language
        if language == "detect":
            language = None  # detected for the whole part when it is taken (_take)
        doc = {
            "id": rid,
            "text": text,
            "source": self.source.name,
            "source_type": self.source.type,
            "language": language,
            "path": self.unit.relpath,
        }
        rest = None if obj.keys() <= self._not_meta else {k: v for k, v in obj.items() if k not in self._not_meta}
        doc["meta"] = json.dumps(rest, ensure_ascii=True, default=str) if rest else ""
        if "conversations" in obj:
            bad = _not_json(obj["conversations"])
            if bad:
                self.quarantine(rid, f"field 'conversations' holds {bad}, which JSON cannot hold (expected text)",
                                _short(obj))
                return
            doc["conversations"] = json.dumps(obj["conversations"], ensure_ascii=False)
        self.result.records += 1
        self.result.docs.append(doc)

    def _own_id(self, own: Any, fallback_id: str) -> tuple[str, str | None]:
        """A record's id (its ``id_field``, else ``fallback_id``) and, when that field holds no usable id, why."""
        if own is None:
            return fallback_id, None
        if isinstance(own, bool) or not isinstance(own, (str, int)) or (isinstance(own, str) and not own.strip()):
            return fallback_id, f"field {self.source.id_field!r} is not a usable id: {_short(own)}"
        return str(own), None

    def _too_big(self, raw_size: int) -> str:
        return f"record of {raw_size} bytes exceeds max_record_bytes={self.max_record_bytes}"

    def _read_all(self) -> tuple[bytes, str | None]:
        """The file's (decompressed) bytes at once; when the stream breaks off, what was read and why it stops.
        No reader holds a whole file: this is what the streamed readers are tested against (tests/io)."""
        with Stream(self.unit.path, self.unit.compression) as f:
            chunks, pos = [], 0
            while True:
                try:
                    chunk = f.read1(readers.CHUNK)
                except DAMAGE as e:
                    if isinstance(e, OSError) and is_io_error(e):
                        raise
                    return b"".join(chunks), f.damage(e, pos)
                if not chunk:
                    return b"".join(chunks), None
                chunks.append(chunk)
                pos += len(chunk)

    def _text_fields(self) -> list[str]:
        return self._tf

    def _text_of(self, obj: dict) -> tuple[str, str | None]:
        fields = self._text_fields()
        if len(fields) == 1 and type(v := obj.get(fields[0])) is str:  # the usual record: one text field, a str
            return v, None
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

    def _id(self, suffix: str | int) -> str:
        return f"{self.source.name}:{self.unit.relpath}@{suffix}"

    def _damaged(self, rid: str, reason: str, rest: bytes | str | None = None) -> None:
        """The rest of the file cannot be read (one quarantine entry: how many records it held is unknown)."""
        self.quarantine(rid, reason, rest)

    def _decode(self, raw: bytes, rid: str) -> str | None:
        """UTF-8 text of a raw record, or None after quarantining it."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.quarantine(rid, f"invalid UTF-8 at byte {e.start} of the record", raw)
            return None


def _conversation_text(conv: Any) -> tuple[str, str | None]:
    if not isinstance(conv, list) or not conv:
        what = type(conv).__name__ if not isinstance(conv, list) else "empty"
        return "", f"field 'conversations' is not a non-empty list (it is {what})"
    parts = []
    for i, turn in enumerate(conv):  # ShareGPT spelling (from / value) or OpenAI's (role / content)
        if not isinstance(turn, dict):
            return "", f"conversation turn {i} is {type(turn).__name__}, expected an object"
        value, who = turn.get("value", turn.get("content")), turn.get("from", turn.get("role"))
        if not isinstance(value, str) or not isinstance(who, str):
            got = ", ".join(f"{k} is {type(v).__name__}" for k, v in turn.items() if not isinstance(v, str))
            return "", (f"conversation turn {i} lacks string 'from' and 'value' (or 'role' and 'content')"
                        + (f": {got}" if got else ""))
        parts.append(value)
    return "\n".join(parts), None


def _not_json(value: Any, depth: int = 0) -> str | None:
    """What in ``value`` JSON cannot represent (e.g. 'bytes', 'datetime' from a Parquet column), or None."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, dict):
        return next((b for b in (_not_json(v, depth + 1) for v in value.values()) if b), None)
    if isinstance(value, (list, tuple)):
        return next((b for b in (_not_json(v, depth + 1) for v in value) if b), None)
    return f"{type(value).__name__} values"


def _short(obj: Any) -> str:
    try:
        s = json.dumps(obj, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        s = repr(obj)
    return s[:2000]


