"""`text` and `text_blocks` files read as a stream give what reading them whole gave (ids, offsets, reasons,
excerpts, counts), in bounded memory.

The reference is the reader as it was before streaming (the whole file in memory, ``re.split`` into blocks),
kept here verbatim on top of ``_Reader._read_all``; files of tricky bytes are read both ways with tiny chunks
(every boundary case between chunks), tiny ``max_record_bytes`` (records over the cap), gzip and cut gzip (damage).
"""

import gzip
import re
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huatuo_ray.io import readers
from huatuo_ray.io.readers import BOM, ReadResult, _Reader, read_parts
from huatuo_ray.io.units import plan_units
from huatuo_ray.recipe import SourceConfig


def reference(reader: _Reader, blocks: bool) -> ReadResult:
    """The reader's text formats before streaming (the code as it was), as one ReadResult."""
    self = reader
    raw, damage = self._read_all()
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    if not blocks:
        rid = f"{self.source.name}:{self.unit.relpath}"
        if damage:
            self.quarantine(rid, f"{damage}; the text is incomplete", raw)
        else:
            self._text_record(raw, rid)
        return self._take()  # the part as the readers hand it on (languages detected)
    pos, pieces = 0, []
    for chunk in re.split(rb"((?:\r?\n[ \t]*){2,})", raw):
        if chunk.strip() and not re.fullmatch(rb"(?:\r?\n[ \t]*){2,}", chunk):
            pieces.append((pos, chunk))
        pos += len(chunk)
    cut = pieces.pop() if damage and pieces else None
    for at, chunk in pieces:
        self._text_record(chunk, self._id(at))
    if damage:
        at = cut[0] if cut else pos
        self._damaged(self._id(at), f"{damage}; the blocks from byte {at} on are lost", cut[1] if cut else None)
    return self._take()


def both(path, fmt, cap, excerpt, part_bytes=0):
    source = SourceConfig(name="s", path=str(path), type="web", format=fmt, language="detect")
    (unit,) = plan_units([source], 1 << 30, 100)
    old = reference(_Reader(unit, source, cap, excerpt), blocks=fmt == "text_blocks")
    parts = list(read_parts(unit, source, cap, excerpt, part_bytes))
    new = ReadResult(docs=[d for p in parts for d in p.docs], quarantined=[q for p in parts for q in p.quarantined],
                     records=sum(p.records for p in parts), blank_lines=sum(p.blank_lines for p in parts))
    return old, new, parts


PIECES = [b"a", b"word ", b" ", b"\t", b"\n", b"\n", b"\r", b"\r\n", b"\x0c", b"\x0b", "\u4e2d".encode(),
          "\u3000".encode(), b"\xe4\xb8", b"\xff", b"\xed\xa0\x80", BOM, b"\n\n", b"  \n \t\n"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=40), bom=st.booleans(), fmt=st.sampled_from(
    ["text", "text_blocks"]), cap=st.integers(1, 30), excerpt=st.integers(0, 6), chunk=st.integers(1, 9),
    compress=st.sampled_from(["none", "gzip", "cut"]), part_bytes=st.sampled_from([0, 5]))
def test_stream_equals_whole_file(tmp_path_factory, monkeypatch, pieces, bom, fmt, cap, excerpt, chunk, compress,
                                  part_bytes):
    monkeypatch.setattr(readers, "CHUNK", chunk)
    data = (BOM if bom else b"") + b"".join(pieces)
    folder = tmp_path_factory.mktemp("t")
    if compress == "none":
        path = folder / "f.txt"
        path.write_bytes(data)
    else:
        path = folder / "f.txt.gz"
        z = gzip.compress(data)
        path.write_bytes(z[:max(10, len(z) - 9)] if compress == "cut" else z)  # cut: the stream breaks off
    old, new, parts = both(path, fmt, cap, excerpt, part_bytes)
    assert new.quarantined == old.quarantined
    assert new.docs == old.docs
    assert (new.records, new.blank_lines) == (old.records, old.blank_lines)
    assert new.records == len(new.docs) + len(new.quarantined)


@pytest.mark.parametrize("fmt", ["text", "text_blocks"])
def test_known_cases(tmp_path, fmt):
    path = tmp_path / "k.txt"
    path.write_bytes(BOM + b"first block\r\n \r\n\tsecond \xe4\xb8\xad\n\n\n" + b"x" * 200 + b"\n\n\xff bad\n\n   \n")
    old, new, _ = both(path, fmt, 100, 20)
    assert new.quarantined == old.quarantined and new.docs == old.docs
    reasons = [q["reason"] for q in new.quarantined]
    if fmt == "text_blocks":
        assert [d["id"] for d in new.docs] == ["s:k.txt@0", "s:k.txt@17"]  # the separator takes the tab
        assert reasons == ["record of 200 bytes exceeds max_record_bytes=100", "invalid UTF-8 at byte 0 of the record"]
    else:
        assert reasons == ["invalid UTF-8 at byte 232 of the record"]  # checked before the size, as before


def test_blocks_in_bounded_memory(tmp_path):
    """A text_blocks file is read in parts and never held whole: 40 MB of blocks, 2 MiB parts, peak far below."""
    block = ("\u9ad8\u8840\u538b\u60a3\u8005\u5e94\u957f\u671f\u670d\u7528\u964d\u538b\u836f\u7269\u3002" * 40).encode()
    path = tmp_path / "big.txt"
    with open(path, "wb") as f:
        for _ in range(40_000_000 // (len(block) + 2)):
            f.write(block + b"\n\n")
    source = SourceConfig(name="s", path=str(path), type="web", format="text_blocks", language="zh")
    (unit,) = plan_units([source], 1 << 30, 100)
    tracemalloc.start()
    records = parts = 0
    for part in read_parts(unit, source, 1 << 20, 50, 2 << 20):
        records += part.records
        parts += 1
        del part
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert records == 40_000_000 // (len(block) + 2) and parts >= 15
    assert peak < 20 << 20, peak  # one part's documents (2 MiB of text) and what reading holds, not 40 MB
