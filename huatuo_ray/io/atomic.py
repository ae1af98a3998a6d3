"""Atomic writes: a file appears whole under its final name or not at all.

Every writer of the project goes through here: write under a temporary name in the same folder, then
``os.replace`` it onto the final name (atomic on POSIX file systems). A crash leaves at most a ``.tmp-*``
file, which :func:`remove_temporaries` clears and no reader ever opens.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

TMP_PREFIX = ".tmp-"


@contextmanager
def atomic_path(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` when the block succeeds.

    ``suffix`` ends the temporary name (``np.save`` insists on ``.npy``). On an exception the temporary is
    removed and ``final`` is untouched. The temporary may be a file or a directory.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{TMP_PREFIX}{final.name}-{uuid.uuid4().hex}{suffix}")
    try:
        yield tmp
        if tmp.is_dir() and final.is_dir():  # a directory replaces a directory: the old one goes first
            import shutil

            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """JSON (UTF-8, indented) written atomically."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=1))


def write_parquet_atomic(table, path: str | Path, compression: str = "zstd") -> None:
    """A pyarrow Table written atomically as Parquet."""
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression=compression)


def save_npy_atomic(array, path: str | Path) -> None:
    """A numpy array written atomically as ``.npy``."""
    import numpy as np

    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def remove_temporaries(folder: str | Path) -> int:
    """Delete leftover temporaries of interrupted writes directly inside ``folder``; returns how many."""
    folder = Path(folder)
    n = 0
    if folder.is_dir():
        for p in folder.glob(f"{TMP_PREFIX}*"):
            if p.is_dir():
                import shutil

                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            n += 1
    return n
