"""What scoring a text against a lexicon gives: one :class:`DensityScore`, or a batch as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DensityScore:
    """Result of scoring one text.

    density: covered / total, in [0, 1].
    n_matches: maximal term occurrences. n_terms: distinct terms among them.
    covered: weighted count of covered characters (zh) / tokens (en). total: the denominator.
    """

    density: float
    n_matches: int
    n_terms: int
    covered: float
    total: int


EMPTY = DensityScore(0.0, 0, 0, 0.0, 0)


def mean_per_text(values: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Per text, the mean of its tokens' ``values`` (the texts' tokens back to back, ``lens`` tokens each; 0 for a
    text without tokens). Each text's values are summed as one ``np.add.reduceat`` segment, so a text alone and the
    same text in a batch get the same mean, bit for bit."""
    sums = np.zeros(len(lens))
    some = lens > 0
    if some.any():
        sums[some] = np.add.reduceat(values, (np.cumsum(lens) - lens)[some])
    return np.where(some, sums / np.maximum(lens, 1), 0.0)


@dataclass
class BatchStats:
    """DensityScore fields of a batch of texts as arrays (float64 covered, int64 counts)."""

    covered: np.ndarray
    n_matches: np.ndarray
    n_terms: np.ndarray
    total: np.ndarray
    token_mean: np.ndarray | None = None  # word mode with token values: their mean per text (NaN: none for it)

    @classmethod
    def zeros(cls, n: int, total: np.ndarray | None = None, token_mean: np.ndarray | None = None) -> BatchStats:
        """No match in any of ``n`` texts (of ``total`` units each, default 0)."""
        return cls(np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                   np.zeros(n, dtype=np.int64) if total is None else total, token_mean)

    @property
    def density(self) -> np.ndarray:
        """min(1, covered / total), 0 for empty texts (same float operations as DensityScore)."""
        d = np.minimum(1.0, self.covered / np.maximum(self.total, 1))
        d[self.total == 0] = 0.0
        return d

    def scores(self) -> list[DensityScore]:
        return [
            DensityScore(d, k, t, c, n) if n else EMPTY
            for d, k, t, c, n in zip(self.density.tolist(), self.n_matches.tolist(), self.n_terms.tolist(),
                                     self.covered.tolist(), self.total.tolist())
        ]
