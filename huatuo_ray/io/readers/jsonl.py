"""JSON Lines: one record per line, streamed; a line is held up to ``max_record_bytes`` (+2 for its newline), the
rest of a longer line is skipped unread and the record quarantined with its length and byte offset."""

from __future__ import annotations

import json
from typing import BinaryIO, Callable, Iterator

from huatuo_ray.io import jsonl_fast, readers  # readers: the package's settings, read when used (tests set them)
from huatuo_ray.io.compressed import DAMAGE, Stream, is_io_error
from huatuo_ray.io.readers.record import BOM, NESTED, ReadResult, RecordReader


class JsonlReader(RecordReader):
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
        with readers.open_input(self.unit.path) as f:
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
            chunk = readline(readers.CHUNK)
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
        if not raw or raw.isspace():  # (bytes.isspace: the ASCII whitespace bytes.strip strips)
            self.result.blank_lines += 1
            return
        rid = self._id(pos)
        if len(raw) > self.max_record_bytes:
            self.quarantine(rid, f"record of {len(raw)} bytes exceeds max_record_bytes={self.max_record_bytes}", raw)
            return
        if readers.FAST_JSON:
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
