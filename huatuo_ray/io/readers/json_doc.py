"""JSON documents (``.json``)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from huatuo_ray.io import readers  # the package's settings, read when used (tests set them)
from huatuo_ray.io.compressed import DAMAGE, Stream, is_io_error
from huatuo_ray.io.readers.record import BOM, NESTED, RecordReader, _short

log = logging.getLogger(__name__)
_DECODER = json.JSONDecoder()


class JsonReader(RecordReader):
    def _read_all(self) -> tuple[bytes, str | None]:
        """The file's (decompressed) bytes; when the stream breaks off, what was read and why it stops."""
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

class _JsonText:
    """A decoded JSON document and the byte offsets of its characters (offsets are for people: in reasons)."""

    def __init__(self, text: str, bom: int):
        self.text, self.bom = text, bom
        self._ws = re.compile(r"[ \t\r\n]*")

    def skip(self, i: int) -> int:
        return self._ws.match(self.text, i).end()

    def byte(self, i: int) -> int:
        return self.bom + len(self.text[:i].encode("utf-8"))


