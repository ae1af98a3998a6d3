"""MedMCQA, its authors' release: JSON lines with ``question``, ``opa``..``opd``, ``cop``, ``subject_name``, ``choice_type``.

``cop`` numbers the correct option from 1 (1 = ``opa``) in the authors' files: their loader subtracts one
(``label = cop - 1`` in medmcqa/medmcqa ``dataset.py``) and their README example has ``cop: 1`` for the right
answer in ``opa``. The Hugging Face ``medmcqa`` dataset stores it as a 0-based class label (names a-d); read such
an export with ``medmcqa_cop_base: 0``. A ``cop`` outside the configured range is an error that names the other
base. Items without ``cop`` (or with ``-1``: the test split, whose answers are not public) are skipped and counted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from huatuo_ray.benchmarks.formats._rows import first_json_keys, json_records
from huatuo_ray.benchmarks.items import Item, bad, text

FORMAT = "medmcqa"
LANGUAGE = "en"
OPTION_KEYS = ("opa", "opb", "opc", "opd")


def detect(path: Path) -> bool:
    keys = first_json_keys(path)
    return keys is not None and {"question", *OPTION_KEYS} <= keys


def read(path: Path, spec) -> tuple[list[Item], Counter]:
    base = spec.medmcqa_cop_base
    items, skipped = [], Counter()
    for line, obj in json_records(path):
        question = text(obj, "question", path, line)
        options = {"ABCD"[i]: text(obj, k, path, line) for i, k in enumerate(OPTION_KEYS)}
        cop = obj.get("cop")
        if cop is None or cop == "" or cop == -1 or cop == "-1":
            skipped["no cop (answers not released)"] += 1
            continue
        try:
            cop = int(cop)
        except (TypeError, ValueError):
            raise bad(path, line, "cop", f"expected an option number, got {cop!r}") from None
        if not base <= cop <= base + 3:
            hint = {0: "; 0 means a 0-based export (Hugging Face): set medmcqa_cop_base: 0",
                    4: "; 4 means a 1-based file (the authors' release): set medmcqa_cop_base: 1"}.get(cop, "")
            raise bad(path, line, "cop", f"{cop} is outside {base}-{base + 3} (medmcqa_cop_base={base}){hint}")
        rid = obj.get("id")
        items.append(Item(id=str(rid) if rid not in (None, "") else f"{path.stem}-{line}", question=question,
                          options=options, gold="ABCD"[cop - base],
                          subject=text(obj, "subject_name", path, line, required=False), where=f"{path}:{line}"))
    return items, skipped
