"""Readers: turn one work unit into documents, quarantining what cannot be read.

Every raw record ends as exactly one document or one quarantine entry; ``ReadResult.records``
counts raw records (blank lines in JSONL are skipped and counted separately, they are not records).

A unit is read as a stream of parts (:func:`read_parts`): JSONL, Parquet and text blocks yield a part whenever the
raw bytes of its records reach ``part_bytes``, so a unit of any size is held one part at a time (a text record is
held up to ``max_record_bytes``, see :mod:`huatuo_ray.io.text_stream`); a JSONL line is read at most
``max_record_bytes`` (+2 for the newline) at once, the rest of a longer line is skipped unread and the record
quarantined with its length and byte offset. Parquet is read in batches of about :data:`PARQUET_BATCH_BYTES` (or ``part_bytes`` when smaller).

Damaged data (a truncated or corrupt compressed stream, a malformed item of a JSON list) keeps the records
before the damage; the rest of the file becomes one quarantine entry naming the decoder's error and the byte
where it starts. A failure of the file system (an ``OSError`` with an errno, see :func:`is_io_error`) is not
data: it raises :class:`~huatuo_ray.errors.InputReadError`, so the unit fails (and is retried) instead of
being committed with its unread records missing.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterator

import pyarrow.parquet as pq

from huatuo_ray.errors import InputReadError
from huatuo_ray.io import jsonl_fast, text_stream
from huatuo_ray.io.compressed import CHUNK, DAMAGE, Stream, is_io_error
from huatuo_ray.io.language import detect_language
from huatuo_ray.io.storage import arrow_source, open_input
from huatuo_ray.io.units import WorkUnit
from huatuo_ray.recipe import SourceConfig

log = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark at the start of a file is not part of its first record
PARQUET_BATCH_BYTES = 8 << 20  # Parquet is decoded in record batches of about this many (uncompressed) bytes
_DECODER = json.JSONDecoder()
NESTED = "JSON nested too deeply to parse (Python's recursion limit)"
FAST_JSON = True  # JSONL lines go through orjson where it gives the same value (False: json.loads for every line)

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
        if (not unicode_checked and _SURROGATE.search(text)) or _SURROGATE.search(rid):
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
        rest = {k: v for k, v in obj.items() if k not in self._not_meta}
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

    def _text_fields(self) -> list[str]:
        return self._tf

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
    def parts(self) -> Iterator[ReadResult]:
        """The unit's records as parts (at least one; the last may be the only one)."""
        fmt = self.unit.format
        try:
            if fmt == "jsonl":
                yield from self._read_jsonl()
            elif fmt == "parquet":
                yield from self._read_parquet()
            elif fmt == "conversations":
                self._read_json_document()
            elif fmt in ("text", "text_blocks"):
                yield from self._read_text(blocks=fmt == "text_blocks")
            else:
                raise ValueError(f"unknown format {fmt!r}")
        except OSError as e:
            if is_io_error(e):  # the file system failed, not the data: the unit fails and is retried
                raise InputReadError(f"{self.source.name}: reading {self.unit.relpath} failed: {e}") from e
            self.quarantine(self._id("file"), f"unreadable file: {e}", None)  # e.g. not gzip at all
        if self._parts == 0 or self.result.records or self.result.blank_lines:
            yield self._take()

    def _id(self, suffix: str | int) -> str:
        return f"{self.source.name}:{self.unit.relpath}@{suffix}"

    def _damaged(self, rid: str, reason: str, rest: bytes | str | None = None) -> None:
        """The rest of the file cannot be read (one quarantine entry: how many records it held is unknown)."""
        self.quarantine(rid, reason, rest)

    def _read_jsonl(self) -> Iterator[ReadResult]:
        cap = self.max_record_bytes + 2  # a record at the cap, and its \r\n
        if self.unit.compression:
            with Stream(self.unit.path, self.unit.compression) as f:
                pos = 0
                while True:
                    try:
                        line = f.readline(cap)
                        if len(line) == cap and not line.endswith(b"\n"):
                            pos += self._long_line(line, pos, f.readline)
                            continue
                    except DAMAGE as e:
                        if isinstance(e, OSError) and is_io_error(e):
                            raise
                        self._damaged(self._id(pos), f"{f.damage(e, pos)}; the rest of the file is unreadable")
                        return
                    if not line:
                        break
                    self._jsonl_line(line, pos)
                    pos += len(line)
                    if self._full():
                        yield self._take()
            return
        with open_input(self.unit.path) as f:
            start, end = self.unit.start, self.unit.end
            if start > 0 and not _skip_partial_line(f, start, end):
                return  # no line starts inside this range (it lies within one long line)
            while True:
                pos = f.tell()
                if end >= 0 and pos >= end:
                    break
                line = f.readline(cap)
                if len(line) == cap and not line.endswith(b"\n"):
                    self._long_line(line, pos, f.readline)
                    continue
                if not line:
                    break
                self._jsonl_line(line, pos)
                if self._full():
                    yield self._take()

    def _long_line(self, head: bytes, pos: int, readline: Callable[[int], bytes]) -> int:
        """Quarantine a line longer than the cap, of which ``head`` was read: the rest is read in chunks and
        dropped, never held. Returns the line's length in bytes (with its newline)."""
        size, tail = len(head), head[-2:]
        while not tail.endswith(b"\n"):
            chunk = readline(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            tail = (tail + chunk)[-2:]
        raw = size - (2 if tail == b"\r\n" else 1 if tail.endswith(b"\n") else 0)
        raw -= len(BOM) if pos == 0 and head.startswith(BOM) else 0
        self.quarantine(self._id(pos), f"record of {raw} bytes exceeds max_record_bytes={self.max_record_bytes} "
                                       "(read up to the cap only)", head[:self.excerpt_chars * 4])
        self._bytes += size
        return size

    def _jsonl_line(self, line: bytes, pos: int) -> None:
        raw = line.rstrip(b"\r\n")
        if pos == 0 and raw.startswith(BOM):  # a UTF-8 byte order mark opens the file, not the record
            raw = raw[len(BOM):]
        self._bytes += len(line)
        if not raw.strip():
            self.result.blank_lines += 1
            return
        rid = self._id(pos)
        if len(raw) > self.max_record_bytes:
            self.quarantine(rid, f"record of {len(raw)} bytes exceeds max_record_bytes={self.max_record_bytes}", raw)
            return
        if FAST_JSON:
            obj = jsonl_fast.loads(raw)  # orjson, for the lines where it gives what json gives (io/jsonl_fast.py)
            if obj is not jsonl_fast.SLOW:
                self.record(obj, rid, len(raw), unicode_checked=True)
                return
        text = self._decode(raw, rid)
        if text is None:
            return
        try:
            obj = json.loads(text)
        except ValueError as e:
            self.quarantine(rid, f"malformed JSON ({getattr(e, 'msg', str(e))}, char {getattr(e, 'pos', '?')})", raw)
            return
        except RecursionError:
            self.quarantine(rid, NESTED, raw)
            return
        self.record(obj, rid, len(raw))

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

    def _read_all(self) -> tuple[bytes, str | None]:
        """The file's (decompressed) bytes; when the stream breaks off, what was read and why it stops."""
        with Stream(self.unit.path, self.unit.compression) as f:
            chunks, pos = [], 0
            while True:
                try:
                    chunk = f.read1(CHUNK)
                except DAMAGE as e:
                    if isinstance(e, OSError) and is_io_error(e):
                        raise
                    return b"".join(chunks), f.damage(e, pos)
                if not chunk:
                    return b"".join(chunks), None
                chunks.append(chunk)
                pos += len(chunk)

    def _read_json_document(self) -> None:
        """A JSON file: a list of records (ShareGPT / HuatuoGPT2 release), one record, an object holding one list
        of records (``{"data": [...]}``), or JSON Lines saved as ``.json``. Records before any damage are read;
        the rest of a damaged or malformed file is quarantined as one entry, with the byte where it starts."""
        raw, damage = self._read_all()
        bom = len(BOM) if raw.startswith(BOM) else 0
        try:
            text = raw[bom:].decode("utf-8")
        except UnicodeDecodeError as e:
            text = raw[bom:bom + e.start].decode("utf-8")
            if damage is None or e.start < len(raw) - bom - 3:  # not just a character cut by the damage
                damage = f"invalid UTF-8 at byte {bom + e.start}"
        doc = _JsonText(text, bom)
        i = doc.skip(0)
        if i == len(text):
            self._damaged(self._id("file"), damage or "empty JSON document")
            return
        if text[i] == "[":
            self._json_array(doc, i + 1, damage)
            return
        value = self._json_value(doc, i, damage)
        if value is None:
            return
        obj, end = value
        if doc.skip(end) < len(text):  # more values follow: JSON Lines in a .json file
            self._json_lines(raw, damage)
            return
        self._json_object(obj, raw, damage)

    def _json_value(self, doc: "_JsonText", i: int, damage: str | None, where: str = "") -> tuple[Any, int] | None:
        """The JSON value at character ``i`` and where it ends; None after quarantining the rest (malformed)."""
        try:
            return _DECODER.raw_decode(doc.text, i)
        except ValueError as e:
            self._json_rest(doc, i, f"malformed JSON at byte {doc.byte(getattr(e, 'pos', i))} "
                                    f"({getattr(e, 'msg', e)}){where}", damage)
        except RecursionError:  # the rest cannot be parsed past this value either
            self._json_rest(doc, i, f"{NESTED} at byte {doc.byte(i)}{where}", damage)
        return None

    def _json_object(self, obj: Any, raw: bytes, damage: str | None) -> None:
        lists = [k for k, v in obj.items() if isinstance(v, list)] if isinstance(obj, dict) else []
        is_record = isinstance(obj, dict) and ("conversations" in obj or any(f in obj for f in self._text_fields()))
        if isinstance(obj, dict) and not is_record:
            if len(lists) == 1:  # {"data": [...]}: the list holds the records
                for i, item in enumerate(obj[lists[0]]):
                    size = len(json.dumps(item, ensure_ascii=False)) if len(raw) > self.max_record_bytes else 0
                    self.record(item, self._id(f"item{i}"), size)
                return
            what = (f"several lists ({', '.join(lists[:5])}): which one holds the records is ambiguous" if lists
                    else f"no list of records (keys: {', '.join(list(obj)[:8])})")
            self.quarantine(self._id("item0"), f"the file holds one JSON object that is no record (no "
                                               f"{self._text_fields()[0]!r} or 'conversations') and {what}", _short(obj))
            return
        self.record(obj, self._id("item0"), len(raw))

    def _json_array(self, doc: "_JsonText", i: int, damage: str | None) -> None:
        text, n = doc.text, 0
        i = doc.skip(i)
        if text.startswith("]", i):
            self._json_trailing(doc, i + 1, damage)
            return
        while True:
            start = i
            value = self._json_value(doc, i, damage, f" in item {n} of the list")
            if value is None:
                return
            obj, i = value
            size = i - start
            if size * 4 > self.max_record_bytes:  # characters -> bytes only when it may matter
                size = len(text[start:i].encode("utf-8"))
            self.record(obj, self._id(f"item{n}"), size)
            n += 1
            i = doc.skip(i)
            if text.startswith(",", i):
                i = doc.skip(i + 1)
            elif text.startswith("]", i):
                self._json_trailing(doc, i + 1, damage)
                return
            else:
                self._json_rest(doc, i, f"the list breaks off after item {n - 1} (byte {doc.byte(i)}: expected "
                                        "',' or ']')", damage)
                return

    def _json_trailing(self, doc: "_JsonText", i: int, damage: str | None) -> None:
        j = doc.skip(i)
        if j < len(doc.text):
            self._json_rest(doc, j, f"data after the end of the JSON list at byte {doc.byte(j)}", damage)
        elif damage:  # the list is whole: only the stream's end (e.g. its checksum) is damaged, no record lost
            log.warning("%s: %s after the end of its JSON list; every record was read", self.unit.relpath, damage)

    def _json_rest(self, doc: "_JsonText", i: int, reason: str, damage: str | None) -> None:
        """Quarantine the rest of a JSON document from character ``i`` (one entry)."""
        at = doc.byte(i)
        if damage:  # a parse error in a damaged stream: the damage is the cause
            reason = f"{damage}; the records from byte {at} on are lost (the JSON breaks off there: {reason})"
        self._damaged(self._id(at), reason, doc.text[i:i + 4 * self.excerpt_chars])

    def _json_lines(self, raw: bytes, damage: str | None) -> None:
        """A .json file that holds one JSON value per line: read as JSON Lines (positions are file bytes)."""
        pos = 0
        lines = raw.splitlines(keepends=True)
        for k, line in enumerate(lines):
            if damage and k == len(lines) - 1 and not line.endswith(b"\n"):
                self._damaged(self._id(pos), f"{damage}; the records from byte {pos} on are lost", line)
                return
            self._jsonl_line(line, pos)
            pos += len(line)
        if damage:
            self._damaged(self._id(pos), f"{damage}; the records from byte {pos} on are lost")

    def _read_text(self, blocks: bool) -> Iterator[ReadResult]:
        """A text file as one record (``text``) or one record per block between blank lines (``text_blocks``),
        streamed: at most ``max_record_bytes`` of a record is held (past that only its head, see
        :mod:`huatuo_ray.io.text_stream`), and blocks are yielded in parts. Ids, offsets and reasons are those of
        reading the file whole."""
        head = self.excerpt_chars * 4  # what quarantine() keeps of raw bytes
        chunks = self._text_chunks()
        if not blocks:
            rec = text_stream.Record(self.max_record_bytes, head)
            for chunk in chunks:
                rec.add(chunk)
            rec.close()
            rid = f"{self.source.name}:{self.unit.relpath}"
            if self._text_damage:  # the one record is incomplete
                self.quarantine(rid, f"{self._text_damage}; the text is incomplete", rec.head if rec.over else rec.raw)
            elif rec.over:
                self._oversize(rec, rid)
            else:
                self._text_record(rec.raw, rid)
            return
        split, pending = text_stream.Blocks(self.max_record_bytes, head), None
        for chunk in itertools.chain(chunks, [None]):  # None: the end
            for block in (split.feed(chunk) if chunk is not None else split.finish()):
                if pending is not None:  # a block is judged once another follows: the last may be cut by damage
                    self._block(pending)
                    if self._full():
                        yield self._take()
                pending = block
        if self._text_damage:
            at = pending.start if pending else split.end
            self._damaged(self._id(at), f"{self._text_damage}; the blocks from byte {at} on are lost",
                          (pending.head if pending.over else pending.raw) if pending else None)
        elif pending is not None:
            self._block(pending)

    def _text_chunks(self) -> Iterator[bytes]:
        """The file's decompressed bytes, chunk by chunk, without a leading BOM; afterwards ``_text_damage`` says why
        the stream broke off (None: it did not)."""
        self._text_damage = None
        with Stream(self.unit.path, self.unit.compression) as f:
            pos, lead = 0, b""  # lead: the first bytes, until it is known whether they open with a BOM
            while True:
                try:
                    chunk = f.read1(CHUNK)
                except DAMAGE as e:
                    if isinstance(e, OSError) and is_io_error(e):
                        raise
                    self._text_damage = f.damage(e, pos)
                    break
                if not chunk:
                    break
                pos += len(chunk)
                if lead is not None:
                    lead += chunk
                    if len(lead) < len(BOM):
                        continue
                    chunk, lead = lead[len(BOM):] if lead.startswith(BOM) else lead, None
                yield chunk
            if lead:
                yield lead

    def _block(self, rec: "text_stream.Record") -> None:
        self._bytes += rec.size
        if rec.over:
            self._oversize(rec, self._id(rec.start))
        else:
            self._text_record(rec.raw, self._id(rec.start))

    def _oversize(self, rec: "text_stream.Record", rid: str) -> None:
        """A text record over ``max_record_bytes`` of which only the head was kept: what judging it whole gives
        (:meth:`_text_record`: empty, then invalid UTF-8, then :meth:`record`'s size check)."""
        if not rec.nonspace:
            self.quarantine(rid, "empty text", rec.head)
        elif rec.bad is not None:
            self.quarantine(rid, f"invalid UTF-8 at byte {rec.bad} of the record", rec.head)
        else:
            self.quarantine(rid, f"record of {rec.size} bytes exceeds max_record_bytes={self.max_record_bytes}",
                            _short({self._text_fields()[0]: rec.head_text()}))

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


class _JsonText:
    """A decoded JSON document and the byte offsets of its characters (offsets are for people: in reasons)."""

    def __init__(self, text: str, bom: int):
        self.text, self.bom = text, bom
        self._ws = re.compile(r"[ \t\r\n]*")

    def skip(self, i: int) -> int:
        return self._ws.match(self.text, i).end()

    def byte(self, i: int) -> int:
        return self.bom + len(self.text[:i].encode("utf-8"))


def read_unit(unit: WorkUnit, source: SourceConfig, max_record_bytes: int, excerpt_chars: int) -> ReadResult:
    """Read one work unit into documents and quarantine entries (all of it at once: one part)."""
    return next(_Reader(unit, source, max_record_bytes, excerpt_chars).parts())


def read_parts(unit: WorkUnit, source: SourceConfig, max_record_bytes: int, excerpt_chars: int,
               part_bytes: int) -> Iterator[ReadResult]:
    """Read one work unit as parts of about ``part_bytes`` raw bytes each (JSONL, Parquet, text blocks; other
    formats are one part). Every raw record lies in exactly one part; at least one part is yielded."""
    return _Reader(unit, source, max_record_bytes, excerpt_chars, part_bytes).parts()


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
