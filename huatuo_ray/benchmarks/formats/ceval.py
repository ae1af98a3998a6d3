"""C-Eval: one CSV per subject and split, ``<subject>_{dev,val,test}.csv``, header ``id,question,A,B,C,D,answer``
(``dev`` adds ``explanation``; ``test`` leaves ``answer`` empty: its rows are skipped and counted).

The subject is the file name without the split (``clinical_medicine_val.csv`` -> ``clinical_medicine``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from huatuo_ray.benchmarks.formats._lettered import read_lettered_csv
from huatuo_ray.benchmarks.formats._rows import csv_header
from huatuo_ray.benchmarks.items import Item

FORMAT = "ceval"
LANGUAGE = "zh"
SUFFIXES = (".csv",)
SPLITS = ("_dev", "_val", "_test")


def detect(path: Path) -> bool:
    h = csv_header(path) if path.suffix == ".csv" else []
    return bool(h) and h[0] == "id" and {"question", "A", "B", "answer"} <= set(h)


def subject_of(path: Path) -> str:
    stem = path.stem
    for s in SPLITS:
        if stem.endswith(s):
            return stem[: -len(s)]
    return stem


def read(path: Path, spec) -> tuple[list[Item], Counter]:
    return read_lettered_csv(path, FORMAT, "question", "answer", "id", subject_of(path))
