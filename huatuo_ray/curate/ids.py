"""Record ids must be unique within a source: checked when curation's units are committed, not days later.

Segments, pairs and sampled items are named after their document's id, so two documents of one source with the
same id would collide in unification or the sampler, after all the LLM work. The check reads the id column of
every unit's kept rows (one document per row, or its first segment), keeps a 64-bit hash per id (8 bytes per
document, whatever the ids' length), sorts each source's hashes and looks for repeats; a repeated hash is
confirmed on the ids themselves (a collision of two different ids is ignored) before the error names them.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandas.util import hash_array

from huatuo_ray.errors import InputError
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.storage import arrow_source
from huatuo_ray.io.units import WorkUnit


def _hash64(ids: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each id (an object array of str), vectorized (pandas' SipHash of the UTF-8 bytes)."""
    return hash_array(ids, categorize=False)


ID_BATCH_ROWS = 65_536  # ids are read a record batch at a time: the driver never holds a unit's id column


def kept_document_ids(path: Path) -> Iterator[np.ndarray]:
    """The ids of the documents behind a unit's kept rows (a segmented document counts once), as object arrays
    of str, a record batch at a time."""
    pf = pq.ParquetFile(arrow_source(path))
    names = pf.schema_arrow.names
    segmented = "doc_id" in names and "segment_index" in names
    columns = ["doc_id", "segment_index"] if segmented else ["doc_id" if "doc_id" in names else "id"]
    for batch in pf.iter_batches(batch_size=ID_BATCH_ROWS, columns=columns):
        if segmented:
            batch = batch.filter(pc.equal(batch.column(1), 0))
        yield batch.column(0).to_numpy(zero_copy_only=False)


def _kept_file(unit_id: str, dirs: list[OutputDir]) -> Path | None:
    for d in dirs:
        if d.is_done(unit_id):
            p = d.path("kept", unit_id)
            return p if p.exists() else None
    return None


def check_unique_ids(units: list[WorkUnit], dirs: list[OutputDir], examples: int = 3) -> None:
    """Raise :class:`InputError` naming the source and example ids when a source's kept documents repeat an id.

    ``dirs``: where a unit's committed output may be, in order (a global stage's staging folder, the output).
    """
    by_source: dict[str, list[WorkUnit]] = defaultdict(list)
    for u in units:
        by_source[u.source].append(u)
    for source, members in by_source.items():
        files = {u.unit_id: _kept_file(u.unit_id, dirs) for u in members}
        files = {u: f for u, f in files.items() if f is not None}
        hashes = [_hash64(ids) for f in files.values() for ids in kept_document_ids(f)]
        if not hashes:
            continue
        all_ = np.sort(np.concatenate(hashes))
        repeated = set(all_[1:][all_[1:] == all_[:-1]].tolist())
        if repeated:
            _raise_if_confirmed(source, files, repeated, examples)


def _raise_if_confirmed(source: str, files: dict[str, Path], repeated: set[int], examples: int) -> None:
    where: dict[str, list[str]] = defaultdict(list)  # id -> units it occurs in (once per occurrence)
    wanted = np.fromiter(repeated, dtype=np.uint64, count=len(repeated))
    for unit_id, f in files.items():
        for ids in kept_document_ids(f):
            for i in ids[np.isin(_hash64(ids), wanted)].tolist():
                where[i].append(unit_id)
    dups = {i: us for i, us in where.items() if len(us) > 1}
    if not dups:
        return  # only hash collisions of different ids
    shown = "; ".join(f"{i!r} {len(us)} times ({'in unit ' + us[0] if len(set(us)) == 1 else 'in units ' + ', '.join(sorted(set(us))[:3])})"
                      for i, us in list(dups.items())[:examples])
    raise InputError(
        f"source {source!r}: {len(dups):,} record ids occur more than once among the documents curation kept "
        f"(e.g. {shown}). Segments, pairs and sampled items are named by these ids, so they must be unique within "
        "a source: fix the input, or point the source's id_field at a unique field (records without that field "
        "are named by their position)")
