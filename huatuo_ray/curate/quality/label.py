"""LLM labelling of a sample of curated segments (the first step of the paper's quality-classifier loop).

``label_sample`` draws ``n`` rows from a curation output's ``kept/`` files (seeded, without replacement),
asks the configured LLM (``recipe.llm``) to label each one ``advertising``, ``low_quality`` or ``good``, and
writes JSONL rows ``{id, text, language, source, label, raw_answer, error}`` that ``huatuo-ray quality train``
reads. The model's raw answer is always kept; an answer that names no label, or several, gets
``label: null`` and is counted as unparseable (training skips it); a failed request keeps its ``error``.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from huatuo_ray.io.atomic import atomic_path, write_json_atomic

LABELS = ("advertising", "low_quality", "good")
PROMPT_VERSION = 1
# Short on purpose: the offline SmolLM2-135M follows only short prompts. On 24 seed-set texts it scored 0.38 with
# this prompt (2 unparseable), 0.12 with a longer one that defined each label (15 unparseable: it echoed the
# definitions), 0.29 with the definitions in the system message. Label real data with a capable model.
SYSTEM = "Answer with one word."
INSTRUCTION = "Label this text as advertising, low-quality or good.\n\nText: {text}\n\nLabel:"
_PATTERNS = {
    "advertising": re.compile(r"advert\w*|\bads?\b|广告", re.I),
    "low_quality": re.compile(r"low[\s_-]*quality|低质", re.I),
    "good": re.compile(r"\bgood\b|优质|良好", re.I),
}


def build_messages(text: str, max_chars: int = 1500) -> list[dict[str, str]]:
    """The chat request for one segment (text cut to ``max_chars`` characters to fit small contexts)."""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": INSTRUCTION.format(text=text[:max_chars])}]


def parse_label(answer: str | None) -> str | None:
    """The label an answer gives, or None (unparseable).

    The only label the answer mentions; if it mentions several, the label its first word names when that word
    ends a sentence ("Advertising. It promotes a clinic, not good information"); otherwise None, as for an
    answer that repeats the options ("advertising, low-quality or good").
    """
    if not answer:
        return None
    found = {lab for lab, pat in _PATTERNS.items() if pat.search(answer)}
    if len(found) == 1:
        return found.pop()
    m = re.match(r"\W*(low[\s_-]*quality|\w+)\W*?([.:\n]|$)", answer.strip(), re.I)
    if found and m:
        first = [lab for lab, pat in _PATTERNS.items() if pat.fullmatch(m.group(1))]
        if len(first) == 1:
            return first[0]
    return None


def sample_rows(curate_dir: str | Path, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` kept rows (id, text, language, source) of a curation output, seeded, in file order."""
    files = sorted(glob.glob(os.path.join(str(curate_dir), "kept", "*.parquet")))
    if not files:
        raise ValueError(f"{curate_dir}: no kept/*.parquet (is it a curation output directory?)")
    counts = np.array([pq.ParquetFile(f).metadata.num_rows for f in files], dtype=np.int64)
    total = int(counts.sum())
    picks = np.sort(np.random.default_rng(seed).choice(total, size=min(n, total), replace=False))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows: list[dict[str, Any]] = []
    for f, start, count in zip(files, starts, counts):
        local = picks[(picks >= start) & (picks < start + count)] - start
        if len(local):
            cols = [c for c in ("id", "text", "language", "source") if c in pq.ParquetFile(f).schema_arrow.names]
            rows += pq.read_table(f, columns=cols).take(local).to_pylist()
    return rows


def label_sample(recipe, curate_dir: str | Path, out_path: str | Path, n: int, seed: int = 0,
                 max_tokens: int = 12) -> dict[str, Any]:
    """Label ``n`` sampled rows with ``recipe.llm``; write the JSONL and ``<out>.summary.json``; return the summary."""
    from huatuo_ray.llm.backends import run_requests

    rows = sample_rows(curate_dir, n, seed)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    cache = recipe.llm.cache_dir or str(out.parent / "_llm_cache")
    results, model = run_requests(recipe.llm, [build_messages(r["text"]) for r in rows],
                                  {"temperature": 0.0, "max_tokens": max_tokens}, cache, log_dir=out.parent)
    counts: Counter = Counter()
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for r, res in zip(rows, results):
            label = parse_label(res.text) if res.ok else None
            counts[label if label else ("unparseable" if res.ok else "request_failed")] += 1
            fh.write(json.dumps({**r, "label": label, "raw_answer": res.text, "error": res.error},
                                ensure_ascii=False) + "\n")
    summary = {"source": str(curate_dir), "output": str(out), "sampled": len(rows), "seed": seed,
               "prompt_version": PROMPT_VERSION, "model": model, "counts": dict(counts)}
    write_json_atomic(f"{out}.summary.json", summary)
    return summary
