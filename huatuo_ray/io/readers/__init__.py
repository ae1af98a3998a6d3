"""Readers: turn one work unit into documents, quarantining what cannot be read.

Every raw record ends as exactly one document or one quarantine entry; ``ReadResult.records``
counts raw records (blank lines in JSONL are skipped and counted separately, they are not records).

A unit is read as a stream of parts (:func:`read_parts`): a part is yielded whenever the raw bytes of its records
reach ``part_bytes``, so a unit of any size is held one part at a time. A reader per format (JSON documents read their JSON Lines form with the JSONL one): :mod:`.jsonl`,
:mod:`.json_doc` (``.json``), :mod:`.parquet`, :mod:`.text`; :mod:`.record` turns a parsed record into a document.

Damaged data (a truncated or corrupt compressed stream, a malformed item of a JSON list) keeps the records
before the damage; the rest of the file becomes one quarantine entry naming the decoder's error and the byte
where it starts. A failure of the file system (an ``OSError`` with an errno, see :func:`is_io_error`) is not
data: it raises :class:`~huatuo_ray.errors.InputReadError`, so the unit fails (and is retried) instead of
being committed with its unread records missing.

``CHUNK``, ``FAST_JSON`` and ``open_input`` are read from this package when used, so a test may set them here.
"""

from __future__ import annotations

from typing import Iterator

from huatuo_ray.errors import InputReadError
from huatuo_ray.io.compressed import CHUNK, is_io_error
from huatuo_ray.io.storage import open_input
from huatuo_ray.io.units import WorkUnit
from huatuo_ray.recipe import SourceConfig

FAST_JSON = True  # JSONL lines go through orjson where it gives the same value (False: json.loads for every line)

from huatuo_ray.io.readers.record import BOM, NESTED, RESERVED, ReadResult  # noqa: E402 (the settings come first)
from huatuo_ray.io.readers.json_doc import JsonReader  # noqa: E402
from huatuo_ray.io.readers.parquet import PARQUET_BATCH_BYTES, ParquetReader  # noqa: E402
from huatuo_ray.io.readers.text import TextReader  # noqa: E402

__all__ = ["BOM", "CHUNK", "FAST_JSON", "NESTED", "PARQUET_BATCH_BYTES", "RESERVED", "ReadResult", "is_io_error",
           "open_input", "read_parts", "read_unit"]


class _Reader(JsonReader, ParquetReader, TextReader):
    """One unit's reader: the format's records, as parts."""

    def parts(self) -> Iterator[ReadResult]:
        """The unit's records as parts (at least one; the last may be the only one)."""
        fmt = self.unit.format
        try:
            if fmt == "jsonl":
                yield from self._read_jsonl()
            elif fmt == "parquet":
                yield from self._read_parquet()
            elif fmt == "conversations":
                yield from self._read_json_document()
            elif fmt in ("text", "text_blocks"):
                yield from self._read_text(blocks=fmt == "text_blocks")
            else:
                raise ValueError(f"unknown format {fmt!r}")
        except OSError as e:
            if is_io_error(e):  # the file system failed, not the data: the unit fails and is retried
                raise InputReadError(f"{self.source.name}: reading {self.unit.relpath} failed: {e}") from e
            self.quarantine(self._id("file"), f"unreadable file: {e}", None)  # e.g. not gzip at all
        if self._parts == 0 or self.result.records or self.result.blank_lines:
            yield self._take()


def read_unit(unit: WorkUnit, source: SourceConfig, max_record_bytes: int, excerpt_chars: int) -> ReadResult:
    """Read one work unit into documents and quarantine entries (all of it at once: one part)."""
    return next(_Reader(unit, source, max_record_bytes, excerpt_chars).parts())


def read_parts(unit: WorkUnit, source: SourceConfig, max_record_bytes: int, excerpt_chars: int,
               part_bytes: int) -> Iterator[ReadResult]:
    """Read one work unit as parts of about ``part_bytes`` raw bytes each. Every raw record lies in exactly one
    part; at least one part is yielded."""
    return _Reader(unit, source, max_record_bytes, excerpt_chars, part_bytes).parts()
