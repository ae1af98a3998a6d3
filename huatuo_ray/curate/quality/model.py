"""Train and evaluate the fastText quality classifier the ``quality`` stage applies.

A labelled file is JSONL with ``text`` and ``label`` (any label names, e.g. advertising / low_quality / good),
as written by ``huatuo-ray quality label`` or by hand; rows whose label is empty (an unparseable LLM answer)
are skipped and counted. The held-out split is stratified by label and seeded, so it is reproducible.

Example::

    report = train_classifier("labels.jsonl", "runs/quality/model.bin")
    print(format_report(report))
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huatuo_ray.curate.quality.config import SEED_SET, seed_set_path
from huatuo_ray.curate.quality.tokens import tokenize
from huatuo_ray.io.atomic import atomic_path, write_json_atomic
from huatuo_ray.io.jsonl import jsonl_rows

PREFIX = "__label__"


@dataclass
class TrainParams:
    """fastText supervised-training settings (thread=1 makes training deterministic for a seed)."""

    epoch: int = 25
    lr: float = 0.5
    word_ngrams: int = 2
    dim: int = 50
    min_count: int = 1
    bucket: int = 200_000  # hashed word-bigram rows; fastText's 2M default makes a 400 MB model at dim 50
    seed: int = 0
    threads: int = 1


@dataclass
class LabelledSet:
    rows: list[dict] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def resolve_labelled(path: str | Path) -> Path:
    return seed_set_path() if str(path) == SEED_SET else Path(path)


def read_labelled(path: str | Path) -> LabelledSet:
    """Rows with a text and a label; everything else is counted in ``skipped`` by reason."""
    out = LabelledSet()
    for _, row in jsonl_rows(resolve_labelled(path)):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            out.skipped["no text"] += 1
        elif not isinstance(row.get("label"), str) or not row["label"].strip():
            out.skipped["no label (unparseable answer)"] += 1
        else:
            out.rows.append({"text": row["text"], "label": _clean_label(row["label"])})
    return out


def _clean_label(label: str) -> str:
    return label.strip().lower().replace(" ", "_").replace("-", "_")


def split_rows(rows: list[dict], test_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Stratified, seeded train/test split (each label keeps at least one training row)."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_label[r["label"]].append(r)
    train, test = [], []
    rng = random.Random(seed)
    for label in sorted(by_label):
        items = by_label[label][:]
        rng.shuffle(items)
        n_test = min(int(round(len(items) * test_fraction)), len(items) - 1)
        test += items[:n_test]
        train += items[n_test:]
    return train, test


def _write_fasttext_file(rows: list[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(f"{PREFIX}{r['label']} {tokenize(r['text'])}\n")


def fit(rows: list[dict], params: TrainParams | None = None):
    """A trained ``fasttext`` model on ``rows`` ({text, label})."""
    import fasttext

    p = params or TrainParams()
    if len({r["label"] for r in rows}) < 2:
        raise ValueError("training needs at least two different labels")
    with tempfile.TemporaryDirectory(prefix="huatuo-ft-") as tmp:
        path = Path(tmp) / "train.txt"
        _write_fasttext_file(rows, path)
        return fasttext.train_supervised(
            str(path), epoch=p.epoch, lr=p.lr, wordNgrams=p.word_ngrams, dim=p.dim, minCount=p.min_count, bucket=p.bucket,
            seed=p.seed, thread=p.threads, verbose=0,
        )


def predict_labels(model, texts: list[str]) -> list[str]:
    labels, _ = model.predict([tokenize(t) for t in texts], k=1)
    return [ls[0][len(PREFIX):] for ls in labels]


def evaluate(model, rows: list[dict]) -> dict[str, Any]:
    """Per-label precision / recall / F1 / support of argmax predictions on ``rows``, plus accuracy."""
    pred = predict_labels(model, [r["text"] for r in rows]) if rows else []
    gold = [r["label"] for r in rows]
    labels = sorted(set(gold) | set(pred) | {lab[len(PREFIX):] for lab in model.labels})
    table = {}
    for lab in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == p == lab)
        n_pred, n_gold = pred.count(lab), gold.count(lab)
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / n_gold if n_gold else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        table[lab] = {"precision": prec, "recall": rec, "f1": f1, "support": n_gold, "predicted": n_pred}
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0
    return {"labels": table, "accuracy": acc, "n": len(gold)}


def train_classifier(
    labelled: str | Path, model_out: str | Path, test_fraction: float = 0.2, params: TrainParams | None = None
) -> dict[str, Any]:
    """Train on ``labelled`` (held-out ``test_fraction``), save the model and a JSON report beside it."""
    p = params or TrainParams()
    data = read_labelled(labelled)
    if not data.rows:
        raise ValueError(f"{labelled}: no labelled rows")
    train, test = split_rows(data.rows, test_fraction, p.seed)
    model = fit(train, p)
    out = Path(model_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        model.save_model(str(tmp))
    report = {
        "labelled": str(labelled),
        "model": str(out),
        "train_rows": len(train),
        "test_rows": len(test),
        "label_counts": dict(Counter(r["label"] for r in data.rows)),
        "skipped": dict(data.skipped),
        "params": p.__dict__,
        "tokenizer": "huatuo_ray.curate.quality.tokens.tokenize",
        "heldout": evaluate(model, test),
    }
    write_json_atomic(f"{out}.json", report)
    return report


def format_report(report: dict[str, Any]) -> str:
    """The precision / recall table of a training report (held-out split)."""
    h = report["heldout"]
    lines = [f"held-out split: {report['test_rows']} rows (trained on {report['train_rows']}); "
             f"accuracy {h['accuracy']:.3f}",
             f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>8}{'support':>9}"]
    for lab, m in h["labels"].items():
        lines.append(f"{lab:<16}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>8.3f}{m['support']:>9}")
    if report.get("skipped"):
        lines.append("skipped: " + ", ".join(f"{k} x{v}" for k, v in report["skipped"].items()))
    return "\n".join(lines)
