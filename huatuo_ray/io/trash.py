"""Discarding an output directory atomically: a kill at any moment leaves the old output whole, or none.

``discard_output`` first renames the directory to a hidden trash name beside it (one atomic ``rename``), makes it
anew, moves back what outlives the output (e.g. unification's request cache) and only then deletes the trash.
Before the rename nothing has changed; after it the old output is gone as a whole: no marker can survive its
data. ``clear_trash`` (at the start of every step) finishes what an interrupted discard left: it moves kept
items back if they are still in the trash and deletes it.

An object store has no rename: there ``discard_output`` first writes a tombstone object (:data:`DISCARDING`),
then deletes the output's objects (``stats.json`` and ``_run.json`` first, then the unit markers, then the rest;
kept entries and the lease stay) and the tombstone last. While the tombstone exists the output counts as gone
(:func:`discarding`); ``clear_trash`` finishes an interrupted discard before anything else touches the output.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Iterable

from huatuo_ray.io.lock import LOCK_FILE, OutputLock
from huatuo_ray.io.storage import ObjectPath, location, rmtree

TRASH_PREFIX = ".trash-"
DISCARDING = "_discarding"
FIRST = ("stats.json", "_run.json", "_markers")  # what makes an output count as done: deleted before its data


def discarding(output: "Path | ObjectPath") -> bool:
    """Whether an object-store output is being discarded (its tombstone exists): it counts as gone."""
    return isinstance(output, ObjectPath) and (output / DISCARDING).exists()


def _discard_objects(output: ObjectPath, keep: tuple[str, ...]) -> None:
    (output / DISCARDING).write_text("discarding\n")
    names = [p.name for p in output.iterdir()]
    spared = {*keep, LOCK_FILE, DISCARDING}
    for name in [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]:
        if name not in spared:
            rmtree(output / name)
    (output / DISCARDING).unlink(missing_ok=True)


def _trash_of(output: Path) -> list[Path]:
    pattern = re.compile(rf"{re.escape(TRASH_PREFIX + output.name)}-[0-9a-f]{{32}}")
    parent = output.parent
    return sorted(p for p in parent.iterdir() if pattern.fullmatch(p.name)) if parent.is_dir() else []


def _restore(trash: Path, output: Path, keep: Iterable[str]) -> None:
    for name in keep:
        if (trash / name).exists() and not (output / name).exists():
            output.mkdir(parents=True, exist_ok=True)
            os.replace(trash / name, output / name)


def discard_output(output: "str | Path | ObjectPath", keep: Iterable[str] = (), lock: OutputLock | None = None) -> None:
    """Remove ``output`` but the entries named in ``keep``; with ``lock`` (held on ``output``), hold it on the new
    directory afterwards, so no other run can slip in."""
    output, keep = location(output), tuple(keep)
    if not output.exists():
        return
    if isinstance(output, ObjectPath):
        _discard_objects(output, keep)
        return
    trash = output.with_name(f"{TRASH_PREFIX}{output.name}-{uuid.uuid4().hex}")
    os.replace(output, trash)  # the one step that discards: atomic
    output.mkdir()
    if lock is not None and lock.held:
        lock.move_to(output)
    _restore(trash, output, keep)
    shutil.rmtree(trash, ignore_errors=True)


def clear_trash(output: "str | Path | ObjectPath", keep: Iterable[str] = ()) -> int:
    """Finish interrupted discards of ``output``: kept entries back, the rest deleted; returns how many."""
    output, keep = location(output), [k for k in keep if k != LOCK_FILE]
    if isinstance(output, ObjectPath):
        if not discarding(output):
            return 0
        _discard_objects(output, tuple(keep))
        return 1
    found = _trash_of(output)
    for trash in found:
        _restore(trash, output, keep)
        shutil.rmtree(trash, ignore_errors=True)
    return len(found)
