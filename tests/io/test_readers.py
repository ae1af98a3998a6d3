import bz2
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from huatuo_ray.io.language import detect_language, detect_languages
from huatuo_ray.io.readers import read_parts, read_unit
from huatuo_ray.io.units import plan_units
from huatuo_ray.recipe import SourceConfig


def src(path, **kw):
    return SourceConfig(name="s", path=str(path), type="web", **kw)


def read_all(path, unit_bytes=1 << 30, **kw):
    source = src(path, **kw)
    units = plan_units([source], unit_bytes, 100)
    docs, quarantined, records = [], [], 0
    for u in units:
        r = read_unit(u, source, max_record_bytes=1000, excerpt_chars=50)
        docs += r.docs
        quarantined += r.quarantined
        records += r.records
    return docs, quarantined, records, units


HOSTILE_LINES = [
    b'{"id": "ok1", "text": "fine text"}',
    b'{"text": "unterminated',
    b'{"text": "\xff\xfe bad bytes"}',
    b'{"title": "no text field"}',
    b'{"text": ""}',
    b'{"text": "   \\n  "}',
    b'{"text": 42}',
    b'{"text": ["a", "b"]}',
    b'[1, 2, 3]',
    b'"just a string"',
    b'{"id": {"nested": 1}, "text": "bad id"}',
    b'{"text": "lone \\ud800 surrogate"}',
    b'{"text": "' + b"x" * 2000 + b'"}',
    b"",
    b"   ",
    b'{"id": 7, "text": "second fine", "extra": 1}',
]


def test_hostile_jsonl_every_record_accounted(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_bytes(b"\n".join(HOSTILE_LINES) + b"\n")
    docs, quarantined, records, _ = read_all(p)
    assert [d["id"] for d in docs] == ["ok1", "7"]
    assert records == len(HOSTILE_LINES) - 2  # the two blank lines are not records
    assert len(docs) + len(quarantined) == records
    reasons = [q["reason"] for q in quarantined]
    for expected in ("malformed JSON", "invalid UTF-8", "missing text field", "empty text", "is int, expected string",
                     "is list, expected string", "expected an object", "not a usable id", "surrogate", "exceeds max_record_bytes"):
        assert any(expected in r for r in reasons), (expected, reasons)
    assert all(q["stage"] == "read" and q["id"] and len(q["excerpt"]) <= 50 for q in quarantined)
    assert json.loads(docs[1]["meta"]) == {"extra": 1}


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(st.text(alphabet="ab中\n", max_size=30), max_size=25), unit_bytes=st.integers(1, 64))
def test_byte_range_units_partition_records(tmp_path_factory, lines, unit_bytes):
    p = tmp_path_factory.mktemp("u") / "x.jsonl"
    p.write_text("".join(json.dumps({"text": f"t{i} {s}"}) + "\n" for i, s in enumerate(lines)), encoding="utf-8")
    docs, quarantined, records, units = read_all(p, unit_bytes=unit_bytes)
    assert not quarantined
    assert [d["text"] for d in docs] == [f"t{i} {s}" for i, s in enumerate(lines)]
    assert len({d["id"] for d in docs}) == len(docs)


@pytest.mark.parametrize("suffix,opener", [(".gz", gzip.open), (".bz2", bz2.open),
                                           (".zst", lambda p, m: zstandard.open(p, m))])
def test_compressed_jsonl(tmp_path, suffix, opener):
    p = tmp_path / f"c.jsonl{suffix}"
    with opener(p, "wb") as f:
        f.write(b'{"text": "one"}\n{"text": "two"}\n')
    docs, quarantined, records, units = read_all(p)
    assert [d["text"] for d in docs] == ["one", "two"] and len(units) == 1 and not quarantined


def test_truncated_gzip_is_quarantined_not_lost(tmp_path):
    p = tmp_path / "t.jsonl.gz"
    data = gzip.compress(b"".join(b'{"text": "line %d"}\n' % i for i in range(2000)))
    p.write_bytes(data[: len(data) // 2])
    docs, quarantined, records, _ = read_all(p)
    assert len(docs) > 0 and len(quarantined) == 1
    assert quarantined[0]["reason"].startswith("damaged gzip stream at decompressed byte")


def test_parquet_units_and_fields(tmp_path):
    p = tmp_path / "p.parquet"
    rows = [{"id": f"r{i}", "body": f"text {i}", "language": "en"} for i in range(50)]
    pq.write_table(pa.Table.from_pylist(rows), p, row_group_size=10)
    docs, quarantined, records, units = read_all(p, text_field="body")
    assert len(units) == 1 or all(u.format == "parquet" for u in units)
    assert [d["id"] for d in docs] == [f"r{i}" for i in range(50)] and not quarantined
    source = src(p, text_field="body")
    small = plan_units([source], 1 << 30, 20)
    assert [(u.start, u.end) for u in small] == [(0, 2), (2, 4), (4, 5)]


def test_corrupt_parquet_quarantined(tmp_path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    docs, quarantined, records, _ = read_all(p)
    assert not docs and len(quarantined) == 1 and "unreadable Parquet" in quarantined[0]["reason"]


def test_text_blocks_and_whole_file(tmp_path):
    p = tmp_path / "b.txt"
    p.write_text("first block\nstill first\n\n\nsecond block\n  \nthird", encoding="utf-8")
    docs, _, _, _ = read_all(p, format="text_blocks")
    assert [d["text"] for d in docs] == ["first block\nstill first", "second block", "third"]
    docs, _, _, _ = read_all(p, format="text")
    assert len(docs) == 1 and docs[0]["id"] == "s:b.txt"


def test_empty_and_invalid_text_files(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bad.txt").write_bytes(b"ok \xff\xfe")
    docs, quarantined, records, _ = read_all(tmp_path, format="text")
    assert not docs and records == 2 and sorted(q["reason"].split(" at")[0] for q in quarantined) == ["empty text", "invalid UTF-8"]


def test_conversations_json(tmp_path):
    p = tmp_path / "c.json"
    convs = [
        {"id": "a", "conversations": [{"from": "human", "value": "头痛怎么办"}, {"from": "gpt", "value": "多休息"}]},
        {"id": "b", "conversations": [{"from": "human"}]},
        {"id": "c", "conversations": []},
    ]
    p.write_text(json.dumps(convs, ensure_ascii=False), encoding="utf-8")
    docs, quarantined, records, _ = read_all(p, language="zh")
    assert [d["id"] for d in docs] == ["a"] and docs[0]["text"] == "头痛怎么办\n多休息"
    assert json.loads(docs[0]["conversations"])[1]["value"] == "多休息"
    assert records == 3 and len(quarantined) == 2


def test_empty_jsonl_file_has_no_records(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_bytes(b"")
    docs, quarantined, records, units = read_all(p)
    assert (docs, quarantined, records, len(units)) == ([], [], 0, 1)


def test_detect_language():
    assert detect_language("高血压患者应该低盐饮食。") == "zh"
    assert detect_language("Hypertension patients should eat less salt.") == "en"
    assert detect_language("服用 aspirin 100 mg 每日一次") == "zh"
    assert detect_language("12345 !!!") == "und"


_EDGES = [0x33FF, 0x3400, 0x4DBF, 0x4DC0, 0x4DFF, 0x4E00, 0x9FFF, 0xA000, 0xF8FF, 0xF900, 0xFAFF, 0xFB00,
          0x40, 0x41, 0x5A, 0x5B, 0x60, 0x61, 0x7A, 0x7B, 0xFF21, 0x212A, 0x1F600, 0x20000, 0xD800, 0xDFFF, 0x0, 0x20]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.sampled_from([chr(c) for c in _EDGES]) | st.characters(), max_size=60)
                | st.builds(lambda c, n: c * n, st.sampled_from(["a", "高", "é", "1"]), st.integers(1990, 2010)),
                max_size=12))
def test_detect_languages_is_detect_language_of_each(texts):
    """The batch form the readers use gives each text what the one-text form gives (Han ranges' edges, letters,
    lone surrogates, characters beyond the BMP, samples cut at 2,000 characters)."""
    assert detect_languages(texts) == [detect_language(t) for t in texts]


def test_detected_languages_reach_every_document_of_every_part(tmp_path):
    texts = ["高血压患者应该低盐饮食。", "Hypertension patients should eat less salt.", "12345 !!!", "服用 aspirin 每日",
             "café au lait"] * 3
    p = tmp_path / "mixed.jsonl"
    p.write_text("".join(json.dumps({"id": f"r{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)),
                 encoding="utf-8")
    source = src(p, language="detect")
    (unit,) = plan_units([source], 1 << 30, 100)
    parts = list(read_parts(unit, source, max_record_bytes=1000, excerpt_chars=50, part_bytes=100))
    assert len(parts) > 1
    docs = [d for part in parts for d in part.docs]
    assert [d["text"] for d in docs] == texts
    assert [d["language"] for d in docs] == [detect_language(t) for t in texts]
    assert {d["language"] for d in docs} == {"zh", "en", "und"}


def test_missing_input_is_clear(tmp_path):
    from huatuo_ray.errors import InputError

    with pytest.raises(InputError, match="matches no file"):
        plan_units([src(tmp_path / "nope*.jsonl")], 100, 100)


@pytest.mark.parametrize("depth", [1000, 5000])  # 1000: orjson parses it, Python code walking it would overflow
@pytest.mark.parametrize("name", ["deep.jsonl", "deep.json"])
def test_deeply_nested_json_is_quarantined_not_a_failed_unit(tmp_path, name, depth):
    deep = '{"id": "deep", "text": "x", "meta": ' + "[" * depth + "1.5" + "]" * depth + "}"
    p = tmp_path / name
    if name.endswith(".jsonl"):
        p.write_text('{"id": "a", "text": "fine"}\n' + deep + '\n{"id": "b", "text": "also fine"}\n')
    else:
        p.write_text('[{"id": "a", "text": "fine"}, ' + deep + ', {"id": "b", "text": "also fine"}]')
    source = src(p)
    r = read_unit(plan_units([source], 1 << 30, 100)[0], source, max_record_bytes=1 << 20, excerpt_chars=50)
    docs, quarantined, records = r.docs, r.quarantined, r.records
    assert [d["id"] for d in docs][:1] == ["a"]
    assert any("nested" in q["reason"] for q in quarantined), quarantined
    assert records == len(docs) + len(quarantined)
