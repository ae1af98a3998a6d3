"""CMB-Exam (FreedomIntelligence/CMB): a JSON array of ``{"id", "exam_type", "exam_class", "exam_subject",
"question_type", "question", "option": {letter: text}, "answer"}``.

``question_type`` is 单项选择题 or 多项选择题 (multi-answer, ``"answer": "ABCE"``); it is shown in the prompt as
``[type]`` and decides how a reply is read (without it, a reply may name several letters). Empty options are dropped (the paper's script does the same). The
subject is ``exam_type/exam_class``, the grouping of CMB's own scorer. Items without ``answer`` (the released
test questions; the answers are a separate file) are skipped and counted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from huatuo_ray.benchmarks.formats._rows import first_json_keys, json_records
from huatuo_ray.benchmarks.items import Item, bad, gold_letters, text

FORMAT = "cmb"
LANGUAGE = "zh"
MULTI_TYPES = ("多项选择题", "多选题")


def detect(path: Path) -> bool:
    keys = first_json_keys(path)
    return keys is not None and {"question", "option"} <= keys


def read(path: Path, spec) -> tuple[list[Item], Counter]:
    items, skipped = [], Counter()
    for line, obj in json_records(path):
        question = text(obj, "question", path, line)
        opts = obj.get("option")
        if not isinstance(opts, dict):
            raise bad(path, line, "option", "expected an object {letter: text}")
        options = {k.strip().upper(): v.strip() for k, v in opts.items() if isinstance(v, str) and v.strip()}
        if len(options) < 2 or not all(len(k) == 1 and k.isalpha() for k in options):
            raise bad(path, line, "option", f"expected at least two lettered options, got {list(opts)}")
        if obj.get("answer") in (None, ""):
            skipped["no answer"] += 1
            continue
        gold = gold_letters(obj["answer"], options, path, line, "answer")
        qtype = text(obj, "question_type", path, line, required=False)
        group = [g for g in (text(obj, "exam_type", path, line, False), text(obj, "exam_class", path, line, False))
                 if g]
        rid = obj.get("id")
        items.append(Item(id=str(rid) if rid not in (None, "") else f"{path.stem}-{line}", question=question,
                          options=options, gold=gold, subject="/".join(group) or None, qtype=qtype,
                          multi=qtype in MULTI_TYPES if qtype else True, where=f"{path}:{line}"))
    return items, skipped
