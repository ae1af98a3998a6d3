"""Damaged and unusual inputs at the reader: records before the damage are read, the rest is quarantined with the
reason and the byte offset; counts stay exact; a failure of the file system fails the unit instead."""

from __future__ import annotations

import bz2
import datetime
import errno
import gzip
import json
import lzma
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from huatuo_ray.errors import InputReadError
from huatuo_ray.io import readers
from huatuo_ray.io.readers import read_unit
from huatuo_ray.io.units import plan_units
from huatuo_ray.recipe import SourceConfig

LINES = [b'{"id": "r%d", "text": "line %d of the corpus"}\n' % (i, i) for i in range(20000)]
DATA = b"".join(LINES)


def read(path, **kw):
    source = SourceConfig(name="s", path=str(path), type="web", **kw)
    docs, quarantined, records = [], [], 0
    for u in plan_units([source], 1 << 30, 100):
        r = read_unit(u, source, max_record_bytes=1 << 20, excerpt_chars=50)
        docs, quarantined, records = docs + r.docs, quarantined + r.quarantined, records + r.records
    assert records == len(docs) + len(quarantined)
    return docs, quarantined


def zstd_corrupt(data: bytes) -> bytes:
    """Ten zstd frames (as a parallel compressor writes them); the fourth one's header is garbled."""
    c = zstandard.ZstdCompressor()
    step = len(data) // 10
    frames = [c.compress(data[i:i + step]) for i in range(0, len(data), step)]
    frames[3] = b"\x00\x01\x02\x03" + frames[3][4:]
    return b"".join(frames)


DAMAGED = {
    "gzip": (".gz", lambda d: gzip.compress(d)[: len(gzip.compress(d)) // 2]),
    "bzip2": (".bz2", lambda d: bz2.compress(d, 1)[: len(bz2.compress(d, 1)) // 2]),  # 100 kB blocks
    "xz": (".xz", lambda d: lzma.compress(d, preset=0)[: len(lzma.compress(d, preset=0)) // 2]),
    "zstd": (".zst", lambda d: zstandard.ZstdCompressor().compress(d)[: len(zstandard.ZstdCompressor().compress(d)) // 2]),
    "zstd-corrupt": (".zst", zstd_corrupt),
}


@pytest.mark.parametrize("kind", list(DAMAGED))
def test_damaged_compressed_jsonl_keeps_the_records_before_the_damage(tmp_path, kind):
    suffix, damage = DAMAGED[kind]
    p = tmp_path / f"c.jsonl{suffix}"
    p.write_bytes(damage(DATA))
    docs, quarantined = read(p)
    assert 0 < len(docs) < len(LINES)
    assert [d["id"] for d in docs] == [f"r{i}" for i in range(len(docs))]  # a prefix, in order, nothing invented
    assert len(quarantined) == 1
    q = quarantined[0]
    offset = sum(map(len, LINES[: len(docs)]))
    assert q["id"] == f"s:c.jsonl{suffix}@{offset}"
    assert q["reason"].startswith(f"damaged {kind.split('-')[0]} stream at decompressed byte {offset} (compressed "
                                  "file read to byte ")
    assert "the rest of the file is unreadable" in q["reason"]


def test_a_file_that_is_not_gzip_at_all_is_one_quarantine_entry(tmp_path):
    p = tmp_path / "x.jsonl.gz"
    p.write_bytes(b"plain text, not gzip\n")
    docs, quarantined = read(p)
    assert not docs and len(quarantined) == 1 and "BadGzipFile: Not a gzipped file" in quarantined[0]["reason"]


def conversations(n: int) -> list[dict]:
    return [{"id": f"c{i}", "conversations": [{"from": "human", "value": f"question {i}?"},
                                               {"from": "gpt", "value": f"answer {i}."}]} for i in range(n)]


def test_truncated_json_gz_conversations(tmp_path):
    p = tmp_path / "sft.json.gz"
    blob = gzip.compress(json.dumps(conversations(3000)).encode())
    p.write_bytes(blob[: len(blob) // 2])
    docs, quarantined = read(p)
    assert 0 < len(docs) < 3000 and [d["id"] for d in docs] == [f"c{i}" for i in range(len(docs))]
    assert len(quarantined) == 1
    reason = quarantined[0]["reason"]
    assert reason.startswith("damaged gzip stream at decompressed byte ") and "the records from byte " in reason


def test_json_list_with_a_malformed_item_keeps_the_items_before_it(tmp_path):
    p = tmp_path / "c.json"
    good = json.dumps(conversations(3))[1:-1]
    p.write_text("[" + good + ', {"id": "bad", "conversations": [}, {"id": "never"}]', encoding="utf-8")
    docs, quarantined = read(p)
    assert [d["id"] for d in docs] == ["c0", "c1", "c2"] and len(quarantined) == 1
    assert quarantined[0]["reason"].startswith("malformed JSON at byte ") and "in item 3 of the list" in \
        quarantined[0]["reason"]


def test_json_object_holding_the_list_of_records(tmp_path):
    p = tmp_path / "wrapped.json"
    p.write_text(json.dumps({"data": conversations(7)}), encoding="utf-8")
    docs, quarantined = read(p)
    assert [d["id"] for d in docs] == [f"c{i}" for i in range(7)] and not quarantined


def test_json_object_with_several_lists_is_named_not_guessed(tmp_path):
    p = tmp_path / "split.json"
    p.write_text(json.dumps({"train": conversations(2), "test": conversations(1)}), encoding="utf-8")
    docs, quarantined = read(p)
    assert not docs and len(quarantined) == 1
    assert "several lists (train, test)" in quarantined[0]["reason"]


def test_json_lines_saved_as_json(tmp_path):
    p = tmp_path / "lines.json"
    rows = [json.dumps(c) for c in conversations(5)]
    p.write_text("\n".join(rows[:3] + ['{"id": "broken", "conv'] + rows[3:]) + "\n", encoding="utf-8")
    docs, quarantined = read(p)
    assert [d["id"] for d in docs] == ["c0", "c1", "c2", "c3", "c4"]
    assert len(quarantined) == 1 and quarantined[0]["reason"].startswith("malformed JSON")


@pytest.mark.parametrize("name", ["bom.jsonl", "bom.json", "bom.txt"])
def test_utf8_byte_order_mark(tmp_path, name):
    p = tmp_path / name
    body = {"bom.jsonl": b'{"id": "a", "text": "first"}\n{"id": "b", "text": "second"}\n',
            "bom.json": json.dumps(conversations(2)).encode(), "bom.txt": b"first\n\nsecond"}[name]
    p.write_bytes(b"\xef\xbb\xbf" + body)
    docs, quarantined = read(p, format="text_blocks" if name.endswith(".txt") else "auto")
    assert len(docs) == 2 and not quarantined
    assert not docs[0]["text"].startswith("\ufeff")


def test_truncated_text_blocks(tmp_path):
    p = tmp_path / "book.txt.gz"
    blocks = [f"paragraph {i} of the book." for i in range(3000)]
    blob = gzip.compress("\n\n".join(blocks).encode())
    p.write_bytes(blob[: len(blob) // 2])
    docs, quarantined = read(p, format="text_blocks")
    assert 0 < len(docs) < 3000 and [d["text"] for d in docs] == blocks[: len(docs)]
    assert len(quarantined) == 1 and "the blocks from byte" in quarantined[0]["reason"]


def test_parquet_conversations_of_bytes_or_timestamps(tmp_path):
    p = tmp_path / "c.parquet"
    turn = pa.struct([("from", pa.string()), ("value", pa.binary())])
    when = pa.struct([("from", pa.string()), ("value", pa.timestamp("s"))])
    pq.write_table(pa.table({"id": ["b0", "b1"], "conversations": pa.array(
        [[{"from": "human", "value": b"q"}, {"from": "gpt", "value": b"a"}]] * 2, type=pa.list_(turn))}),
        tmp_path / "bytes.parquet")
    t0 = datetime.datetime(2024, 1, 1)
    pq.write_table(pa.table({"id": ["t0"], "text": ["has text"], "conversations": pa.array(
        [[{"from": "human", "value": t0}]], type=pa.list_(when))}), p)
    docs, quarantined = read(tmp_path)
    assert not docs and sorted(q["id"] for q in quarantined) == ["b0", "b1", "t0"]
    reasons = {q["id"]: q["reason"] for q in quarantined}
    assert "turn 0 lacks string 'from' and 'value'" in reasons["b0"] and "value is bytes" in reasons["b1"]
    assert reasons["t0"] == "field 'conversations' holds datetime values, which JSON cannot hold " \
                                          "(expected text)"


class FailingFile:
    """A file whose reads fail with EIO after ``good`` lines, as a network file system may."""

    def __init__(self, path, good):
        self.f, self.left = open(path, "rb"), good

    def __getattr__(self, name):
        return getattr(self.f, name)

    def readline(self, *a):
        if self.left == 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        self.left -= 1
        return self.f.readline(*a)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_an_io_error_partway_fails_the_unit_instead_of_committing_it(tmp_path, monkeypatch):
    p = tmp_path / "x.jsonl"
    p.write_bytes(DATA[:10000])
    monkeypatch.setattr(readers, "open_input", lambda path: FailingFile(path, 5))  # how readers open a file
    with pytest.raises(InputReadError, match=r"s: reading x.jsonl failed: \[Errno 5\] Input/output error"):
        read(p)


def test_a_real_eio_fails_the_unit(tmp_path):
    (tmp_path / "eio.jsonl").symlink_to("/proc/self/mem")  # reading offset 0 of it is an EIO from the kernel
    with pytest.raises(InputReadError, match="Input/output error"):
        read(tmp_path)
    assert readers.is_io_error(OSError(errno.ESTALE, "stale")) and not readers.is_io_error(gzip.BadGzipFile("x"))
