"""Text: a file as one record (``text``) or one record per block between blank lines (``text_blocks``), streamed
(see :mod:`huatuo_ray.io.text_stream`)."""

from __future__ import annotations

import itertools
from typing import Iterator

from huatuo_ray.io import readers, text_stream  # readers: the package's settings, read when used (tests set them)
from huatuo_ray.io.compressed import DAMAGE, Stream, is_io_error
from huatuo_ray.io.readers.record import BOM, ReadResult, RecordReader, _short


class TextReader(RecordReader):
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
                    chunk = f.read1(readers.CHUNK)
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

    def _text_record(self, raw: bytes, rid: str) -> None:
        if not raw.strip():
            self.quarantine(rid, "empty text", raw)
            return
        text = self._decode(raw, rid)
        if text is not None:
            self.record({self._text_fields()[0]: text}, rid, len(raw))


