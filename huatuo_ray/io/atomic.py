"""Atomic writes: a file appears whole under its final name or not at all.

Every writer of the project goes through here: write under a temporary name in the same folder, then
``os.replace`` it onto the final name (atomic on POSIX file systems). A crash leaves at most a ``.tmp-*``
file, which :func:`remove_temporaries` clears and no reader ever opens.

When the final name is in an object store (an :class:`~huatuo_ray.io.storage.ObjectPath`) there is no rename:
the temporary is a local file, uploaded as the object in one upload when the block succeeds (an object appears
whole or not at all, :func:`~huatuo_ray.io.storage.upload`). A temporary directory is uploaded file by file, so
only a caller that writes its own completion marker afterwards may use one there.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from huatuo_ray.io.storage import ObjectPath, location, upload

TMP_PREFIX = ".tmp-"
UPLOAD_PREFIX = f"{TMP_PREFIX}upload-"  # <system temp>/.tmp-upload-<pid>-*: the local side of an upload


@contextmanager
def atomic_path(final: "str | Path | ObjectPath", suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` when the block succeeds.

    ``suffix`` ends the temporary name (``np.save`` insists on ``.npy``). On an exception the temporary is
    removed and ``final`` is untouched. The temporary may be a file or a directory.
    """
    final = location(final)
    if isinstance(final, ObjectPath):
        with _uploaded(final, suffix) as tmp:
            yield tmp
        return
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


@contextmanager
def _uploaded(final: ObjectPath, suffix: str) -> Iterator[Path]:
    """A local temporary, uploaded onto ``final`` (a file as one object, a directory object by object)."""
    import shutil
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-"))
    tmp = work / f"{final.name}{suffix}"
    try:
        yield tmp
        if tmp.is_dir():
            for f in sorted(p for p in tmp.rglob("*") if p.is_file()):
                upload(f, final / str(f.relative_to(tmp)))
        else:
            upload(tmp, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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


def _remove_dead_uploads() -> int:
    """Delete the local temporaries of uploads whose process died (a kill -9 mid-upload), on this host."""
    import re
    import shutil
    import tempfile

    n = 0
    for p in Path(tempfile.gettempdir()).glob(f"{UPLOAD_PREFIX}*"):
        m = re.match(rf"{re.escape(UPLOAD_PREFIX)}(\d+)-", p.name)
        if m and not _alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            n += 1
    return n


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_temporaries(folder: "str | Path | ObjectPath") -> int:
    """Delete leftover temporaries of interrupted writes directly inside ``folder``; returns how many. For a folder
    in an object store, whose temporaries are local, those of dead processes in the system temp directory."""
    folder = location(folder)
    if isinstance(folder, ObjectPath):
        return _remove_dead_uploads()
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
