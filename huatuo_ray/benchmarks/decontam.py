"""Decontamination: n-gram overlap between training samples and benchmark items.

The benchmark side is small: :class:`ContaminationIndex` holds every item's n-grams (question + options; ``n_zh``
characters, ``n_en`` words, see :class:`~huatuo_ray.benchmarks.config.DecontamConfig` for the defaults and why),
without template phrases shared by ``boilerplate_items`` items or more. The training side is streamed: each
sample's n-grams are intersected with the index, and an item counts as contaminated by the sample when the
matched n-grams cover at least ``threshold`` of the item's tokens. :meth:`ContaminationIndex.scan` is a pure
function of one text, so it runs the same inside Ray Data ``map_batches`` (the index pickles).

Outputs of :func:`find_contamination`: ``DIR/report.json`` (per benchmark: items, contaminated items with the
training samples that hit them) and ``DIR/drop.jsonl`` (one line per training sample to drop: id, reason,
items); :func:`samples_to_drop` reads the ids and reasons back for the sampler. Translated copies are not
detected (different tokens); an item copied without its options is found when its question alone covers the
threshold; an item shorter than n tokens cannot be checked (counted as ``too_short``).

    from huatuo_ray.benchmarks.config import BenchmarkSpec, DecontamConfig
    from huatuo_ray.benchmarks.formats import load_benchmark
    from huatuo_ray.benchmarks.decontam import find_contamination, samples_to_drop
    bench = load_benchmark(BenchmarkSpec(path="../shared/data/benchmarks/cmmlu/test"))
    report = find_contamination([bench], ["runs/x/unify/release"], DecontamConfig(), "runs/x/decontam")
    drop = samples_to_drop("runs/x/decontam")    # {sample id: reason}
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huatuo_ray.benchmarks.config import DecontamConfig
from huatuo_ray.benchmarks.items import Benchmark
from huatuo_ray.benchmarks.ngrams import gram_positions, gram_set, tokens
from huatuo_ray.benchmarks.training import iter_samples, training_files
from huatuo_ray.io.atomic import write_json_atomic, write_text_atomic

REASON = "overlaps benchmark {names} (decontamination)"


@dataclass
class _Entry:
    benchmark: str
    item_id: str
    question: str
    lang: str
    length: int
    grams: list[tuple[int, object]]


class ContaminationIndex:
    """Benchmark n-grams -> items, per language."""

    def __init__(self, benchmarks: list[Benchmark], cfg: DecontamConfig):
        self.cfg = cfg
        self.n = {"zh": cfg.n_zh, "en": cfg.n_en}
        self.entries: list[_Entry] = []
        index: dict[str, dict[object, set[int]]] = {"zh": defaultdict(set), "en": defaultdict(set)}
        for b in benchmarks:
            lang = "zh" if b.language == "zh" else "en"
            for it in b.items:
                toks = tokens(it.question + "\n" + "\n".join(it.options.values()), lang)
                grams = gram_positions(toks, self.n[lang])
                k = len(self.entries)
                self.entries.append(_Entry(b.name, it.id, it.question, lang, len(toks), grams))
                for _, g in grams:
                    index[lang][g].add(k)
        self.boilerplate = {lang: {g for g, ks in idx.items() if len(ks) >= cfg.boilerplate_items}
                            for lang, idx in index.items()}
        self.index = {lang: {g: ks for g, ks in idx.items() if g not in self.boilerplate[lang]}
                      for lang, idx in index.items() if idx}
        self.keys = {lang: set(idx) for lang, idx in self.index.items()}

    def scan(self, text: str) -> list[tuple[int, float]]:
        """(entry, coverage) of the items one training text contaminates (coverage >= threshold)."""
        out = []
        for lang, keys in self.keys.items():
            toks = tokens(text, lang)
            hits = gram_set(toks, self.n[lang]) & keys
            if not hits:
                continue
            for k in set().union(*(self.index[lang][g] for g in hits)):
                cov = self.coverage(self.entries[k], hits)
                if cov >= self.cfg.threshold:
                    out.append((k, cov))
        return out

    def coverage(self, e: _Entry, hits: set) -> float:
        if not e.length:
            return 0.0
        covered = [False] * e.length
        n = self.n[e.lang]
        for start, g in e.grams:
            if g in hits:
                covered[start:start + n] = [True] * len(covered[start:start + n])
        return sum(covered) / e.length


def find_contamination(benchmarks: list[Benchmark], training: list[str | Path], cfg: DecontamConfig,
                       output: str | Path | None = None) -> dict[str, Any]:
    """Scan the training files against the benchmarks; write ``report.json`` and ``drop.jsonl`` to ``output``."""
    started = time.time()
    index = ContaminationIndex(benchmarks, cfg)
    files = training_files(training)
    hits: dict[int, list[dict]] = defaultdict(list)
    drops: dict[str, dict] = {}
    scanned = 0
    for f in files:
        for sid, text in iter_samples(f):
            scanned += 1
            for k, cov in index.scan(text):
                e = index.entries[k]
                hits[k].append({"sample_id": sid, "file": str(f), "coverage": round(cov, 4)})
                d = drops.setdefault(sid, {"id": sid, "file": str(f), "items": []})
                d["items"].append({"benchmark": e.benchmark, "item_id": e.item_id, "coverage": round(cov, 4)})
    for d in drops.values():
        d["reason"] = REASON.format(names=", ".join(sorted({x["benchmark"] for x in d["items"]})))
    per_bench: dict[str, Any] = {b.name: {"items": len(b.items), "contaminated": 0, "too_short": 0,
                                          "contaminated_items": []} for b in benchmarks}
    for e in index.entries:
        per_bench[e.benchmark]["too_short"] += not e.grams
    for k in sorted(hits):
        e = index.entries[k]
        ranked = sorted(hits[k], key=lambda h: -h["coverage"])
        per_bench[e.benchmark]["contaminated"] += 1
        per_bench[e.benchmark]["contaminated_items"].append({
            "item_id": e.item_id, "question": e.question[:200], "max_coverage": ranked[0]["coverage"],
            "training_samples": len(ranked), "hits": ranked[:cfg.max_hits_reported]})
    report = {"job": "decontam", "settings": cfg.model_dump(), "training_files": [str(f) for f in files],
              "samples_scanned": scanned, "samples_to_drop": len(drops),
              "boilerplate_ngrams": {k: len(v) for k, v in index.boilerplate.items()},
              "benchmarks": per_bench, "elapsed_s": round(time.time() - started, 3)}
    if output is not None:
        out = Path(output)
        write_json_atomic(out / "report.json", report)
        write_text_atomic(out / "drop.jsonl", "".join(json.dumps(d, ensure_ascii=False) + "\n"
                                                       for d in sorted(drops.values(), key=lambda d: d["id"])))
    report["drop"] = drops
    return report


def samples_to_drop(source: str | Path | dict) -> dict[str, str]:
    """{training sample id: reason} from a decontamination output folder (its drop.jsonl) or a report."""
    if isinstance(source, dict):
        return {sid: d["reason"] for sid, d in source["drop"].items()}
    lines = (Path(source) / "drop.jsonl").read_text(encoding="utf-8").splitlines()
    return {d["id"]: d["reason"] for d in map(json.loads, filter(None, lines))}


def contamination_table(report: dict) -> str:
    """Per benchmark: items, contaminated items, their share; and the training samples to drop."""
    import io

    from rich.console import Console
    from rich.table import Table

    t = Table(title="benchmark contamination")
    for col in ("benchmark", "items", "contaminated", "%"):
        t.add_column(col, justify="left" if col == "benchmark" else "right")
    for name, b in report["benchmarks"].items():
        t.add_row(name, str(b["items"]), str(b["contaminated"]), f"{100 * b['contaminated'] / max(1, b['items']):.2f}")
    buf = io.StringIO()
    Console(file=buf, width=100, force_terminal=False).print(t)
    return buf.getvalue() + (f"{report['samples_scanned']:,} training samples scanned, "
                             f"{report['samples_to_drop']:,} to drop")
