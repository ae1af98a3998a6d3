"""Text records read as a stream: what the reader needs of a record without holding more than ``cap`` bytes of it.

:class:`Record` gathers one record's bytes (a whole ``text`` file, or one block of a ``text_blocks`` file): up to
``cap`` bytes it holds them all (the reader then judges them as it always did); past ``cap`` it keeps only the
first ``head`` bytes (for the quarantine excerpt) and counts, as the rest streams by, what the reader's checks on
the whole record would have looked at: its size, whether it holds a byte other than ASCII whitespace, and where its
first invalid UTF-8 byte is. :class:`Blocks` cuts a stream into blocks at the same separators as
``re.split(SEP, whole_file)`` would, with the same byte offsets.
"""

from __future__ import annotations

import codecs
import re

SEP = re.compile(rb"(?:\r?\n[ \t]*){2,}")  # a blank line (or several) between two blocks
_SEP_BYTES = b"\r\n \t"  # every byte a separator can hold
_CHECK = 1 << 20  # bytes decoded at a time when checking the UTF-8 of what was held


class Record:
    """One record's bytes as they stream in (see the module docstring)."""

    def __init__(self, cap: int, head: int, start: int = 0):
        self.cap, self.head_bytes, self.start = cap, head, start  # start: offset of the record in the stream
        self._parts: list[bytes] = []
        self.size = 0
        self.over = False  # more than cap bytes: only the head is kept
        self.head = b""
        self.nonspace = False  # (when over) a byte other than ASCII whitespace: bytes.strip() would keep it
        self.bad: int | None = None  # (when over) offset of the first invalid UTF-8 byte in the record
        self._decoder = None

    def add(self, data: bytes) -> None:
        if not data:
            return
        if not self.over:
            self._parts.append(data)
            self.size += len(data)
            if self.size > self.cap:
                held, self._parts = b"".join(self._parts), []
                self.over, self.head, self.size = True, held[:self.head_bytes], 0
                self._decoder = codecs.getincrementaldecoder("utf-8")()
                for i in range(0, len(held), _CHECK):
                    self._check(held[i:i + _CHECK])
            return
        if len(self.head) < self.head_bytes:
            self.head += data[:self.head_bytes - len(self.head)]
        self._check(data)

    def _check(self, data: bytes) -> None:
        if not self.nonspace and data.strip():
            self.nonspace = True
        if self.bad is None:
            pending = len(self._decoder.getstate()[0])  # bytes of a character cut by the previous piece
            try:
                self._decoder.decode(data)
            except UnicodeDecodeError as e:
                self.bad = self.size - pending + e.start
        self.size += len(data)

    def close(self) -> None:
        """The record is complete (a character cut at its end is invalid UTF-8)."""
        if self.over and self.bad is None:
            pending = len(self._decoder.getstate()[0])
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError as e:
                self.bad = self.size - pending + e.start

    @property
    def raw(self) -> bytes:
        """The whole record (only when not :attr:`over`)."""
        return b"".join(self._parts)

    def head_text(self) -> str:
        """The head as text, without a character its end cuts (for a record whose bytes are valid UTF-8)."""
        return codecs.getincrementaldecoder("utf-8")().decode(self.head)


class Blocks:
    """Cuts a stream of bytes into :class:`Record` blocks at :data:`SEP`, as splitting the whole stream would.

    A separator is all whitespace (``_SEP_BYTES``), so everything before the stream's trailing run of those bytes
    is settled (no separator found before it can grow, none can start in it); only that run is held back until
    the next bytes (or the end) decide it. Blocks of whitespace only are not returned (the reader skips them).
    """

    def __init__(self, cap: int, head: int):
        self.cap, self.head = cap, head
        self._tail, self._pos = b"", 0  # the undecided trailing whitespace, and its offset in the stream
        self._block = Record(cap, head, 0)

    @property
    def end(self) -> int:
        """Bytes fed so far."""
        return self._pos + len(self._tail)

    def feed(self, data: bytes) -> list[Record]:
        """The blocks that ``data`` completes."""
        buf = self._tail + data
        return self._split(buf, len(buf.rstrip(_SEP_BYTES)))

    def finish(self) -> list[Record]:
        """The last blocks, once the stream has ended."""
        out = self._split(self._tail, len(self._tail))
        block, self._block = self._block, Record(self.cap, self.head, self._pos)
        block.close()
        return out + ([block] if self._content(block) else [])

    def _split(self, buf: bytes, settled: int) -> list[Record]:
        out, last = [], 0
        for m in SEP.finditer(buf, 0, settled):
            self._block.add(buf[last:m.start()])
            block, self._block = self._block, Record(self.cap, self.head, self._pos + m.end())
            block.close()
            if self._content(block):
                out.append(block)
            last = m.end()
        self._block.add(buf[last:settled])
        self._tail, self._pos = buf[settled:], self._pos + settled
        return out

    @staticmethod
    def _content(block: Record) -> bool:
        return block.nonspace if block.over else bool(block.raw.strip())
