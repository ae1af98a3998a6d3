"""Benchmark items: one multiple-choice question with lettered options and its gold letter(s)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from huatuo_ray.errors import InputError


@dataclass(frozen=True)
class Item:
    """One question. ``gold`` is one letter, or several sorted letters for multi-answer items ("ABCE").

    ``multi`` says the item's format allows several correct letters (CMB 多项选择题, CMExam); the answer
    extractor reads a reply with it, never with the gold. ``qtype`` is the question type shown in the prompt.
    """

    id: str
    question: str
    options: dict[str, str]
    gold: str
    subject: str | None = None
    qtype: str | None = None
    multi: bool = False
    where: str = ""


@dataclass
class Benchmark:
    """A loaded benchmark: items in file order plus what was skipped and why."""

    name: str
    format: str
    language: str
    path: str
    items: list[Item] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def subjects(self) -> list[str]:
        return sorted({i.subject for i in self.items if i.subject})


def bad(path: str | Path, line: int | str, field_name: str, problem: str) -> InputError:
    """The error for a record that does not parse: names the file, the line and the field."""
    return InputError(f"{path}, line {line}, field {field_name!r}: {problem}")


def gold_letters(raw: object, options: dict[str, str], path: str | Path, line: int, field_name: str) -> str:
    """Normalise an answer such as "B", "ABCE", "A,C" or "A、C" to sorted option letters; check each exists."""
    if not isinstance(raw, str):
        raise bad(path, line, field_name, f"expected option letter(s), got {type(raw).__name__} {raw!r}")
    letters = [c for c in raw.strip().upper() if c not in " ,，、;；/"]
    if not letters:
        raise bad(path, line, field_name, "empty answer")
    unknown = [c for c in letters if c not in options]
    if unknown:
        raise bad(path, line, field_name, f"answer {raw!r} names {''.join(unknown)!r}, not among the options "
                  f"{''.join(options)}")
    return "".join(sorted(set(letters)))


def text(obj: dict, key: str, path: str | Path, line: int, required: bool = True) -> str | None:
    """A string field of a record (numbers are accepted as text); a clear error when required and absent."""
    v = obj.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise bad(path, line, key, "missing or empty")
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    if not isinstance(v, str):
        raise bad(path, line, key, f"expected text, got {type(v).__name__}")
    return v.strip()
