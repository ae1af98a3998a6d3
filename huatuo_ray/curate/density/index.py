"""One language's lexicon as an Aho-Corasick automaton over the 2-character units of :mod:`.encoding`."""

from __future__ import annotations

from itertools import chain, repeat
from typing import Literal

import ahocorasick
import numpy as np

from huatuo_ray.curate.density.coverage import (
    cluster_coverage,
    coverage_np,
    coverage_py,
    maximal_mask,
)
from huatuo_ray.curate.density.encoding import (
    ASCII_WORDS,
    FILLER,
    NON_COUNTED,
    SEP,
    TOKEN,
    char_units_many,
    utf16_pairs,
)
from huatuo_ray.curate.density.scores import EMPTY, BatchStats, DensityScore, mean_per_text

_SMALL = 48  # below this many hits, coverage is computed in plain Python (numpy call overhead dominates)


class LanguageIndex:
    """One Aho-Corasick automaton plus per-term arrays (length in 2-unit steps, weight)."""

    def __init__(self, language: str, mode: Literal["char", "word"], terms: dict[str, float]):
        self.language = language
        self.mode = mode
        self.vocab: dict[str, str] = {}
        keyed: dict[str, tuple[float, str]] = {}
        for term, w in terms.items():
            key = self._key(term)
            if key and (key not in keyed or w > keyed[key][0]):
                keyed[key] = (w, term)
        self.terms: list[str] = []
        lens, weights = [], []
        self.automaton = ahocorasick.Automaton()
        for key, (w, term) in keyed.items():
            self.automaton.add_word(key, len(self.terms))
            self.terms.append(term)
            lens.append(len(key))
            weights.append(w)
        self.key_lens = lens  # in automaton characters (2 per unit)
        self.term_weights = weights
        self.lens = np.asarray(lens, dtype=np.int64)
        self.weights = np.asarray(weights, dtype=np.float64)
        if self.terms:
            self.automaton.make_automaton()
        self.token_values: np.ndarray | None = None  # word mode: a value per word code (attach_token_values)

    def attach_token_values(self, values: dict[str, float]) -> bool:
        """Word mode: give tokens a value (0 for the others) whose mean per text ``stats_many`` returns as
        ``token_mean``, read off the automaton's own input (the science check's word ratios). Words of ``values``
        outside the lexicon get codes of their own, which no term contains, so every match stays the same.
        False (nothing attached) when those codes would not fit in the 65535 a unit can hold."""
        if self.mode != "word":
            raise ValueError(f"{self.language}: token values need a word-mode index")
        new = [tok for tok in values if tok not in self.vocab]
        if len(self.vocab) + len(new) >= 0x10000:
            return False
        for n, tok in enumerate(new, len(self.vocab) + 1):
            self.vocab[tok] = chr(n >> 8) + chr(n & 0xFF)
        self.token_values = np.zeros(len(self.vocab) + 1, dtype=np.float64)
        for tok, v in values.items():
            c = self.vocab[tok]
            self.token_values[(ord(c[0]) << 8) | ord(c[1])] = v
        return True

    def _key(self, term: str) -> str:
        if self.mode == "char":
            return utf16_pairs(NON_COUNTED.sub("", term.casefold()))
        out = []
        for tok in TOKEN.findall(term.casefold()):
            c = self.vocab.get(tok)
            if c is None:
                n = len(self.vocab) + 1  # code 0 is the filler
                if n >= 0x10000:
                    raise ValueError(f"{self.language}: more than 65535 distinct words in the lexicon")
                c = self.vocab[tok] = chr(n >> 8) + chr(n & 0xFF)
            out.append(c)
        return "".join(out)

    def units(self, text: str) -> str:
        """The string the automaton runs on: 2 characters per counted character (char mode) or per token."""
        if self.mode == "char":
            return utf16_pairs(NON_COUNTED.sub("", text.casefold()))
        if text.isascii():
            return "".join(map(self.vocab.get, text.translate(ASCII_WORDS).split(), repeat(FILLER)))
        return "".join(map(self.vocab.get, TOKEN.findall(text.casefold()), repeat(FILLER)))

    def units_many(self, texts: list[str]) -> tuple[str, np.ndarray]:
        """``units`` of every text joined by ``SEP``, and each text's length in units (int64 array)."""
        if self.mode == "char" and texts:
            batch = char_units_many(texts)
            if batch is not None:
                return batch
        us = list(map(self.units, texts))
        lens = np.fromiter(map(len, us), dtype=np.int64, count=len(us)) >> 1
        return SEP.join(us), lens

    def hits(self, units: str) -> list[tuple[int, int, int]]:
        """(start, end, term_id) of every match, in units (characters or tokens), sorted by (start, -end)."""
        if not self.terms or not units:
            return []
        lens = self.key_lens
        out = []
        for end, tid in self.automaton.iter(units):
            start = end + 1 - lens[tid]
            if not start & 1:  # a match must start on a unit boundary
                out.append((start >> 1, (end + 1) >> 1, tid))
        out.sort(key=lambda h: (h[0], -h[1]))
        return out

    def score_units(self, units: str) -> DensityScore:
        total = len(units) >> 1
        if total == 0:
            return EMPTY
        h = self.hits(units)
        if not h:
            return DensityScore(0.0, 0, 0, 0.0, total)
        if len(h) < _SMALL:
            covered, maximal = coverage_py(h, self.term_weights)
        else:
            covered, maximal = coverage_np(h, self.weights)
        return DensityScore(
            density=min(1.0, covered / total),
            n_matches=len(maximal),
            n_terms=len(set(maximal)),
            covered=covered,
            total=total,
        )

    def stats_many(self, texts: list[str]) -> BatchStats:
        """``score_units(units(t))`` of every text as arrays, with one automaton pass over all texts and numpy."""
        n = len(texts)
        big, ulens = self.units_many(texts)
        token_mean = None
        if self.token_values is not None:  # each token's code, the separators between texts left out
            codes = np.frombuffer(big.encode("latin-1"), dtype=">u2")
            seps = np.cumsum(ulens[:-1] + 1) - 1
            token_mean = mean_per_text(np.delete(self.token_values[codes], seps), ulens)
        none = BatchStats.zeros(n, ulens, token_mean)
        if not self.terms or n == 0:
            return none
        # (end, term id) of every match, in order of end; the tuples are freed as they are consumed
        flat = np.fromiter(chain.from_iterable(self.automaton.iter(big)), dtype=np.int64)
        ends, tids = flat[0::2], flat[1::2]
        starts = ends + 1 - self.lens[tids]
        aligned = (starts & 1) == 0  # a match must start on a unit boundary
        if not aligned.all():
            ends, tids, starts = ends[aligned], tids[aligned], starts[aligned]
        m = len(tids)
        if m == 0:
            return none
        s, e = starts >> 1, (ends + 1) >> 1  # in units; e is non-decreasing
        w = self.weights[tids]
        doc_starts = np.zeros(n, dtype=np.int64)  # unit offset of each document in ``big``
        np.cumsum(ulens[:-1] + 1, out=doc_starts[1:])
        doc = np.searchsorted(doc_starts, s, side="right") - 1

        maximal = maximal_mask(s, e)
        covered = np.bincount(*cluster_coverage(s, e, w, doc), minlength=n)

        mdoc = doc[maximal]
        n_matches = np.bincount(mdoc, minlength=n)
        # distinct terms: distinct (document, term) keys among the maximal matches
        keys = np.sort(mdoc * len(self.terms) + tids[maximal], kind="stable")  # doc-major runs: fast
        first_key = np.empty(len(keys), dtype=bool)
        first_key[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=first_key[1:])
        n_terms = np.bincount(keys[first_key] // len(self.terms), minlength=n)
        return BatchStats(covered, n_matches, n_terms, ulens, token_mean)

