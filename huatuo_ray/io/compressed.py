"""Compressed input streams (gzip, bzip2, xz, zstd) that report damage instead of hiding it.

:class:`Stream` gives a file's decompressed bytes and, when the decoder fails, a reason naming the error and
how far into the compressed file reading got. zstd frames are decoded by :class:`_ZstdReader`, which raises on
a truncated frame where zstandard's own reader ends silently. :data:`DAMAGE` is what decoders raise on damaged
data; :func:`is_io_error` tells a failure of the file system from it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import BinaryIO

import zstandard

from huatuo_ray.io.storage import open_input, size_of

CHUNK = 1 << 16
# What a decoder raises on damaged data. An OSError counts only without an errno (gzip.BadGzipFile, bz2's
# "Invalid data stream"); one with an errno comes from the file system (EIO, ESTALE, ENOENT): see is_io_error.
DAMAGE = (EOFError, OSError, lzma.LZMAError, zlib.error, zstandard.ZstdError)


def is_io_error(e: BaseException) -> bool:
    """Whether an exception is a failure of the file system (errno set: EIO, ESTALE, ENOENT, EACCES ...) rather
    than damaged data (decoders raise without an errno). The first fails the work unit, the second is quarantined."""
    return isinstance(e, OSError) and e.errno is not None


_NAMES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}


class Stream:
    """A file's decompressed bytes, and how far into the compressed file reading got (for damage reports)."""

    def __init__(self, path: str, compression: str | None):
        self.compression = compression
        self.raw = open_input(path)  # a local file or an object (huatuo_ray.io.storage)
        try:
            self.size = size_of(path)
            self.f = _decompressed(self.raw, compression)
        except BaseException:
            self.raw.close()
            raise

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.f.close()
        except DAMAGE:
            pass
        finally:
            self.raw.close()

    def readline(self, limit: int = -1) -> bytes:
        return self.f.readline(limit)

    def read1(self, n: int) -> bytes:
        """At most ``n`` bytes from one read of the decoder: a damaged stream loses only what follows the damage."""
        return self.f.read1(n)

    def damage(self, e: BaseException, pos: int) -> str:
        """Why the stream stops at decompressed byte ``pos``: the decoder's error and the compressed offset."""
        try:
            read_to = f" (compressed file read to byte {self.raw.tell()} of {self.size})"
        except (OSError, ValueError):
            read_to = ""
        return (f"damaged {_NAMES.get(self.compression or '', 'input')} stream at decompressed byte {pos}{read_to}: "
                f"{type(e).__name__}: {e}")


def _decompressed(raw: BinaryIO, compression: str | None) -> BinaryIO:
    if compression is None:
        return raw
    if compression == ".gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == ".bz2":
        return bz2.BZ2File(raw, "rb")
    if compression == ".xz":
        return lzma.LZMAFile(raw, "rb")
    if compression == ".zst":
        return io.BufferedReader(_ZstdReader(raw))
    raise ValueError(f"unsupported compression {compression}")


class _ZstdReader(io.RawIOBase):
    """zstd frames (one or several) as a raw stream that raises EOFError when the input ends inside a frame.

    zstandard's own ``stream_reader`` returns a silent end of file for a truncated frame: the records in the
    lost part would vanish without a trace.
    """

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._buf, self._at = b"", 0
        self._in_frame = False  # bytes of a frame were fed and its end not seen yet
        self._done = False
        self._error: Exception | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self._at >= len(self._buf) and not self._done:
            if self._error is not None:  # raised once what came before the damage has been read
                raise self._error
            chunk = self._raw.read(CHUNK)
            if not chunk:
                self._done = True
                if self._in_frame:
                    raise EOFError("zstd stream ended before the end of its frame")
                break
            self._feed(chunk)
        n = min(len(b), len(self._buf) - self._at)
        b[:n] = self._buf[self._at:self._at + n]
        self._at += n
        return n

    def _feed(self, data: bytes) -> None:
        out = []
        while data:
            try:
                out.append(self._obj.decompress(data))
            except zstandard.ZstdError as e:
                self._error = e
                break
            self._in_frame = not self._obj.eof
            if self._obj.eof:  # the next frame (if any) starts in what this one left over
                data = self._obj.unused_data
                self._obj = zstandard.ZstdDecompressor().decompressobj()
            else:
                data = b""
        self._buf, self._at = self._buf[self._at:] + b"".join(out), 0
