"""The science check: a word model that tells a non-medical science text from a clinical one.

The dictionary cannot tell a food-chemistry, toxicology or ecology abstract from a pharmacology one: both are
full of chemical, organism and physiology terms. The check is a second, explainable signal applied to the
texts the density test keeps: every word has a log-likelihood ratio ``ln(P(w | science) / P(w | clinical))``
(multinomial naive Bayes, trained by ``scripts/build_lexicons.py`` on PubMed abstracts labelled by their
journal, never by their words), and a text's *science score* is the sum of its words' ratios divided by its
number of words (words outside the model count 0), so it does not grow with the text's length. A text whose
score reaches ``max_score`` is dropped. The check can only drop: it never keeps a text the dictionary drops.

File format: ``word<TAB>ratio`` per line (any real number), ``#`` comments; words are case-folded tokens of
the scorer's tokenizer (maximal runs of letters/digits).

>>> m = ScienceModel({"soil": 2.0, "patients": -1.5})
>>> m.score("Soil samples from patients")  # (2.0 - 1.5) / 4 words
0.125
"""

from __future__ import annotations

from itertools import chain, repeat

import numpy as np

from huatuo_ray.curate.density.encoding import tokens
from huatuo_ray.curate.density.lexicon import LexiconError
from huatuo_ray.curate.density.scores import mean_per_text

__all__ = ["ScienceModel", "parse_science_model", "tokens"]


def parse_science_model(text: str, source: str = "<string>") -> dict[str, float]:
    """``word<TAB>ratio`` lines into a dict (LexiconError naming the file and line of a malformed one)."""
    out: dict[str, float] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, sep, value = line.partition("\t")
        try:
            if not sep:
                raise ValueError
            out[word.strip().casefold()] = float(value)
        except ValueError:
            raise LexiconError(f"{source}:{lineno}: expected word<TAB>number, got {line[:80]!r}") from None
    return out


class ScienceModel:
    """Per-word ratios and the length-normalized score of a text."""

    def __init__(self, ratios: dict[str, float]):
        self.ratios = ratios

    def score(self, text: str) -> float:
        return float(self.score_many([tokens(text or "")])[0])

    def score_many(self, token_lists: list[list[str]]) -> np.ndarray:
        """The score of each text given as its tokens (float64 array)."""
        lens = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        values = np.fromiter(map(self.ratios.get, chain.from_iterable(token_lists), repeat(0.0)), dtype=np.float64,
                             count=int(lens.sum()))
        return mean_per_text(values, lens)

    def explain(self, text: str, k: int = 8) -> list[tuple[str, float, int]]:
        """The ``k`` words that push the score most towards science, as (word, ratio, occurrences)."""
        counts: dict[str, int] = {}
        for t in tokens(text or ""):
            if self.ratios.get(t, 0.0) > 0:
                counts[t] = counts.get(t, 0) + 1
        rows = sorted(((w, self.ratios[w], c) for w, c in counts.items()), key=lambda r: (-r[1] * r[2], r[0]))
        return rows[:k]
