"""Fixed-bin histograms collected per unit and added up per run (for the plots in DIR/plots/).

The scores binned are those the stages declare in their specs (:class:`~huatuo_ray.curate.spec.HistogramSpec`),
per language and outcome (kept / dropped); every run also bins the lengths of its kept rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from huatuo_ray.curate import registry
from huatuo_ray.io.columns import Columns

LENGTH_BIN = 20  # characters per bin of the kept-length histogram
LENGTH_BINS = 100  # the last bin collects everything longer
KEPT_CHARS = "kept_chars"


def _declared() -> list[str]:
    return [h.name for s in registry.SPECS for h in s.histograms]


@dataclass
class Histograms:
    """scores[histogram][language][kept|dropped]: bins of a stage's score; kept_chars: lengths of kept rows."""

    scores: dict[str, dict[str, dict[str, list[int]]]] = field(default_factory=dict)
    kept_chars: list[int] = field(default_factory=lambda: [0] * LENGTH_BINS)

    def observe_stage(self, stage: str, kept: list[dict], dropped: list[dict]) -> None:
        """Bin the scores the stage declares, over the rows it kept and dropped."""
        for h in registry.spec(stage).histograms:
            by_lang = self.scores.setdefault(h.name, {})
            for outcome, rows in (("kept", kept), ("dropped", dropped)):
                for d in rows:
                    value = d.get(h.field)
                    if value is None:
                        continue
                    bins = by_lang.setdefault(d.get("language", "und"), {}).setdefault(outcome, [0] * h.bins)
                    bins[min(int(value * h.bins), h.bins - 1)] += 1

    def observe_kept(self, rows: "Sequence[dict] | Columns") -> None:
        texts = rows.column("text") if isinstance(rows, Columns) else None
        if texts is None:
            texts = [d["text"] for d in rows]
        if texts:
            lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            bins = np.bincount(np.minimum(lengths // LENGTH_BIN, LENGTH_BINS - 1), minlength=LENGTH_BINS)
            self.kept_chars = [a + int(b) for a, b in zip(self.kept_chars, bins)]

    def forget_kept(self, texts: list[str]) -> None:
        """Undo :meth:`observe_kept` for rows a later (global) stage dropped."""
        for text in texts:
            self.kept_chars[min(len(text) // LENGTH_BIN, LENGTH_BINS - 1)] -= 1

    def merge(self, other: Histograms) -> None:
        for name, by_lang in other.scores.items():
            mine_all = self.scores.setdefault(name, {})
            for lang, outcomes in by_lang.items():
                for outcome, bins in outcomes.items():
                    mine = mine_all.setdefault(lang, {}).setdefault(outcome, [0] * len(bins))
                    for i, c in enumerate(bins):
                        mine[i] += c
        for i, c in enumerate(other.kept_chars):
            self.kept_chars[i] += c

    def to_dict(self) -> dict:
        """Every declared histogram (empty when its stage did not run) and ``kept_chars``."""
        return {**{name: {} for name in _declared()}, **self.scores, KEPT_CHARS: self.kept_chars}

    @classmethod
    def from_dict(cls, d: dict) -> Histograms:
        scores = {name: {lang: dict(o) for lang, o in v.items()} for name, v in d.items() if name != KEPT_CHARS}
        return cls(scores=scores, kept_chars=list(d[KEPT_CHARS]))
