"""MedQA, the jind11 release: JSON lines ``{"question", "options": {letter: text}, "answer", "answer_idx", "meta_info"}``.

``answer_idx`` is the gold letter and ``answer`` its text (checked to agree). The release has no ids: an item's
id is ``<file stem>-<line>``. ``meta_info`` (``step1``, ``step2&3``) is the subject.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from huatuo_ray.benchmarks.formats._rows import first_json_keys, json_records
from huatuo_ray.benchmarks.items import Item, bad, gold_letters, text

FORMAT = "medqa"
LANGUAGE = "en"
KEYS = {"question", "options", "answer_idx"}


def detect(path: Path) -> bool:
    keys = first_json_keys(path)
    return keys is not None and KEYS <= keys


def read(path: Path, spec) -> tuple[list[Item], Counter]:
    items, skipped = [], Counter()
    for line, obj in json_records(path):
        question = text(obj, "question", path, line)
        opts = obj.get("options")
        if not isinstance(opts, dict) or not opts:
            raise bad(path, line, "options", "expected an object {letter: text}")
        options = {}
        for k, v in opts.items():
            if not (isinstance(k, str) and len(k) == 1 and k.isalpha()) or not isinstance(v, str):
                raise bad(path, line, "options", f"entry {k!r}: expected a letter and its text")
            options[k.upper()] = v.strip()
        if obj.get("answer_idx") in (None, ""):
            skipped["no answer_idx"] += 1
            continue
        gold = gold_letters(obj["answer_idx"], options, path, line, "answer_idx")
        answer = obj.get("answer")
        if isinstance(answer, str) and answer.strip() and _norm(answer) != _norm(options[gold]):
            raise bad(path, line, "answer", f"{answer!r} is not the text of option {gold} ({options[gold]!r})")
        items.append(Item(id=str(obj.get("id") or f"{path.stem}-{line}"), question=question, options=options,
                          gold=gold, subject=text(obj, "meta_info", path, line, required=False),
                          where=f"{path}:{line}"))
    return items, skipped


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()
