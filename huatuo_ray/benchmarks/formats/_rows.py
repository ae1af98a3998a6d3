"""Record iterators shared by the readers: JSON lines, JSON arrays and CSV, each with the record's line number."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

from huatuo_ray.benchmarks.items import bad
from huatuo_ray.errors import InputError


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None


def json_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line, object) for a JSON array of objects or for JSON lines (blank lines skipped)."""
    raw = read_text(path)
    body = raw.lstrip()
    if body.startswith("["):
        yield from _array(path, raw)
        return
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise bad(path, n, "<record>", f"not valid JSON ({e})") from None
        if not isinstance(obj, dict):
            raise bad(path, n, "<record>", f"expected a JSON object, got {type(obj).__name__}")
        yield n, obj


def _array(path: Path, raw: str) -> Iterator[tuple[int, dict]]:
    dec = json.JSONDecoder()
    pos, line, counted = raw.index("[") + 1, 1, 0

    def line_at(p: int) -> int:
        nonlocal line, counted
        line += raw.count("\n", counted, p)
        counted = p
        return line

    while True:
        while pos < len(raw) and raw[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(raw):
            raise bad(path, line_at(pos), "<record>", "JSON array is not closed (truncated file?)")
        if raw[pos] == "]":
            return
        try:
            obj, end = dec.raw_decode(raw, pos)
        except json.JSONDecodeError as e:
            raise bad(path, e.lineno, "<record>", f"not valid JSON ({e.msg})") from None
        n = line_at(pos)
        if not isinstance(obj, dict):
            raise bad(path, n, "<record>", f"expected a JSON object, got {type(obj).__name__}")
        yield n, obj
        pos = end


def first_json_keys(path: Path) -> set[str] | None:
    """Keys of the file's first record, or None when it is not JSON (for format detection)."""
    try:
        for _, obj in json_records(path):
            return set(obj)
    except InputError:
        return None
    return None


def csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f), [])


def csv_records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line where the record starts, row as a dict by header) for a CSV file with a header row."""
    try:
        f = open(path, encoding="utf-8-sig", newline="")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise bad(path, 1, "<header>", "empty file") from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise bad(path, 1, "<header>", str(e)) from None
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as e:
                raise bad(path, start, "<row>", str(e)) from None
            if row and any(c.strip() for c in row):
                if len(row) != len(header):
                    raise bad(path, start, "<row>", f"{len(row)} cells, the header has {len(header)}")
                yield start, dict(zip(header, row))
            start = reader.line_num + 1


def require_columns(path: Path, header: list[str], columns: list[str], fmt: str) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise bad(path, 1, missing[0], f"column missing from the header {header} (format {fmt} needs {columns})")
