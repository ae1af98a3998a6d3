"""The orjson fast path of the JSONL reader gives exactly what the standard-library path gives.

Two levels: :func:`huatuo_ray.io.jsonl_fast.loads` against ``json.loads`` on single lines (hostile ones and
generated ones), and the whole reader with the fast path on and off over files of mixed good and bad lines
(documents, quarantine entries with their reasons, ids and byte offsets, counts, parts).
"""

import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huatuo_ray.io import jsonl_fast, readers
from huatuo_ray.io.language import detect_language
from huatuo_ray.io.readers import read_parts
from huatuo_ray.io.units import plan_units
from huatuo_ray.recipe import SourceConfig


def typed(v):
    """A value compared with its types: repr tells 1 from 1.0 and True, -0.0 from 0.0, keeps key order, and
    shows NaN as nan on both sides (C code, so a list nested 500 deep is fine)."""
    return repr(v)


def slow(raw: bytes):
    """What the exact path makes of a line: its value, or the kind of error."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid utf-8"
    try:
        return typed(json.loads(text))
    except ValueError:
        return "malformed"
    except RecursionError:
        return "too deep"


def check_line(raw: bytes) -> bool:
    """The fast path agrees with the exact one, or defers to it; True when it took the line itself."""
    fast = jsonl_fast.loads(raw)
    if fast is jsonl_fast.SLOW:
        return False
    assert typed(fast) == slow(raw), raw[:200]
    return True


HOSTILE = [
    b'{"id": "a", "text": "plain"}',
    b'{"a": 1e400}', b'{"a": -1e400}', b'{"a": 1.7976931348623157e309}', b'{"a": 5e-324}', b'{"a": 2.5e-400}',
    b'{"a": -0}', b'{"a": -0.0}', b'{"a": 0.1}', b'{"a": 1.0}', b'{"a": 1E2}', b'{"a": 1e-7}',
    b'{"a": 123456789012345678901234567890}', b'{"a": 18446744073709551615}', b'{"a": 18446744073709551616}',
    b'{"a": 9223372036854775807}', b'{"a": 9223372036854775808}', b'{"a": -9223372036854775808}',
    b'{"a": -9223372036854775809}', b'{"id": 99999999999999999999999, "text": "big id"}',
    b'{"a": [1.5, 99999999999999999999]}', b'{"a": {"b": 1.5, "c": -99999999999999999999}}',
    b'{"a": 1.5, "text": "12345678901234567890 digits in a string"}',
    b'{"a":1,"b":2,"a":3}', b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": nan}',
    b'{"a": "x\x01y"}', b'{"a": "\t"}', b'{"a": "\\u0000"}', b'{"a":"\x7f"}',
    b'{"a": "\\ud800"}', b'{"a": "\\udc00\\ud800"}', b'{"a": "\\ud83d\\ude00"}', b'{"\\ud800": 1}',
    b'{"a": "\xed\xa0\x80"}', b'{"a": "\xc0\xaf"}', b'{"a": "\xf4\x90\x80\x80"}', b'{"a": "\xff"}',
    b'{"a": "\xe4\xb8"}', b'{"a": "\xf0\x9f\x98\x80"}', b'"\xe2\x80\xa8"',
    b'\xef\xbb\xbf{}', b'{}\xef\xbb\xbf', b'\x0c{}', b'{}\x0b', b'\xc2\xa0{}', b'{"a":1}\x00', b'\x00',
    b' {"a" : [1 ,2]} ', b'\t{}\t', b'{}\r', b'{}\r{}',
    b'01', b'-', b'{"a": .5}', b'{"a": 1.}', b'{"a": +1}', b'{"a": 0x10}', b'{"a": 1_000}',
    b'{"a": true, "b": false, "c": null}', b'{"a": True}', b"{'a': 1}", b'{"a": 1,}', b'[1,]', b'{,}',
    b'[' * 1100 + b']' * 1100, b'[' * 500 + b']' * 500, b'{"a":' * 600 + b'1' + b'}' * 600,
    b'[1, 2, 3]', b'"just a string"', b'42', b'null', b'true', b'{"text": ["a", "b"]}',
    b'{"text": "' + "中文段落".encode() * 500 + b'"}',
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_fast_loads_agrees_or_defers(raw):
    check_line(raw)


def test_fast_path_takes_ordinary_lines():
    assert check_line(b'{"id": "a", "text": "plain", "n": 3, "x": [1, {"y": null}]}')
    assert check_line(b'{"a": 1.5, "text": "short digits 1234"}')  # a float, but no long digit run
    assert not check_line(b'{"a": 1.5, "b": 12345678901234567890}')  # a float and 20 digits: exact path
    assert not check_line(b'{"a": 123456789012345678901234567890}')  # orjson would give a float


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None), max_size=20),  # lone surrogates included
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(st.characters(codec=None), max_size=5), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, ascii_only=st.booleans(), cut=st.integers(0, 400), byte=st.integers(0, 255),
       mutate=st.sampled_from(["none", "cut", "insert", "replace"]))
def test_fast_loads_property(value, ascii_only, cut, byte, mutate):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")  # lone surrogates: bad bytes
    if mutate == "cut":
        raw = raw[:cut]
    elif mutate == "insert":
        raw = raw[:cut] + bytes([byte]) + raw[cut:]
    elif mutate == "replace" and raw:
        i = cut % len(raw)
        raw = raw[:i] + bytes([byte]) + raw[i + 1:]
    check_line(raw)


# --- the whole reader: fast path on and off --------------------------------------------------

MIXED = [
    b'\xef\xbb\xbf{"id": "first", "text": "after a byte order mark"}',
    b'{"id": "ok", "text": "fine", "url": "https://x", "n": 3, "score": 0.25}',
    b"",
    b"   \t",
    b'{"text": "no id, meta with a float", "w": 1.5, "big": 99999999999999999999}',
    b'{"id": 12345678901234567890123, "text": "a huge integer id"}',
    b'{"id": 1.5, "text": "a float id"}',
    b'{"id": true, "text": "a bool id"}',
    b'{"id": "  ", "text": "a blank id"}',
    b'\xef\xbb\xbf{"id": "bom2", "text": "a byte order mark inside the file"}',
    b'{"text": "unterminated',
    b'{"text": "\xff\xfe bad bytes"}',
    b'{"text": "encoded surrogate \xed\xa0\x80"}',
    b'{"title": "no text field"}',
    b'{"text": ""}',
    b'{"text": "   \\n  "}',
    b'{"text": 42}',
    b'{"text": null}',
    b'[1, 2, 3]',
    b'"just a string"',
    b'null',
    b'7',
    b'{"id": {"nested": 1}, "text": "bad id"}',
    b'{"text": "lone \\ud800 surrogate"}',
    b'{"id": "s\\udc00", "text": "surrogate in the id"}',
    b'{"\\ud800key": 1, "text": "surrogate in a key"}',
    b'{"text": "NaN in meta", "m": NaN}',
    b'{"text": "Infinity in meta", "m": -Infinity, "e": 1e999}',
    b'{"text": "tab\tinside"}',
    b'{"text": "' + b"x" * 2000 + b'"}',  # over max_record_bytes (1000), under the line cap
    b'{"text": "' + b"y" * 5000 + b'"}',  # over the line cap: read up to it only
    b'{"text": "dup", "text": "last value wins"}',
    b'{"id": "zh", "text": "' + "高血压患者应长期服用降压药物。".encode() * 20 + b'"}',
    b'{"id": "conv", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}',
    b'{"id": "badconv", "conversations": [{"from": "human"}]}',
    b'{"text": "deep", "m": ' + b"[" * 900 + b"]" * 900 + b"}",  # orjson's limit is 1024 (json's ~1000 frames)
    b'{"text": "trailing"} x',
    b'{"id": "crlf", "text": "windows line end"}\r',
    b'{"id": "last", "text": "no newline at the end"}',
]


def read_with(path, fast: bool, monkeypatch, unit_bytes=1 << 30, part_bytes=0):
    monkeypatch.setattr(readers, "FAST_JSON", fast)
    source = SourceConfig(name="s", path=str(path), type="web", language="detect")
    out = []
    for u in plan_units([source], unit_bytes, 100):
        for part in read_parts(u, source, max_record_bytes=1000, excerpt_chars=50, part_bytes=part_bytes):
            out.append((u.unit_id, part.records, part.blank_lines, part.docs, part.quarantined))  # str values only
    return out


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("unit_bytes,part_bytes", [(1 << 30, 0), (700, 300)])
def test_reader_fast_and_exact_paths_agree(tmp_path, monkeypatch, compress, unit_bytes, part_bytes):
    data = b"\n".join(MIXED * 3)
    path = tmp_path / ("mixed.jsonl.gz" if compress else "mixed.jsonl")
    path.write_bytes(gzip.compress(data) if compress else data)
    exact = read_with(path, False, monkeypatch, unit_bytes, part_bytes)
    fast = read_with(path, True, monkeypatch, unit_bytes, part_bytes)
    assert fast == exact
    records = sum(r[1] for r in exact)
    docs = sum(len(r[3]) for r in exact)
    quarantined = sum(len(r[4]) for r in exact)
    assert records == docs + quarantined == 3 * (len(MIXED) - 2)  # two blank lines per copy are no records
    assert docs >= 3 * 8 and quarantined >= 3 * 20  # both outcomes well represented
    reasons = {q["reason"][:20] for r in exact for q in r[4]}
    assert any(r.startswith("malformed JSON") for r in reasons)
    assert any(r.startswith("invalid UTF-8") for r in reasons)
    assert any(r.startswith("text contains inval") for r in reasons)
    assert any(r.startswith("record of") for r in reasons)


def test_fast_path_is_used(tmp_path, monkeypatch):
    """The reader really goes through orjson for ordinary lines (else the speed-up would be a claim)."""
    calls = []
    real = jsonl_fast.loads
    monkeypatch.setattr(jsonl_fast, "loads", lambda raw: calls.append(raw) or real(raw))
    path = tmp_path / "ok.jsonl"
    path.write_bytes(b'{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n')
    (_, records, _, docs, _), = read_with(path, True, monkeypatch)
    assert records == 2 and len(docs) == 2 and len(calls) == 2


_CJK_RUN = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"


def reference_language(text: str) -> str:
    """detect_language as it was written first (two regular expressions), the reference for the fast one."""
    import re
    sample = text[:2000]
    han = sum(map(len, re.findall(_CJK_RUN, sample)))
    latin = sum(map(len, re.findall("[A-Za-z]+", sample)))
    if han == 0 and latin == 0:
        return "und"
    return "zh" if han * 4 >= latin else "en"


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec=None), max_size=60) | st.text("abcXYZ 高血压。é\ud800😀1-", max_size=3000))
def test_detect_language_unchanged(text):
    assert detect_language(text) == reference_language(text)
