"""JSON documents (``.json``), streamed: a list of records (ShareGPT / HuatuoGPT2 release), one record, an object
holding one list of records (``{"data": [...]}``), or JSON Lines saved as ``.json``.

Memory is the largest single value (a record, or a member of the top-level object that is no list) plus a read
chunk, whatever the file's size; records are yielded in parts. The outcome is that of parsing the whole file with
Python's ``json`` (each value is parsed by it, see :mod:`.json_stream`): the same documents, ids, sizes and
quarantine reasons. Records before any damage are read; the rest of a damaged or malformed file is quarantined as
one entry, with the byte where it starts. An object holding one list is read twice: once to learn that no other
member makes it a record or ambiguous, once for the records.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterator

from huatuo_ray.io.readers.json_stream import JsonText, Malformed, Source, Utf8, structural_error
from huatuo_ray.io.readers.jsonl import JsonlReader
from huatuo_ray.io.readers.record import NESTED, ReadResult, _short

log = logging.getLogger(__name__)
_SHORT = 2000  # what _short keeps of a value's JSON


class _Walk:
    """What reading a top-level JSON object member by member found, and the object itself while it is small."""

    def __init__(self, limit: int, id_field: str):
        self.limit, self.id_field = limit, id_field
        self.obj: dict | None = {} if limit >= 0 else None  # None: over ``limit`` characters, not kept
        self.kinds: dict[str, bool] = {}  # key -> whether its value is a list, keys in the order they first appear
        self.last: dict[str, int] = {}  # key -> the member holding its value (a repeated key: the last one)
        self.head: list[str] | None = ["{"]  # the start of json.dumps(obj) (None: a key repeats, unknown)
        self._head_len = 1
        self.own: Any = None  # the value of ``id_field``
        self.own_list = False  # ... is a list (not kept)
        self.end = -1

    def add_head(self, s: str) -> None:
        if self.head is not None and self._head_len < _SHORT:
            self.head.append(s)
            self._head_len += len(s)

    def excerpt(self) -> str:
        return "".join(self.head)[:_SHORT]

    def key(self, key: str, m: int) -> None:
        if key in self.kinds:
            self.head = None
        self.add_head((", " if m else "") + json.dumps(key, ensure_ascii=False) + ": ")

    def member(self, key: str, value: Any, is_list: bool, m: int, span: int) -> None:
        self.kinds[key], self.last[key] = is_list, m
        if not is_list:
            self.add_head(json.dumps(value, ensure_ascii=False, default=str))
        if key == self.id_field:
            self.own, self.own_list = (None, True) if is_list else (value, False)
        self.keep(key, value, span)

    def keep(self, key: str | None, value: Any, span: int) -> None:
        if self.obj is not None and span > self.limit:
            self.obj = None
        elif self.obj is not None and key is not None:
            self.obj[key] = value


class JsonReader(JsonlReader):
    def _read_json_document(self) -> Iterator[ReadResult]:
        """A ``.json`` file, streamed (see the module's docstring)."""
        doc, lines = JsonText(self.unit), False
        try:
            i = doc.skip(0)
            if doc.done(i):
                self._damaged(self._id("file"), doc.damage or "empty JSON document")
                return
            if doc.char(i) == "[":
                yield from self._json_array(doc, i + 1)
                return
            is_object = doc.char(i) == "{"
            if is_object:
                walk = self._json_walk(doc, i)
                if walk is None:
                    return
                end = walk.end
            else:
                value = self._json_value(doc, i)
                if value is None:
                    return
                obj, end = value
            lines = not doc.done(doc.skip(end))  # more values follow: JSON Lines in a .json file
            if not lines:
                total = doc.total_bytes()
                if is_object:
                    yield from self._json_object(walk, i, total)
                else:
                    self.record(obj, self._id("item0"), total)
        finally:
            doc.close()
        if lines:
            yield from self._json_lines()

    def _json_value(self, doc: JsonText, i: int, where: str = "") -> tuple[Any, int] | None:
        """The JSON value at character ``i`` and where it ends; None after quarantining the rest (malformed)."""
        try:
            return doc.value(i)
        except Malformed as e:
            self._json_rest(doc, i, f"malformed JSON at byte {doc.byte(i if e.pos is None else e.pos)} "
                                    f"({e.msg}){where}")
        except RecursionError:  # the rest cannot be parsed past this value either
            self._json_rest(doc, i, f"{NESTED} at byte {doc.byte(i)}{where}")
        return None

    def _json_array(self, doc: JsonText, i: int) -> Iterator[ReadResult]:
        n = 0
        i = doc.skip(i)
        if doc.char(i) == "]":
            self._json_trailing(doc, i + 1)
            return
        while True:
            start = i
            value = self._json_value(doc, i, f" in item {n} of the list")
            if value is None:
                return
            obj, i = value
            size = i - start
            self._bytes += size
            if size * 4 > self.max_record_bytes:  # characters -> bytes only when it may matter
                size = doc.byte_len(start, i)
            self.record(obj, self._id(f"item{n}"), size)
            n += 1
            doc.release(i)
            i = doc.skip(i)
            c = doc.char(i)
            if c == ",":
                i = doc.skip(i + 1)
            elif c == "]":
                self._json_trailing(doc, i + 1)
                return
            else:
                self._json_rest(doc, i, f"the list breaks off after item {n - 1} (byte {doc.byte(i)}: expected "
                                        "',' or ']')")
                return
            if self._full():
                yield self._take()

    def _json_trailing(self, doc: JsonText, i: int) -> None:
        j = doc.skip(i)
        if not doc.done(j):
            self._json_rest(doc, j, f"data after the end of the JSON list at byte {doc.byte(j)}")
        elif doc.damage:  # the list is whole: only the stream's end (e.g. its checksum) is damaged, no record lost
            log.warning("%s: %s after the end of its JSON list; every record was read", self.unit.relpath, doc.damage)

    def _json_rest(self, doc: JsonText, i: int, reason: str) -> None:
        """Quarantine the rest of a JSON document from character ``i`` (one entry)."""
        self._json_rest_at(doc, doc.byte(i), doc.excerpt(i, 4 * self.excerpt_chars), reason)

    def _json_rest_at(self, doc: JsonText, at: int, excerpt: str, reason: str) -> None:
        damage = doc.final_damage()  # known once the whole file is read, as it was when the file was read whole
        if damage:  # a parse error in a damaged stream: the damage is the cause
            reason = f"{damage}; the records from byte {at} on are lost (the JSON breaks off there: {reason})"
        self._damaged(self._id(at), reason, excerpt)

    # -- a top-level object -----------------------------------------------------------------------
    def _json_walk(self, doc: JsonText, i: int) -> _Walk | None:
        """Read the object at ``i`` member by member, holding it only while it is at most ``max_record_bytes``
        characters; None after quarantining the rest of the file, with the reason parsing it whole gives."""
        at, excerpt = doc.byte(i), doc.excerpt(i, 4 * self.excerpt_chars)
        walk = _Walk(self.max_record_bytes, self.source.id_field)
        try:
            for _ in self._walk(doc, i, walk):
                pass
        except Malformed as e:
            where = at if e.pos is None else doc.byte(e.pos)
            self._json_rest_at(doc, at, excerpt, f"malformed JSON at byte {where} ({e.msg})")
            return None
        except RecursionError:
            self._json_rest_at(doc, at, excerpt, f"{NESTED} at byte {at}")
            return None
        return walk

    def _walk(self, doc: JsonText, i: int, walk: _Walk, member: int = -1,
              on_item: Callable[[Any, int, int, int], None] | None = None) -> Iterator[ReadResult]:
        """The object at ``i`` as json's scanner reads it (errors are its own); the items of list ``member`` go to
        ``on_item`` (item, start, end, index), with a part yielded whenever one is full."""
        start, j = i, doc.skip(i + 1)
        if doc.char(j) == "}":
            walk.add_head("}")
            walk.end = j + 1
            return
        mark, context, m = i + 1, "{", 0  # the text since the last value, and a stand-in for what precedes it
        while True:
            if doc.char(j) != '"':
                raise structural_error(doc, context, mark, j)
            key, j = doc.value(j)  # a string, read as json reads a key
            walk.key(key, m)
            j = doc.skip(j)
            if doc.char(j) != ":":
                raise structural_error(doc, context, mark, j)
            j = doc.skip(j + 1)
            if doc.char(j) == "[":
                items: list | None = [] if walk.obj is not None else None
                j = yield from self._walk_list(doc, j, walk, start, items, on_item if m == member else None)
                walk.member(key, items, True, m, j - start)
            else:
                value, j = doc.value(j)
                walk.member(key, value, False, m, j - start)
            m += 1
            doc.release(j)
            mark, context = j, '{"":0'
            j = doc.skip(j)
            c = doc.char(j)
            if c == "}":
                walk.add_head("}")
                walk.end = j + 1
                return
            if c != ",":
                raise structural_error(doc, context, mark, j)
            j = doc.skip(j + 1)

    def _walk_list(self, doc: JsonText, j: int, walk: _Walk, start: int, items: list | None,
                   on_item: Callable[[Any, int, int, int], None] | None) -> Iterator[ReadResult]:
        """A list inside the top-level object, item by item; returns where it ends."""
        walk.add_head("[")
        i = doc.skip(j + 1)
        if doc.char(i) == "]":
            walk.add_head("]")
            return i + 1
        mark, context, n = j + 1, "[", 0
        while True:
            s = i
            item, i = doc.value(i)
            walk.add_head((", " if n else "") + json.dumps(item, ensure_ascii=False, default=str))
            if items is not None:
                items.append(item)
                walk.keep(None, None, i - start)
                items = items if walk.obj is not None else None
            if on_item is not None:
                on_item(item, s, i, n)
                if self._full():
                    yield self._take()
            n += 1
            doc.release(i)
            mark, context = i, "[0"
            i = doc.skip(i)
            c = doc.char(i)
            if c == "]":
                walk.add_head("]")
                return i + 1
            if c != ",":
                raise structural_error(doc, context, mark, i)
            i = doc.skip(i + 1)
            if doc.char(i) == "]":  # a trailing comma: json says what it says of one
                raise structural_error(doc, context, mark, i)

    def _json_object(self, walk: _Walk, i: int, total: int) -> Iterator[ReadResult]:
        """What the file's one object holds: records in its one list, one record, or no record (quarantined)."""
        if walk.obj is not None:
            self._json_object_whole(walk.obj, total)
            return
        lists = [k for k, is_list in walk.kinds.items() if is_list]
        is_record = "conversations" in walk.kinds or any(f in walk.kinds for f in self._text_fields())
        if not is_record and len(lists) == 1:
            yield from self._json_wrapped(i, walk.last[lists[0]])
        elif walk.head is None or (is_record and walk.own_list):  # the excerpt or the id needs the object whole
            doc = JsonText(self.unit)
            try:
                value = self._json_value(doc, doc.skip(0))
            finally:
                doc.close()
            if value is not None:
                self._json_object_whole(value[0], total)
        elif not is_record:
            self._no_record(lists, list(walk.kinds), walk.excerpt())
        else:  # one record of over max_record_bytes (record()'s checks, without holding it)
            rid, problem = self._own_id(walk.own, self._id("item0"))
            self.quarantine(self._id("item0") if problem else rid, problem or self._too_big(total), walk.excerpt())

    def _json_object_whole(self, obj: Any, total: int) -> None:
        lists = [k for k, v in obj.items() if isinstance(v, list)] if isinstance(obj, dict) else []
        is_record = isinstance(obj, dict) and ("conversations" in obj or any(f in obj for f in self._text_fields()))
        if isinstance(obj, dict) and not is_record:
            if len(lists) == 1:  # {"data": [...]}: the list holds the records
                for i, item in enumerate(obj[lists[0]]):
                    size = len(json.dumps(item, ensure_ascii=False)) if total > self.max_record_bytes else 0
                    self.record(item, self._id(f"item{i}"), size)
                return
            self._no_record(lists, list(obj), _short(obj))
            return
        self.record(obj, self._id("item0"), total)

    def _no_record(self, lists: list[str], keys: list[str], excerpt: str) -> None:
        what = (f"several lists ({', '.join(lists[:5])}): which one holds the records is ambiguous" if lists
                else f"no list of records (keys: {', '.join(keys[:8])})")
        self.quarantine(self._id("item0"), f"the file holds one JSON object that is no record (no "
                                           f"{self._text_fields()[0]!r} or 'conversations') and {what}", excerpt)

    def _json_wrapped(self, i: int, member: int) -> Iterator[ReadResult]:
        """The records of list ``member`` of the object at ``i``, read again (the first reading found it whole)."""
        def on_item(item: Any, s: int, e: int, n: int) -> None:
            self.record(item, self._id(f"item{n}"), len(json.dumps(item, ensure_ascii=False)))
            self._bytes += e - s

        doc = JsonText(self.unit)
        try:
            yield from self._walk(doc, doc.skip(0), _Walk(-1, self.source.id_field), member, on_item)
        finally:
            doc.close()

    # -- JSON Lines in a .json file -----------------------------------------------------------------
    def _json_lines(self) -> Iterator[ReadResult]:
        """A .json file that holds one JSON value per line: read as JSON Lines (positions are file bytes), lines
        split as ``bytes.splitlines`` splits the whole file; a line is held whole."""
        src, utf8 = Source(self.unit), Utf8()  # utf8: the damage, as decoding the whole file named it
        try:
            pos, pending = 0, []  # pending: a line not ended yet
            while chunk := src.read():
                utf8.feed(chunk)
                if b"\n" not in chunk and b"\r" not in chunk:
                    pending.append(chunk)
                    continue
                lines = b"".join([*pending, chunk]).splitlines(keepends=True)
                pending = [] if lines[-1].endswith(b"\n") else [lines.pop()]  # after a \r may come a \n
                for line in lines:
                    self._jsonl_line(line, pos)
                    pos += len(line)
                    if self._full():
                        yield self._take()
            utf8.finish()
            damage = utf8.damage(src.damage)
            lines = b"".join(pending).splitlines(keepends=True)
            for k, line in enumerate(lines):
                if damage and k == len(lines) - 1 and not line.endswith(b"\n"):
                    self._damaged(self._id(pos), f"{damage}; the records from byte {pos} on are lost", line)
                    return
                self._jsonl_line(line, pos)
                pos += len(line)
            if damage:
                self._damaged(self._id(pos), f"{damage}; the records from byte {pos} on are lost")
        finally:
            src.close()
