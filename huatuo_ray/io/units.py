"""Work units: the resumable pieces a corpus is cut into.

A unit is a whole file, a byte range of an uncompressed JSONL file, or a run of Parquet row groups.
Unit ids are stable (derived from source, relative path and range), so a rerun finds the same units
and skips the ones whose completion marker exists. A source may be a local path or an object-store URI
(``s3://bucket/prefix``, a single object, or a glob over keys): the same corpus gives the same units either way.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq

from huatuo_ray.errors import InputError
from huatuo_ray.io.storage import arrow_source, glob_regex, is_remote, location, size_of
from huatuo_ray.recipe import SourceConfig

COMPRESSIONS = (".gz", ".zst", ".bz2", ".xz")
_EXT_FORMAT = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".json": "conversations",
    ".txt": "text",
    ".md": "text",
}


@dataclass(frozen=True)
class WorkUnit:
    """One resumable piece of input. ``start``/``end`` are bytes (JSONL) or row groups (Parquet)."""

    source: str
    path: str
    relpath: str
    format: str
    compression: str | None = None
    start: int = 0
    end: int = -1

    @property
    def unit_id(self) -> str:
        key = f"{self.source}\0{self.relpath}\0{self.start}\0{self.end}"
        stem = re.sub(r"[^A-Za-z0-9]+", "_", Path(self.relpath).name)[:40].strip("_")
        return f"{self.source}-{stem}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"

    def to_dict(self) -> dict:
        return asdict(self)


def split_compression(path: str) -> tuple[str, str | None]:
    """Return (path without compression suffix, compression suffix or None)."""
    for ext in COMPRESSIONS:
        if path.endswith(ext):
            return path[: -len(ext)], ext
    return path, None


def detect_format(path: str, declared: str) -> str:
    """The reader for ``path``: the declared format, else one chosen by extension."""
    if declared != "auto":
        return declared
    base, _ = split_compression(path)
    fmt = _EXT_FORMAT.get(Path(base).suffix.lower())
    return fmt or "text"


def _skipped(name: str) -> bool:
    return name.startswith(".") or name.startswith("_")


def _list_objects(source: SourceConfig) -> tuple[str, list[str]]:
    """:func:`list_files` for an object-store URI: an object, every object under a prefix, or a glob over keys."""
    if not any(c in source.path for c in "*?["):
        loc = location(source.path)
        if loc.is_file():
            return str(loc.parent), [str(loc)]
        files = [str(p) for p, _ in loc.files() if not _skipped(p.name)]
        if files:
            return str(loc), files
        raise InputError(f"source {source.name!r}: path {source.path!r} matches no object")
    base = location(re.split(r"[*?\[]", source.path, maxsplit=1)[0].rsplit("/", 1)[0])
    rx = glob_regex(str(location(source.path)))
    matches = [str(p) for p, _ in base.files() if rx.match(str(p))]
    if not matches:
        raise InputError(f"source {source.name!r}: path {source.path!r} matches no object")
    common = os.path.commonpath([m.split("://", 1)[1].rsplit("/", 1)[0] for m in matches])
    return f"{base.scheme}://{common}", matches


def list_files(source: SourceConfig) -> tuple[str, list[str]]:
    """Resolve a source path (file, directory or glob; local or an object-store URI) to (root, sorted absolute
    file paths or URIs)."""
    if is_remote(source.path):
        return _list_objects(source)
    path = str(location(source.path))  # file:// stripped, ~ expanded
    if os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path)), [os.path.abspath(path)]
    if os.path.isdir(path):
        root = os.path.abspath(path)
        files = [
            os.path.join(d, f)
            for d, _, names in os.walk(root)
            for f in names
            if not _skipped(f)
        ]
        return root, sorted(files)
    matches = sorted(os.path.abspath(p) for p in glob.glob(path, recursive=True) if os.path.isfile(p))
    if not matches:
        raise InputError(f"source {source.name!r}: path {source.path!r} matches no file")
    root = os.path.commonpath([os.path.dirname(m) for m in matches])
    return root, matches


def plan_units(sources: list[SourceConfig], unit_bytes: int, parquet_rows_per_unit: int) -> list[WorkUnit]:
    """Cut every source into work units, in a stable order."""
    units: list[WorkUnit] = []
    for source in sources:
        root, files = list_files(source)
        for path in files:
            units.extend(_units_for_file(source, root, path, unit_bytes, parquet_rows_per_unit))
    return units


def _units_for_file(source: SourceConfig, root: str, path: str, unit_bytes: int, rows_per_unit: int) -> list[WorkUnit]:
    rel = path[len(root):].lstrip("/") if is_remote(path) else os.path.relpath(path, root)
    fmt = detect_format(path, source.format)
    _, compression = split_compression(path)
    base = WorkUnit(source=source.name, path=path, relpath=rel, format=fmt, compression=compression)
    if fmt == "jsonl" and compression is None:
        size = size_of(path)
        if size <= unit_bytes:
            return [base]
        return [
            WorkUnit(source.name, path, rel, fmt, None, start, min(start + unit_bytes, size))
            for start in range(0, size, unit_bytes)
        ]
    if fmt == "parquet":
        try:
            meta = pq.ParquetFile(arrow_source(path)).metadata
        except Exception:  # unreadable: one unit, the reader quarantines it with the reason
            return [base]
        groups, rows, start = [], 0, 0
        for g in range(meta.num_row_groups):
            rows += meta.row_group(g).num_rows
            if rows >= rows_per_unit:
                groups.append((start, g + 1))
                start, rows = g + 1, 0
        if start < meta.num_row_groups or not groups:
            groups.append((start, meta.num_row_groups))
        return [WorkUnit(source.name, path, rel, fmt, None, s, e) for s, e in groups]
    return [base]


def missing_sources(sources: list[SourceConfig]) -> list[str]:
    """One message per source whose path matches no file (for dry runs: nothing is read)."""
    out = []
    for s in sources:
        try:
            list_files(s)
        except InputError as e:
            out.append(str(e))
    return out


def describe_units(sources: list[SourceConfig], units: list[WorkUnit]) -> tuple[str, dict[str, int]]:
    """A line on what the units read (sources, files, size) and each input file's size (to notice changes)."""
    files = {p: size_of(p) for p in dict.fromkeys(u.path for u in units)}  # once per file (a HEAD per object)
    return f"{len(sources)} sources, {len(files)} files, {sum(files.values()) / 1e6:.1f} MB", files
