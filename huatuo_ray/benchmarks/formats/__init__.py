"""Benchmark readers, one module per release format, and :func:`load_benchmark`.

``format: auto`` looks at each file: the keys of its first JSON record (MedQA ``options`` + ``answer_idx``;
MedMCQA ``opa``..``opd``; CMB ``option``) or its CSV header (CMMLU ``,Question,...,Answer``; C-Eval
``id,question,...,answer``; CMExam ``Question,Options,Answer``). A named format (``--format``) skips detection and
reads every file with that reader, so a file of another format fails on its first record with the missing field.
A directory means the files directly inside it (``.json``, ``.jsonl``, ``.csv``), in name order.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from huatuo_ray.benchmarks.formats import ceval, cmb, cmexam, cmmlu, medmcqa, medqa
from huatuo_ray.benchmarks.items import Benchmark, Item
from huatuo_ray.errors import InputError
from huatuo_ray.io.language import detect_language

READERS = {m.FORMAT: m for m in (medqa, medmcqa, cmb, cmmlu, ceval, cmexam)}
SUFFIXES = (".json", ".jsonl", ".csv")


def benchmark_files(path: Path) -> list[Path]:
    if not path.exists():
        raise InputError(f"benchmark {path}: no such file or directory")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not files:
        raise InputError(f"benchmark {path}: no {', '.join(SUFFIXES)} files directly inside")
    return files


def detect_format(path: Path) -> str:
    """The release format of one file, or an InputError saying what was looked for."""
    for name, mod in READERS.items():
        if mod.detect(path):
            return name
    raise InputError(f"{path}: format not recognised (looked for MedQA 'options'+'answer_idx', MedMCQA 'opa'..'opd', "
                     "CMB 'option', CMMLU ',Question,..,Answer', C-Eval 'id,question,..,answer', CMExam "
                     "'Question,Options,Answer'); name it with format: / --format")


def load_benchmark(spec) -> Benchmark:
    """Read a :class:`~huatuo_ray.benchmarks.config.BenchmarkSpec`: detect, parse, filter subjects, slice."""
    path = Path(spec.path)
    files = benchmark_files(path)
    formats = {f: spec.format if spec.format != "auto" else detect_format(f) for f in files}
    if len(set(formats.values())) > 1:
        raise InputError(f"benchmark {path}: files of different formats {sorted(set(formats.values()))}; "
                         "give each its own benchmark entry")
    fmt = next(iter(formats.values()))
    items: list[Item] = []
    skipped: Counter = Counter()
    for f in files:
        got, skip = READERS[fmt].read(f, spec)
        items += got
        skipped.update(skip)
    items = _filter_subjects(items, spec.subjects, path)
    seen = Counter(i.id for i in items)
    dup = [k for k, c in seen.items() if c > 1]
    if dup:
        raise InputError(f"benchmark {path}: repeated item ids {dup[:5]}")
    if spec.max_items is not None and len(items) > spec.max_items:
        skipped[f"beyond max_items={spec.max_items}"] += len(items) - spec.max_items
        items = round_robin(items, spec.max_items)
    if not items:
        raise InputError(f"benchmark {path}: no items with an answer ({dict(skipped) or 'empty'})")
    language = spec.language if spec.language != "auto" else _language(items, READERS[fmt].LANGUAGE)
    return Benchmark(name=spec.name or fmt, format=fmt, language=language, path=str(path), items=items,
                     skipped=dict(skipped))


def round_robin(items: list[Item], n: int) -> list[Item]:
    """The first ``n`` items taken in turn from each subject (file order inside a subject), in original order."""
    by_subject: dict[str | None, list[int]] = {}
    for k, it in enumerate(items):
        by_subject.setdefault(it.subject, []).append(k)
    picked: list[int] = []
    queues = [list(v) for v in by_subject.values()]
    while len(picked) < n:
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return [items[k] for k in sorted(picked)]


def _filter_subjects(items: list[Item], subjects: list[str] | None, path: Path) -> list[Item]:
    if not subjects:
        return items
    have = {i.subject for i in items}
    missing = [s for s in subjects if s not in have]
    if missing:
        raise InputError(f"benchmark {path}: subject(s) {missing} not found; it has {sorted(s for s in have if s)}")
    keep = set(subjects)
    return [i for i in items if i.subject in keep]


def _language(items: list[Item], default: str) -> str:
    votes = Counter(detect_language(i.question + " " + " ".join(i.options.values())) for i in items[:200])
    votes.pop("und", None)
    return votes.most_common(1)[0][0] if votes else default
