"""Evaluation files: ``DIR/results.json`` and ``DIR/predictions/<benchmark>.<model>.jsonl`` (atomic writes)."""

from __future__ import annotations

import json
from pathlib import Path

from huatuo_ray.eval.score import Prediction
from huatuo_ray.io.atomic import write_json_atomic, write_text_atomic


def predictions_path(output: Path, benchmark: str, model: str) -> Path:
    return output / "predictions" / f"{benchmark}.{model}.jsonl"


def write_predictions(output: Path, benchmark: str, model: str, preds: list[Prediction]) -> Path:
    """One line per item: id, question, options, gold, pred (letters or null), status, correct, rule, raw, ..."""
    path = predictions_path(output, benchmark, model)
    write_text_atomic(path, "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in preds))
    return path


def read_predictions(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_results(output: Path, results: dict) -> Path:
    path = output / "results.json"
    write_json_atomic(path, results)
    return path
