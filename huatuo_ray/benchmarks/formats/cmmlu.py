"""CMMLU: one CSV per subject, header ``,Question,A,B,C,D,Answer`` (the first column is the row index).

The subject is the file name (``clinical_knowledge.csv``); ids are ``<subject>-<row index>``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from huatuo_ray.benchmarks.formats._lettered import read_lettered_csv
from huatuo_ray.benchmarks.formats._rows import csv_header
from huatuo_ray.benchmarks.items import Item

FORMAT = "cmmlu"
LANGUAGE = "zh"
SUFFIXES = (".csv",)


def detect(path: Path) -> bool:
    h = csv_header(path) if path.suffix == ".csv" else []
    return bool(h) and h[0] == "" and {"Question", "A", "B", "Answer"} <= set(h)


def subject_of(path: Path) -> str:
    return path.stem


def read(path: Path, spec) -> tuple[list[Item], Counter]:
    return read_lettered_csv(path, FORMAT, "Question", "Answer", "", subject_of(path))
