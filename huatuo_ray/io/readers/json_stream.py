"""A ``.json`` file's text read piece by piece, with what reading it whole gave: the same text, the same damage, the
same values (Python's own ``json`` scanner parses each value), the same errors and the same byte offsets.

:class:`Source` reads the decompressed bytes exactly as the whole-file reader did (``read1(CHUNK)`` until the end or
the damage, so a damage report names the same offsets); :class:`Utf8` decodes them as decoding the whole file did
(the text stops at the first invalid byte); :class:`JsonText` holds a window of the text from the value being read
on, so memory is the largest value plus a chunk, not the file.
"""

from __future__ import annotations

import json
import re
from typing import Any

from huatuo_ray.io import readers  # the package's settings, read when used (tests set CHUNK)
from huatuo_ray.io.compressed import DAMAGE, Stream, is_io_error
from huatuo_ray.io.readers.record import BOM
from huatuo_ray.io.units import WorkUnit

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n]*")  # JSON whitespace
# No decision of json's scanner looks further than this past where it fails, except its search for the end of a
# string ("Unterminated string starting at"): an error this far before the end of the window is the whole text's.
MARGIN = 16


class Malformed(Exception):
    """A value ``json`` cannot parse: its message and the (absolute) character where it fails (None: no position)."""

    def __init__(self, msg: Any, pos: int | None):
        super().__init__(msg)
        self.msg, self.pos = msg, pos


class Source:
    """A unit's decompressed bytes, read as :meth:`RecordReader._read_all` reads them; ``damage`` says why the
    stream broke off (None: it did not)."""

    def __init__(self, unit: WorkUnit):
        self._f = Stream(unit.path, unit.compression)
        self.pos, self.done, self.damage = 0, False, None

    def read(self) -> bytes:
        """The next chunk; b"" at the end (or at the damage)."""
        if self.done:
            return b""
        try:
            chunk = self._f.read1(readers.CHUNK)
        except DAMAGE as e:
            if isinstance(e, OSError) and is_io_error(e):
                raise
            self.damage, self.done = self._f.damage(e, self.pos), True
            return b""
        self.pos += len(chunk)
        self.done = not chunk
        return chunk

    def close(self) -> None:
        self._f.__exit__(None, None, None)


def _complete(data: bytes) -> int:
    """Where a UTF-8 character cut by the end of ``data`` starts (``len(data)``: none is cut)."""
    n = len(data)
    for k in range(1, min(4, n) + 1):
        b = data[n - k]
        if b < 0x80:
            return n
        if b >= 0xC0:  # a lead byte: does its character end within data?
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return n - k if need > k else n
    return n


class Utf8:
    """UTF-8 decoded piece by piece as ``raw[bom:].decode()`` of the whole file: text up to the first invalid byte."""

    def __init__(self):
        self.bom: int | None = None  # len(BOM) or 0, once the first bytes are known
        self._lead, self._pending = b"", b""  # the first bytes (BOM or not); a character cut by a chunk's end
        self._at = 0  # bytes after the BOM decoded so far
        self.fed = 0  # bytes fed: the file's length once all of it is fed
        self.bad: int | None = None  # offset (after the BOM) of the first invalid byte

    def feed(self, data: bytes) -> str:
        self.fed += len(data)
        if self.bad is not None:
            return ""
        if self.bom is None:
            self._lead += data
            if len(self._lead) < len(BOM):
                return ""
            data, self._lead = self._lead, b""
            self.bom = len(BOM) if data.startswith(BOM) else 0
            data = data[self.bom:]
        return self._decode(self._pending + data, final=False)

    def finish(self) -> str:
        """The text left at the end of the file."""
        if self.bad is not None:
            return ""
        if self.bom is None:  # fewer bytes than a BOM
            self.bom, data = 0, self._lead
        else:
            data = self._pending
        return self._decode(data, final=True)

    def _decode(self, data: bytes, final: bool) -> str:
        cut = len(data) if final else _complete(data)
        try:
            text = data[:cut].decode("utf-8")
        except UnicodeDecodeError as e:
            self.bad = self._at + e.start
            return data[:e.start].decode("utf-8")
        self._pending, self._at = data[cut:], self._at + cut
        return text

    def settled(self) -> bool:
        """Whether an invalid byte decides the damage whatever follows (it lies before the file's last 3 bytes)."""
        return self.bad is not None and self.bad < self.fed - self.bom - 3

    def damage(self, stream_damage: str | None) -> str | None:
        """Why the text ends early, as the whole-file reader said: an invalid byte, unless it is a character cut by
        the stream's damage."""
        if self.bad is not None and (stream_damage is None or self.settled()):
            return f"invalid UTF-8 at byte {self.bom + self.bad}"
        return stream_damage


class JsonText:
    """A window on a file's text; positions are characters from the start of the text (after the BOM)."""

    def __init__(self, unit: WorkUnit):
        self.src, self.utf8 = Source(unit), Utf8()
        self.text, self.base, self._base_bytes = "", 0, 0  # the window, its first character and bytes before it
        self.eof = False  # the text's end is in the window
        self.damage: str | None = None  # once eof: why the text ends early (None: it does not)

    def close(self) -> None:
        self.src.close()

    @property
    def end(self) -> int:
        return self.base + len(self.text)

    def _piece(self) -> str | None:
        """The next piece of text (maybe ""); None at its end."""
        if self.eof:
            return None
        chunk = self.src.read()
        piece = self.utf8.feed(chunk) if chunk else self.utf8.finish()
        if not chunk or self.utf8.settled():
            self.eof, self.damage = True, self.utf8.damage(self.src.damage)
        return piece

    def fill(self, upto: int) -> None:
        """Read until the window reaches character ``upto`` or the text's end."""
        pieces, end = [], self.end
        while end < upto:
            piece = self._piece()
            if piece is None:
                break
            pieces.append(piece)
            end += len(piece)
        if pieces:
            self.text += "".join(pieces)

    def final_damage(self) -> str | None:
        """Why the text ends early, reading (and dropping) the rest of the file to find out."""
        while self._piece() is not None:
            pass
        return self.damage

    def total_bytes(self) -> int:
        """The file's decompressed length, reading the rest of it."""
        self.final_damage()
        while self.src.read():  # past an invalid byte that settled the damage
            pass
        return self.src.pos

    def release(self, i: int) -> None:
        """The text before character ``i`` is not needed any more."""
        k = i - self.base
        if k >= 1 << 16 and 2 * k >= len(self.text):
            self._base_bytes += len(self.text[:k].encode("utf-8"))
            self.text, self.base = self.text[k:], i

    def char(self, i: int) -> str:
        """The character at ``i`` ("" past the end)."""
        self.fill(i + 1)
        return self.text[i - self.base] if i < self.end else ""

    def skip(self, i: int) -> int:
        """The first non-whitespace character from ``i`` on (the end of the text if there is none)."""
        while True:
            j = self.base + _WS.match(self.text, i - self.base).end()
            if j < self.end or self.eof:
                return j
            self.fill(j + readers.CHUNK)
            i = j

    def done(self, i: int) -> bool:
        """Whether ``i`` (from :meth:`skip`) is the end of the text."""
        return i >= self.end and self.eof

    def byte(self, i: int) -> int:
        """The byte offset in the file of character ``i`` (in the window)."""
        return (self.utf8.bom or 0) + self._base_bytes + len(self.text[:i - self.base].encode("utf-8"))

    def byte_len(self, i: int, j: int) -> int:
        return len(self.text[i - self.base:j - self.base].encode("utf-8"))

    def excerpt(self, i: int, n: int) -> str:
        self.fill(i + n)
        return self.text[i - self.base:i - self.base + n]

    def value(self, i: int) -> tuple[Any, int]:
        """The JSON value at ``i`` and where it ends, as ``json`` parses it in the whole text; raises
        :class:`Malformed` or RecursionError. The window grows until the value (or its error) lies inside it."""
        want = 4 * MARGIN
        while True:
            self.fill(i + want)
            k = i - self.base
            try:
                obj, end = _DECODER.raw_decode(self.text, k)
            except ValueError as e:
                pos = getattr(e, "pos", None)  # None: not a JSONDecodeError (e.g. an int of too many digits)
                if self.eof or pos is None or (pos < len(self.text) - MARGIN
                                               and not e.msg.startswith("Unterminated string")):
                    raise Malformed(getattr(e, "msg", e), None if pos is None else self.base + pos) from None
            else:
                if end < len(self.text) or self.eof:  # something follows: a number or literal is whole
                    return obj, self.base + end
            want = max(2 * want, 2 * (len(self.text) - k))


def structural_error(doc: JsonText, context: str, mark: int, j: int) -> Malformed:
    """The error ``json`` reports for the text from ``mark`` to the unexpected character ``j`` inside an object or a
    list, ``context`` being a stand-in for what precedes ``mark`` (``{``, ``{"":0``, ``[``, ``[0``): its scanner
    phrases it (the wording differs between Python versions, e.g. a trailing comma)."""
    snippet = context + doc.text[mark - doc.base:j + 1 - doc.base]
    try:
        _DECODER.raw_decode(snippet)
    except json.JSONDecodeError as e:
        return Malformed(e.msg, mark + e.pos - len(context))
    raise RuntimeError(f"json accepts {snippet[:200]!r}, which the reader took for an error")
