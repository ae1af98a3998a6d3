"""Calibrate the density filter on a labelled JSONL file.

Input lines: ``{"text": ..., "language": "zh"|"en", "label": "medical"|"other"}`` (optional ``"split"`` and
``"source"``; other keys ignored). "medical" is the positive class. A text is predicted medical exactly as the
:class:`~huatuo_ray.curate.density.stage.DensityFilter` would keep it: ``density >= threshold``,
``n_terms >= min_matches`` and, where the language has a science check, a science score below its ``max_score``
(the sweep varies the density threshold only).

>>> report = calibrate("labelled.jsonl", DensityConfig())          # doctest: +SKIP
>>> print(format_report(report))                                   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from huatuo_ray.curate.density.config import DensityConfig
from huatuo_ray.curate.density.scorer import DensityScorer
from huatuo_ray.curate.density.stage import DensityFilter
from huatuo_ray.errors import InputError
from huatuo_ray.io.jsonl import jsonl_rows

POSITIVE = "medical"
LABELS = ("medical", "other")


def default_grid() -> list[float]:
    """Thresholds 0.000, 0.005, ..., 0.100, then 0.12, 0.14, ..., 0.40."""
    return [round(i / 200, 3) for i in range(21)] + [round(i / 100, 2) for i in range(12, 41, 2)]


def confusion(scored: list[tuple[float, int, bool]], threshold: float, min_matches: int) -> dict:
    """Precision/recall/F1 of predicting positive when density >= threshold and n_terms >= min_matches.

    ``scored`` holds (density, n_terms, is_positive) or (density, n_terms, is_positive, vetoed) per text; a
    vetoed text (the science check drops it) is never predicted positive. Precision is 1.0 when nothing is
    predicted positive and recall is 1.0 when there are no positives (the conventions that keep F1 defined).
    """
    tp = fp = fn = tn = 0
    for density, n_terms, pos, *vetoed in scored:
        pred = density >= threshold and n_terms >= min_matches and not (vetoed and vetoed[0])
        if pred and pos:
            tp += 1
        elif pred:
            fp += 1
        elif pos:
            fn += 1
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": threshold,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": precision, "recall": recall, "f1": f1,
    }


def read_labelled(path: str | Path, split: str | None = None) -> list[dict]:
    """Read and validate a labelled JSONL file (optionally only rows whose ``split`` equals ``split``)."""
    rows = []
    for lineno, row in jsonl_rows(path):
        for key in ("text", "language", "label"):
            if not isinstance(row, dict) or key not in row:
                raise InputError(f"{path}:{lineno}: missing key {key!r}")
        if row["label"] not in LABELS:
            raise InputError(f"{path}:{lineno}: label must be one of {LABELS}, got {row['label']!r}")
        if split is None or row.get("split") == split:
            rows.append(row)
    return rows


def calibrate(
    labelled_path: str | Path,
    config: DensityConfig | None = None,
    *,
    split: str | None = None,
    thresholds: list[float] | None = None,
    scorer: DensityScorer | None = None,
) -> dict:
    """Score every labelled text and measure the filter per language.

    Returns ``{"path", "split", "languages": {lang: {...}}}`` where each language has ``n``, ``n_medical``,
    ``threshold``, ``min_matches``, ``at_threshold`` (tp/fp/fn/tn/precision/recall/f1 at the configured
    threshold), ``sweep`` (the same for every threshold of ``thresholds``, default :func:`default_grid`)
    and ``best`` (the sweep entry with the highest F1; ties go to the higher threshold, which is the
    more conservative choice). Languages without a lexicon are listed under ``skipped`` with their counts.
    """
    config = config or DensityConfig()
    scorer = scorer or DensityScorer.from_config(config)
    stage = DensityFilter(config, scorer)
    grid = sorted(set(thresholds or default_grid()))
    by_lang: dict[str, list[tuple[float, int, bool, bool]]] = {}
    sources: dict[str, list[tuple[str, bool]]] = {}
    skipped: dict[str, int] = {}
    for row in read_labelled(labelled_path, split):
        lang = row["language"]
        if lang not in scorer.indexes or lang not in config.min_density:
            skipped[lang] = skipped.get(lang, 0) + 1
            continue
        s, verdict = stage.score_text(row["text"] or "", lang)
        vetoed = verdict.counter == "density_science"
        by_lang.setdefault(lang, []).append((s.density, s.n_terms, row["label"] == POSITIVE, vetoed))
        sources.setdefault(lang, []).append((str(row.get("source") or row["label"]), verdict.keep))
    languages = {}
    for lang in sorted(by_lang):
        scored = by_lang[lang]
        mm = config.matches_needed(lang)
        sweep = [confusion(scored, t, mm) for t in grid]
        best = max(sweep, key=lambda r: (r["f1"], r["threshold"]))
        languages[lang] = {
            "n": len(scored),
            "n_medical": sum(1 for _, _, p, _ in scored if p),
            "science_vetoed": sum(1 for *_, v in scored if v),
            "kept_by_source": _kept_by_source(sources[lang]),
            "threshold": config.threshold(lang),
            "min_matches": mm,
            "at_threshold": confusion(scored, config.threshold(lang), mm),
            "sweep": sweep,
            "best": best,
        }
    return {"path": str(labelled_path), "split": split, "languages": languages, "skipped": skipped}


def _kept_by_source(rows: list[tuple[str, bool]]) -> dict[str, tuple[int, int]]:
    """{source (or label): (kept at the configured settings, n)}."""
    out: dict[str, list[int]] = {}
    for source, keep in rows:
        c = out.setdefault(source, [0, 0])
        c[0] += keep
        c[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def format_report(report: dict, sweep_every: int = 1) -> str:
    """Human-readable tables for :func:`calibrate`'s report."""
    lines = [f"density calibration: {report['path']}" + (f" (split={report['split']})" if report.get("split") else "")]
    for lang, r in report["languages"].items():
        a = r["at_threshold"]
        lines.append("")
        lines.append(
            f"[{lang}] n={r['n']} medical={r['n_medical']} other={r['n'] - r['n_medical']} "
            f"min_matches={r['min_matches']}"
        )
        lines.append(
            f"  configured threshold {r['threshold']:.3f}: precision {a['precision']:.3f}  recall {a['recall']:.3f}"
            f"  F1 {a['f1']:.3f}  (tp {a['tp']} fp {a['fp']} fn {a['fn']} tn {a['tn']})"
        )
        if r.get("science_vetoed"):
            lines.append(f"  science check dropped {r['science_vetoed']} text(s) the density test keeps")
        if r.get("kept_by_source"):
            lines.append("  kept by source: " + ", ".join(f"{k} {a}/{n}" for k, (a, n) in r["kept_by_source"].items()))
        b = r["best"]
        lines.append(
            f"  best-F1 threshold    {b['threshold']:.3f}: precision {b['precision']:.3f}  recall {b['recall']:.3f}"
            f"  F1 {b['f1']:.3f}"
        )
        lines.append("  threshold  precision  recall     F1     tp     fp     fn     tn")
        for i, s in enumerate(r["sweep"]):
            if i % sweep_every and s is not b:
                continue
            mark = " <" if s is b else ""
            lines.append(
                f"  {s['threshold']:9.3f}  {s['precision']:9.3f}  {s['recall']:6.3f}  {s['f1']:6.3f}"
                f"  {s['tp']:5d}  {s['fp']:5d}  {s['fn']:5d}  {s['tn']:5d}{mark}"
            )
    for lang, n in sorted(report.get("skipped", {}).items()):
        lines.append(f"\nskipped {n} text(s) in language {lang!r}: no lexicon")
    return "\n".join(lines)
