"""CMExam (williamliujl/CMExam ``data/*.csv``): ``Question``, ``Options``, ``Answer``, ``Explanation`` and annotations.

All options sit in one cell, one per line, letter then text (``A 腹水\\nB 清蛋白``); ``Answer`` is one letter or
several (``ACD``). Rows without an answer are skipped and counted (the authors' own scripts skip them too).
The subject is ``Medical Discipline`` when the file has the annotations (``test_with_annotations.csv``); ids are
``<file stem>-<line>``. Every item may have several correct letters, so replies are read as multi-answer.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from huatuo_ray.benchmarks.formats._rows import csv_header, csv_records, require_columns
from huatuo_ray.benchmarks.items import Item, bad, gold_letters

FORMAT = "cmexam"
LANGUAGE = "zh"
_OPTION = re.compile(r"^\s*([A-Z])(?:\s*[.、:：)）]\s*|\s+)(.*\S)\s*$")


def detect(path: Path) -> bool:
    h = csv_header(path) if path.suffix == ".csv" else []
    return {"Question", "Options", "Answer"} <= set(h)


def parse_options(cell: str, path: Path, line: int) -> dict[str, str]:
    options = {}
    for part in cell.splitlines():
        if not part.strip():
            continue
        m = _OPTION.match(part)
        if not m:
            raise bad(path, line, "Options", f"line {part!r} is not '<letter> <text>'")
        if m.group(1) in options:
            raise bad(path, line, "Options", f"option {m.group(1)} appears twice")
        options[m.group(1)] = m.group(2)
    if len(options) < 2:
        raise bad(path, line, "Options", f"fewer than two options in {cell[:80]!r}")
    return options


def read(path: Path, spec) -> tuple[list[Item], Counter]:
    header = csv_header(path)
    require_columns(path, header, ["Question", "Options", "Answer"], FORMAT)
    items, skipped = [], Counter()
    for line, row in csv_records(path):
        q = row["Question"].strip()
        if not q:
            raise bad(path, line, "Question", "missing or empty")
        options = parse_options(row["Options"], path, line)
        if not row["Answer"].strip():
            skipped["no answer"] += 1
            continue
        gold = gold_letters(row["Answer"], options, path, line, "Answer")
        subject = (row.get("Medical Discipline") or "").strip() or None
        items.append(Item(id=f"{path.stem}-{line}", question=q, options=options, gold=gold, subject=subject,
                          multi=True, where=f"{path}:{line}"))
    return items, skipped
