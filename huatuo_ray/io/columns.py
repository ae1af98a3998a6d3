"""Records held as columns: what a stage that makes many records at once (segmentation) hands on.

The writer turns them into an Arrow table column by column (:meth:`Columns.to_table`), without a dict per record;
a stage that runs after it sees the same records as dicts (:class:`Columns` is a sequence of dicts, built once
when first asked for).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Iterator

import pyarrow as pa


class Columns(Sequence):
    """``n`` records as one list per field, fields in first-seen order, a field a record lacks ``None``.

    ``to_table()`` is ``rows_to_table(list(self))`` (:mod:`huatuo_ray.io.output`): the same columns, in the same
    order, with the same types, and as a sequence it holds the same records (a field a record lacked is ``None``).
    """

    def __init__(self, columns: dict[str, list[Any]], n: int):
        bad = [k for k, v in columns.items() if len(v) != n]
        if bad:
            raise ValueError(f"columns {bad} do not hold {n} values each")
        self.columns, self.n = columns, n
        self._records: list[dict] | None = None

    def __len__(self) -> int:
        return self.n

    def _dicts(self) -> list[dict]:
        if self._records is None:
            names = list(self.columns)
            self._records = [dict(zip(names, values)) for values in zip(*self.columns.values())] if names \
                else [{} for _ in range(self.n)]
        return self._records

    def __getitem__(self, i):
        return self._dicts()[i]

    def __iter__(self) -> Iterator[dict]:
        return iter(self._dicts())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Columns, list)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list

    def column(self, name: str) -> list[Any] | None:
        return self.columns.get(name)

    def to_table(self) -> pa.Table:
        return pa.table(self.columns) if self.columns else pa.table({})

    def __getstate__(self) -> dict:
        return {"columns": self.columns, "n": self.n}  # not the dicts, if they were built

    def __setstate__(self, state: dict) -> None:
        self.columns, self.n, self._records = state["columns"], state["n"], None
