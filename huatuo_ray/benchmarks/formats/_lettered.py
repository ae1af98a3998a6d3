"""CSV files with one column per option letter (CMMLU, C-Eval): one file per subject."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from huatuo_ray.benchmarks.formats._rows import csv_header, csv_records, require_columns
from huatuo_ray.benchmarks.items import Item, bad, gold_letters

LETTERS = "ABCDEFGH"


def read_lettered_csv(path: Path, fmt: str, question: str, answer: str, id_col: str, subject: str
                      ) -> tuple[list[Item], Counter]:
    header = csv_header(path)
    require_columns(path, header, [id_col, question, "A", "B", answer], fmt)
    letters = [c for c in LETTERS if c in header]
    items, skipped = [], Counter()
    for line, row in csv_records(path):
        q = row[question].strip()
        if not q:
            raise bad(path, line, question, "missing or empty")
        options = {k: row[k].strip() for k in letters if row[k].strip()}
        if not row[answer].strip():
            skipped["no answer (test split?)"] += 1
            continue
        gold = gold_letters(row[answer], options, path, line, answer)
        rid = row[id_col].strip() or str(line)
        items.append(Item(id=f"{subject}-{rid}", question=q, options=options, gold=gold, subject=subject,
                          where=f"{path}:{line}"))
    return items, skipped
