"""``.json`` files read as a stream give what reading them whole gave: the same documents, ids, quarantine
entries (reasons, byte offsets, excerpts) and counts; in memory bounded by the largest record, not the file.

The reference is the reader as it was before streaming (the whole file in memory, then ``json``), kept here
verbatim on top of ``_Reader._read_all``. Files of tricky JSON (damaged, truncated, malformed at every level, BOM,
invalid UTF-8, deep nesting, records over the cap) are read both ways with tiny chunks (every boundary between
chunks), plain, gzip and cut gzip.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import subprocess
import sys
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huatuo_ray.io import readers
from huatuo_ray.io.readers import BOM, NESTED, ReadResult, _Reader, read_parts
from huatuo_ray.io.readers.record import _short
from huatuo_ray.io.units import plan_units
from huatuo_ray.recipe import SourceConfig


_DECODER = json.JSONDecoder()


class WholeFile(_Reader):
    """The reader of .json files before streaming (the code as it was)."""

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
            logging.getLogger(__name__).warning("%s: %s after the end of its JSON list; every record was read", self.unit.relpath, damage)

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


def reference(reader: WholeFile) -> ReadResult:
    reader._read_json_document()
    return reader._take()  # the part as the readers hand it on (languages detected)


def _unit(path, fmt="auto"):
    source = SourceConfig(name="s", path=str(path), type="web", format=fmt, language="en")
    (unit,) = plan_units([source], 1 << 30, 100)
    return unit, source


def both(path, cap, excerpt, part_bytes=0):
    """The file read whole (the old reader) and streamed (in parts), and the parts."""
    unit, source = _unit(path)
    old = reference(WholeFile(unit, source, cap, excerpt))
    parts = list(read_parts(unit, source, cap, excerpt, part_bytes))
    new = ReadResult(docs=[d for p in parts for d in p.docs], quarantined=[q for p in parts for q in p.quarantined],
                     records=sum(p.records for p in parts), blank_lines=sum(p.blank_lines for p in parts))
    return old, new, parts


def same(path, cap=1 << 20, excerpt=50, part_bytes=0) -> ReadResult:
    old, new, parts = both(path, cap, excerpt, part_bytes)
    assert new.quarantined == old.quarantined
    assert new.docs == old.docs
    assert (new.records, new.blank_lines) == (old.records, old.blank_lines)
    assert new.records == len(new.docs) + len(new.quarantined)
    assert len(parts) == 1 or all(p.records or p.blank_lines for p in parts)
    return new


def write(folder, data: bytes, compress: str, name="f.json"):
    if compress == "none":
        path = folder / name
        path.write_bytes(data)
    else:
        path = folder / f"{name}.gz"
        z = gzip.compress(data)
        path.write_bytes(z[:max(10, len(z) - 9 - len(z) // 3)] if compress == "cut" else z)  # cut: breaks off
    return path


# -- documents of every shape, then damaged -------------------------------------------------------
TEXT = st.sampled_from(["fine text", "", "  ", "中文 文本", "\ud800 lone", "a\nb", "x" * 40, "q\"uote"])
ID = st.one_of(st.none(), st.sampled_from(["a", "b", "", " "]), st.integers(-3, 3), st.booleans(), st.just([1]))
CONV = st.lists(st.fixed_dictionaries({"from": st.sampled_from(["human", "gpt"]), "value": TEXT}), max_size=3)
RECORD = st.one_of(
    st.fixed_dictionaries({"text": TEXT}, optional={"id": ID, "meta": st.dictionaries(st.sampled_from("kl"),
                                                                                        st.integers(), max_size=2)}),
    st.fixed_dictionaries({"conversations": CONV}, optional={"id": ID}),
    st.fixed_dictionaries({"title": TEXT}),
    st.sampled_from([1, "str", None, [1, 2], 1.5e300, {"text": "deep", "meta": [[[[1]]]]}]),
)


def _dump(value: Any, style: int) -> str:
    if style == 0:
        return json.dumps(value, ensure_ascii=False)
    if style == 1:
        return json.dumps(value, indent=1)
    return json.dumps(value, separators=(",", ":"))


@st.composite
def documents(draw) -> bytes:
    records = draw(st.lists(RECORD, max_size=6))
    shape = draw(st.sampled_from(["list", "wrapped", "several", "record", "lines", "scalar", "nested"]))
    style = draw(st.integers(0, 2))
    if shape == "list":
        text = _dump(records, style)
    elif shape == "wrapped":
        text = _dump({"meta": draw(st.sampled_from([1, "x", None])), "data": records}, style)
    elif shape == "several":
        text = _dump({"train": records, "test": records[:1]}, style)
    elif shape == "record":
        text = _dump(records[0] if records else {}, style)
    elif shape == "lines":
        text = draw(st.sampled_from(["\n", "\r\n", "\r", "\n\n"])).join(json.dumps(r) for r in records)
    elif shape == "scalar":
        text = json.dumps(draw(st.sampled_from([1, "s", None, True])))
    else:  # nested past the recursion limit, or not
        depth = draw(st.sampled_from([5, 3000]))
        deep = '{"text": "x", "meta": ' + "[" * depth + "1" + "]" * depth + "}"
        text = draw(st.sampled_from(["[{\"text\": \"a\"}, %s]", "{\"data\": [%s]}", "%s"])) % deep
    data = text.encode("utf-8", "surrogatepass")
    for _ in range(draw(st.integers(0, 2))):  # damage: bytes in, bytes out, a cut
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["insert", "delete", "cut"]))
        if how == "insert":
            junk = draw(st.sampled_from([b",", b"]", b"}", b"{", b"[", b'"', b"\\", b":", b"\xff", b"\xe4\xb8", b"x",
                                         b"\n", b"1.", b"tr", b" ,", b"NaN", b"\\ud800", b"\x01", b"  "]))
            data = data[:at] + junk + data[at:]
        elif how == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 3)):]
        else:
            data = data[:at]
    if draw(st.booleans()):
        data += draw(st.sampled_from([b" ", b"\n", b" x", b"[]", b'{"text": "after"}']))
    return (BOM if draw(st.booleans()) else b"") + data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=documents(), cap=st.sampled_from([1, 30, 200, 1 << 20]), excerpt=st.integers(0, 6),
       chunk=st.sampled_from([1, 2, 3, 7, 64, 1 << 16]), compress=st.sampled_from(["none", "gzip", "cut"]),
       part_bytes=st.sampled_from([0, 5]))
def test_stream_equals_whole_file(tmp_path_factory, monkeypatch, data, cap, excerpt, chunk, compress, part_bytes):
    monkeypatch.setattr(readers, "CHUNK", chunk)
    same(write(tmp_path_factory.mktemp("j"), data, compress), cap, excerpt, part_bytes)


KNOWN = {
    "empty": b"", "blank": b" \n\t ", "bom only": BOM, "open list": b"[", "open object": b"{",
    "trailing comma in the list": b'[{"text": "a"}, ]', "trailing comma in a wrapped list": b'{"data": [{"text": "a"},]}',
    "trailing comma in the object": b'{"data": [{"text": "a"}],}', "no colon": b'{"data" [1]}', "number key": b'{1: 2}',
    "no comma between members": b'{"data": [] "x": 1}', "no comma between items": b'{"data": [{"text": "a"} 2]}',
    "data after the list": b'[{"text": "a"}] x', "list after the list": b'[{"text": "a"}] []',
    "list breaks off": b'[{"text": "a"} {"text": "b"}]', "unterminated": b'[{"text": "a}]',
    "NaN and infinity": b'[{"text": "a", "v": NaN}, {"text": "b", "v": -Infinity}, {"text": "c", "v": 1e999}]',
    "an int of 5000 digits": b'[{"text": "a"}, {"text": "b", "n": ' + b"7" * 5000 + b"}]",
    "invalid UTF-8 in the list": b'[{"text": "a"}, {"text": "b\xff"}, {"text": "c"}]',
    "invalid UTF-8 after the list": b'[{"text": "a"}]  \xff',
    "invalid UTF-8 after a record": b'{"text": "a"} \xe4\xb8',
    "a control character": b'[{"text": "a\x01"}]',
    "escapes": b'[{"text": "\\u4e2d\\ud83d\\ude00 \\n"}, {"text": "\\ud800"}, {"text": "\\x"}]',
    "lines with invalid UTF-8": b'{"text": "a"}\n{"text": "\xff"}\n{"text": "c"}',
    "lines split by CR": b'{"text": "a"}\r{"text": "b"}\r\n\r{"text": "c"}\r',
    "repeated key": b'{"data": [{"text": "a"}], "data": [{"text": "b"}, {"text": "c"}]}',
    "repeated key, one a list": b'{"data": 1, "x": [], "data": [{"text": "b"}]}',
    "a record with a list id": b'{"id": [1, 2], "text": "' + b"x" * 300 + b'"}',
    "a record with a bad id": b'{"id": " ", "text": "' + b"x" * 300 + b'"}',
    "a record after its list": b'{"data": [{"text": "a"}], "text": "the object is the record"}',
    "no list": b'{"a": 1, "b": "' + b"y" * 300 + b'"}',
    "several lists": b'{"train": [{"text": "a"}], "test": [{"text": "' + b"z" * 300 + b'"}]}',
    "empty wrapped list": b'{"data": [], "n": 0}', "empty object": b"{}", "empty list": b"[]",
    "whitespace everywhere": b' { "data" :\n [ {"text":"a"} ,\r\n\t{"text":"b"} ] } \n',
}


@pytest.mark.parametrize("name", list(KNOWN))
@pytest.mark.parametrize("cap", [40, 1 << 20])  # 40: the objects are over max_record_bytes (read member by member)
@pytest.mark.parametrize("chunk", [3, 1 << 16])
@pytest.mark.parametrize("compress", ["none", "cut"])
def test_known_cases(tmp_path, monkeypatch, name, cap, chunk, compress):
    monkeypatch.setattr(readers, "CHUNK", chunk)
    same(write(tmp_path, KNOWN[name], compress), cap, 20, part_bytes=7)


# -- large files -----------------------------------------------------------------------------------
def _conv(i: int, size: int = 800) -> dict:
    return {"id": f"c{i}", "conversations": [{"from": "human", "value": f"question {i} " + "头痛" * (size // 6)},
                                             {"from": "gpt", "value": "answer " * (size // 14)}]}


def _write_big(path, shape: str, n: int, size: int) -> int:
    """A file of ``n`` records of about ``size`` bytes (written fast: the same block again and again)."""
    block = [json.dumps(_conv(i, size), ensure_ascii=False) for i in range(1000)]
    open_, close_, sep = {"list": ("[", "]", ",\n"), "wrapped": ('{"source": "big", "data": [', "]}", ", "),
                          "lines": ("", "\n", "\n")}[shape]
    with open(path, "w", encoding="utf-8") as f:
        f.write(open_)
        for k in range(n // 1000):
            f.write(sep.join(block) + (sep if k < n // 1000 - 1 else ""))
        f.write(close_)
    return path.stat().st_size


PROBE = """
import json, resource, sys
from huatuo_ray.io.readers import read_parts
from huatuo_ray.io.units import plan_units
from huatuo_ray.recipe import SourceConfig
src = SourceConfig(name="s", path=sys.argv[1], type="web", language="en")
(unit,) = plan_units([src], 1 << 30, 100)
def rss():  # resident memory now, in bytes
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
before, now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss()
docs, quarantined, parts, in_order, most = 0, 0, 0, True, 0
for p in read_parts(unit, src, 1 << 20, 50, part_bytes=1 << 20):
    parts += 1
    most = max(most, rss() - now)
    quarantined += len(p.quarantined)
    for d in p.docs:
        in_order &= d["id"] == f"c{docs % 1000}"
        docs += 1
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps({"docs": docs, "quarantined": quarantined, "parts": parts, "in_order": in_order, "grown": grown,
                  "most": most}))
"""


@pytest.mark.parametrize("shape", ["list", "wrapped", "lines"])
def test_a_large_json_file_is_read_in_bounded_memory(tmp_path, shape):
    path = tmp_path / "big.json"
    n = 45_000  # about 107 MB
    size = _write_big(path, shape, n, 1600)
    assert size > 100 << 20
    t = time.time()
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["docs"] == n and got["quarantined"] == 0 and got["in_order"], got
    assert got["parts"] > 50, got  # parts of about 1 MB, not one part of the whole file
    # read whole, the file's bytes and text alone are twice its size; streamed, memory grows by a few MB
    grown = max(got["grown"], got["most"])  # the peak RSS's growth; the most the RSS grew, seen after each part
    assert grown < 48 << 20, f"reading a {size >> 20} MB .json grew the RSS by {grown >> 20} MB"
    print(f"{shape}: {size >> 20} MB in {time.time() - t:.1f} s, RSS grew {got['most'] / 2**20:.1f} MB at most "
          f"between parts, peak RSS {got['grown'] / 2**20:.1f} MB")


def test_damage_deep_into_a_large_gz_file(tmp_path):
    src = tmp_path / "src.json"
    _write_big(src, "list", 20_000, 600)
    blob = gzip.compress(src.read_bytes(), 1)
    path = tmp_path / "sft.json.gz"
    path.write_bytes(blob[: len(blob) * 9 // 10])  # the stream breaks off 90% in
    r = same(path, part_bytes=1 << 20)
    assert 17_000 < len(r.docs) < 20_000 and [d["id"] for d in r.docs[:3]] == ["c0", "c1", "c2"]
    (q,) = r.quarantined
    assert q["reason"].startswith("damaged gzip stream at decompressed byte ") and "the records from byte" in q["reason"]


def test_malformed_item_deep_into_a_large_file(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    _write_big(path, "list", 20_000, 600)
    data = bytearray(path.read_bytes())
    at = data.index(b'"id": "c500"', len(data) * 3 // 4)
    data[at + 3] = ord("x")  # "idx: ..." : the key's closing quote is gone
    path.write_bytes(bytes(data))
    r = same(path, part_bytes=1 << 20)
    (q,) = r.quarantined
    assert q["reason"].startswith("malformed JSON at byte ") and " of the list" in q["reason"]
    assert r.docs[-1]["id"] == "c499" and 15_000 < len(r.docs) < 20_000


@pytest.mark.parametrize("shape", ["list", "record", "wrapped"])
def test_a_record_over_max_record_bytes(tmp_path, shape):
    cap = 1 << 20
    huge = _conv(7, 3 * cap)
    small = [_conv(i, 200) for i in range(5)]
    value = {"list": small[:2] + [huge] + small[2:], "record": huge, "wrapped": {"data": small[:2] + [huge]}}[shape]
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    r = same(path, cap=cap)
    (q,) = r.quarantined
    assert q["id"] == "c7" and re.fullmatch(rf"record of \d+ bytes exceeds max_record_bytes={cap}", q["reason"]), q
    assert len(r.docs) == {"list": 5, "record": 0, "wrapped": 2}[shape]
