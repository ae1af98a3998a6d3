"""Writing the ordered stream: numbered Parquet parts with a ``position`` column, and their checks.

Each part holds a contiguous run of the order (positions ``first .. first + rows - 1``) with
columns position, source (dictionary-encoded name), epoch, id and key. A writer also reports the
part's per-window source counts (for the plot), its first and last rows and any id repeated
within a source, so the driver can check the whole stream without reading it back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from huatuo_ray.io.atomic import write_parquet_atomic
from huatuo_ray.sample.order import SORT_COLUMNS
from huatuo_ray.sample.plot import window_counts


def part_path(folder: Path | str, index: int) -> str:
    return str(Path(folder) / f"part-{index:05d}.parquet")


def output_table(table: pa.Table, first: int, names: list[str]) -> pa.Table:
    """A sorted keyed table as written: position, source, epoch, id, key."""
    src = pa.DictionaryArray.from_arrays(table.column("src").combine_chunks(), pa.array(names, pa.string()))
    return pa.table({"position": np.arange(first, first + table.num_rows, dtype=np.int64), "source": src,
                     "epoch": table.column("epoch"), "id": table.column("id"), "key": table.column("key")})


def write_part(table: pa.Table, first: int, path: str, names: list[str], window: int, n_windows: int) -> dict:
    """Write one ordered part atomically; return its size, window counts, edge rows and repeated ids."""
    if not isinstance(table, pa.Table):  # a Ray block in another format
        table = pa.Table.from_pandas(table, preserve_index=False)
    write_parquet_atomic(output_table(table, first, names), path)
    src = table.column("src").to_numpy()
    key = table.column("key").to_numpy()
    same = np.flatnonzero((key[1:] == key[:-1]) & (src[1:] == src[:-1]))
    dups = []
    if same.size:  # rare: look only at the tied pairs
        cols = table.select(["src", "epoch", "id"])
        a, b = cols.take(pa.array(same)).to_pylist(), cols.take(pa.array(same + 1)).to_pylist()
        dups = [(names[x["src"]], x["id"]) for x, y in zip(a, b) if x == y]
    edge = table.select(SORT_COLUMNS)
    return {"path": path, "first": first, "rows": table.num_rows,
            "counts": window_counts(first, src, window, n_windows, len(names)),
            "head": edge.slice(0, 1).to_pylist()[0], "tail": edge.slice(table.num_rows - 1, 1).to_pylist()[0],
            "duplicates": dups[:5]}


def check_parts(parts: list[dict], total: int, names: list[str]) -> None:
    """Every item written once, positions contiguous, and no id repeated within a source."""
    parts.sort(key=lambda p: p["first"])
    dups = [d for p in parts for d in p["duplicates"]]
    dups += [(names[a["tail"]["src"]], a["tail"]["id"]) for a, b in zip(parts, parts[1:]) if a["tail"] == b["head"]]
    if dups:
        shown = ", ".join(f"{s}: {i!r}" for s, i in dups[:5])
        raise ValueError(f"ids repeat within a source ({shown}): ids must be unique within each source")
    written = sum(p["rows"] for p in parts)
    if written != total or any(a["first"] + a["rows"] != b["first"] for a, b in zip(parts, parts[1:])):
        raise RuntimeError(f"the sampler wrote {written:,} rows for {total:,} items")
