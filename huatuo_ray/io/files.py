"""Finding a step's Parquet inputs: a file, a directory (recursively) or a glob; local or in an object store."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from huatuo_ray.errors import InputError
from huatuo_ray.io.storage import ObjectPath, glob_regex, location


def parquet_files(name: str, path: str, allow_none: bool = False) -> list[str]:
    """Sorted Parquet files of source ``name`` (names starting with '.' or '_' are skipped in a directory).

    No file is an :class:`InputError`, unless ``allow_none`` (a source that may be empty, e.g. a source type
    that kept no pairs).
    """
    p = location(path)
    if isinstance(p, ObjectPath):
        found = _objects(p, str(path))
    elif p.is_file():
        return [str(p)]
    elif p.is_dir():
        found = [f for f in p.rglob("*.parquet") if not any(part[0] in "._" for part in f.relative_to(p).parts)]
    else:
        found = [Path(f) for f in glob.glob(path, recursive=True) if f.endswith(".parquet") and os.path.isfile(f)]
    if not found and not allow_none:
        raise InputError(f"source {name!r}: {path} matches no Parquet file")
    return sorted(str(f) for f in found)


def _objects(p: ObjectPath, path: str) -> list[ObjectPath]:
    if not any(c in path for c in "*?["):
        if p.is_file():
            return [p]
        return [f for f, _ in p.files() if f.suffix == ".parquet"
                and not any(part[0] in "._" for part in f.relative_to(p).parts)]
    base = location(re.split(r"[*?\[]", str(p), maxsplit=1)[0].rsplit("/", 1)[0])
    rx = glob_regex(str(p))
    return [f for f, _ in base.files() if f.suffix == ".parquet" and rx.match(str(f))]
