"""Dictionary-density filter: keep a document when enough of it is covered by weighted domain terms.

Density definition (per language):

* **Chinese** (and any language listed in ``DensityConfig.char_languages``): the text is case-folded and every
  character that is not a letter/digit (``str.isalnum()`` false: punctuation, whitespace, symbols) is removed.
  The *denominator* is the number of remaining characters (CJK ideographs, letters of any script, digits;
  a character outside the Basic Multilingual Plane, e.g. a rare CJK Extension-B ideograph, counts as 2).
  Terms are matched on that string, so a term also matches across a line break.
* **English** (every other language): the case-folded text is split into word tokens, maximal runs of
  letters/digits (so "x-ray" is two tokens and "patient's" is "patient" + "s"). The *denominator* is the
  number of tokens. A term matches only a whole sequence of tokens: "arm" never matches inside "harm" or "army".
* **Numerator**: every character (zh) or token (en) covered by at least one matched term counts once, with the
  largest weight among the terms covering it. So ``density = covered / total`` lies in [0, 1]; empty text
  has density 0.

Occurrence counts (``n_matches``) and distinct-term counts (``n_terms``) consider *maximal* matches only:
a match lying inside a longer match (功能 inside 肾功能衰竭) is not counted separately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Literal

import ahocorasick
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from huatuo_ray.curate.base import FilterStage, StageOutput
from huatuo_ray.curate.lexicon import ColumnKind, load_lexicon, merge_lexicons

_NON_COUNTED = re.compile(r"[\W_]+")  # everything that is not a letter/digit (str.isalnum)
_TOKEN = re.compile(r"[^\W_]+")  # a word token: a maximal run of letters/digits

# The automata run on a 2-code-unit alphabet: pyahocorasick scans a trie node's children linearly, so a root
# with thousands of children (every first character of 18k Chinese terms) is slow. Each character is written
# as its UTF-16 code unit split into two latin-1 characters (high byte, low byte), and each English token as a
# 2-character code, which keeps every node's fan-out <= 256 (about 4x faster for zh, 30x for en).
_FILLER = "\x00\x00"  # stands for an English token that occurs in no term
_SMALL = 48  # below this many hits, coverage is computed in plain Python (numpy call overhead dominates)
# Between two documents of a batch (score_many): code unit U+0000 (char mode, never alnum so never in a key) or
# word code 0 (word mode, the filler, never in a key). A match starting on a unit boundary can therefore never
# contain it, so no match spans two documents.
_SEP = "\x00\x00"
# ASCII fast path of word tokenization: for ASCII text, casefold == lower and isalnum == [A-Za-z0-9], so mapping
# every other character to a space and splitting on whitespace gives exactly the tokens of _TOKEN.findall.
_ASCII_WORDS = str.maketrans({i: (chr(i).lower() if chr(i).isalnum() else " ") for i in range(128)})
_ALNUM_BMP: np.ndarray | None = None  # bool per BMP code point: chr(c).isalnum() (built on first use)


def _alnum_bmp() -> np.ndarray:
    global _ALNUM_BMP
    if _ALNUM_BMP is None:
        _ALNUM_BMP = np.fromiter((chr(c).isalnum() for c in range(0x10000)), dtype=bool, count=0x10000)
    return _ALNUM_BMP


class LexiconFile(BaseModel):
    """A lexicon file with an explicit second-column kind."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Filesystem path, or 'builtin:NAME' for a lexicon packaged with huatuo-ray.")
    column: ColumnKind = Field(
        "auto",
        description="Second column: 'weight' (float in [0,1]), 'frequency' (integer count, converted to "
        "weight = 1 - ln(1+f)/ln(1+f_ref)), or 'auto' (integer file with a value > 1 = frequency).",
    )
    frequency_ref: float | None = Field(
        None, description="f_ref for frequency files (default: the largest frequency in the file)."
    )


LexiconSpec = str | LexiconFile

# Calibrated defaults (see README "How the thresholds were chosen"): per language, the threshold that maximises
# the smaller of two F1 scores: on the test split of scripts/build_calibration_set.py (real zh textbook / Q&A /
# consultations vs a wuxia novel and general chat; MedQuAD vs history prose) and on
# tests/curate/data/density_heldout.jsonl (200 paragraphs written blind, with hard negatives: acupoints in
# wuxia, skincare ads, fitness, animal biology), confirmed on tests/curate/data/density_validation2.jsonl
# (160 crawl-style paragraphs written blind later): zh 0.065 (0.951 / 0.961 / 0.933), en 0.025 (0.940 / 0.942 / 0.947).
# Re-check with `huatuo-ray density calibrate` after changing lexicons.
DEFAULT_LEXICONS: dict[str, list[str]] = {
    "zh": ["builtin:zh_thuocl_medical.tsv"],
    "en": [
        "builtin:en_wikidata_disease.tsv",
        "builtin:en_wikidata_other.tsv",
        "builtin:en_clinical_general.tsv",
    ],
}
DEFAULT_MIN_DENSITY: dict[str, float] = {"zh": 0.065, "en": 0.025}
DEFAULT_MIN_MATCHES = 2


class DensityConfig(BaseModel):
    """Configuration of the dictionary-density filter (stage ``density``).

    A document in language L is kept when ``density >= min_density[L]`` and it contains at least
    ``min_matches`` distinct matched terms. Documents in a language without a lexicon are dropped.
    """

    model_config = ConfigDict(extra="forbid")

    lexicons: dict[str, list[LexiconSpec]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_LEXICONS.items()},
        description="Lexicon files per language code. Each entry is a path, 'builtin:NAME' (packaged: "
        "zh_thuocl_medical.tsv, en_wikidata_disease.tsv, en_wikidata_other.tsv, en_clinical_general.tsv), "
        "or {path, column, frequency_ref}. Format: one term per line, optional TAB + weight in [0,1] or "
        "integer frequency; '#' comments. Duplicate terms keep the largest weight.",
    )
    min_density: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_MIN_DENSITY),
        description="Keep threshold per language: weighted fraction of characters (zh) or word tokens (en) "
        "covered by lexicon terms. Defaults (zh 0.065, en 0.025) were calibrated for the packaged lexicons; "
        "re-check with `huatuo-ray density calibrate` after changing lexicons.",
    )
    min_matches: int | dict[str, int] = Field(
        DEFAULT_MIN_MATCHES,
        description="Minimum number of distinct matched terms (maximal matches) for a document to be kept; "
        "an int for every language or a per-language map (missing languages: 1).",
    )
    char_languages: list[str] = Field(
        default_factory=lambda: ["zh", "ja"],
        description="Languages matched on characters (no word boundaries); all others on word tokens.",
    )
    english_plurals: bool = Field(
        True,
        description="For word-token languages, also match the regular plural of a term's last word "
        "(symptom -> symptoms, artery -> arteries) with the same weight.",
    )
    min_weight: float = Field(
        0.0, ge=0.0, le=1.0, description="Terms with weight <= min_weight are ignored (never matched)."
    )

    @field_validator("min_density")
    @classmethod
    def _check_thresholds(cls, v: dict[str, float]) -> dict[str, float]:
        for lang, t in v.items():
            if not 0.0 <= t <= 1.0:
                raise ValueError(f"min_density[{lang!r}] = {t} is outside [0, 1]")
        return v

    @model_validator(mode="after")
    def _check_languages(self) -> DensityConfig:
        missing = sorted(set(self.lexicons) - set(self.min_density))
        if missing:
            raise ValueError(f"min_density has no threshold for lexicon language(s) {missing}")
        return self

    def threshold(self, language: str) -> float:
        return self.min_density[language]

    def matches_needed(self, language: str) -> int:
        if isinstance(self.min_matches, int):
            return self.min_matches
        return self.min_matches.get(language, 1)


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


_EMPTY = DensityScore(0.0, 0, 0, 0.0, 0)


@dataclass
class _BatchStats:
    """DensityScore fields of a batch of texts as arrays (float64 covered, int64 counts)."""

    covered: np.ndarray
    n_matches: np.ndarray
    n_terms: np.ndarray
    total: np.ndarray

    @property
    def density(self) -> np.ndarray:
        """min(1, covered / total), 0 for empty texts (same float operations as DensityScore)."""
        d = np.minimum(1.0, self.covered / np.maximum(self.total, 1))
        d[self.total == 0] = 0.0
        return d

    def scores(self) -> list[DensityScore]:
        return [
            DensityScore(d, k, t, c, n) if n else _EMPTY
            for d, k, t, c, n in zip(self.density.tolist(), self.n_matches.tolist(), self.n_terms.tolist(),
                                     self.covered.tolist(), self.total.tolist())
        ]


def english_plural(word: str) -> str:
    """Regular English plural of one word (symptom -> symptoms, artery -> arteries, virus -> viruses)."""
    if not word or not word.isalpha():
        return word
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _utf16_pairs(text: str) -> str:
    """Each UTF-16 code unit of ``text`` as two latin-1 characters (high byte, low byte)."""
    return text.encode("utf-16-be").decode("latin-1")


class _LanguageIndex:
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

    def _key(self, term: str) -> str:
        if self.mode == "char":
            return _utf16_pairs(_NON_COUNTED.sub("", term.casefold()))
        out = []
        for tok in _TOKEN.findall(term.casefold()):
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
            return _utf16_pairs(_NON_COUNTED.sub("", text.casefold()))
        if text.isascii():
            return "".join(map(self.vocab.get, text.translate(_ASCII_WORDS).split(), repeat(_FILLER)))
        return "".join(map(self.vocab.get, _TOKEN.findall(text.casefold()), repeat(_FILLER)))

    def units_many(self, texts: list[str]) -> tuple[str, np.ndarray]:
        """``units`` of every text joined by ``_SEP``, and each text's length in units (int64 array)."""
        if self.mode == "char" and texts:
            batch = _char_units_many(texts)
            if batch is not None:
                return batch
        us = list(map(self.units, texts))
        lens = np.fromiter(map(len, us), dtype=np.int64, count=len(us)) >> 1
        return _SEP.join(us), lens

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
            return _EMPTY
        h = self.hits(units)
        if not h:
            return DensityScore(0.0, 0, 0, 0.0, total)
        if len(h) < _SMALL:
            covered, maximal = _coverage_py(h, self.term_weights)
        else:
            covered, maximal = _coverage_np(h, self.weights)
        return DensityScore(
            density=min(1.0, covered / total),
            n_matches=len(maximal),
            n_terms=len(set(maximal)),
            covered=covered,
            total=total,
        )

    def stats_many(self, texts: list[str]) -> _BatchStats:
        """``score_units(units(t))`` of every text as arrays, with one automaton pass over all texts and numpy."""
        n = len(texts)
        big, ulens = self.units_many(texts)
        none = _BatchStats(np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), ulens)
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

        maximal = _maximal(s, e)
        covered = np.bincount(*_cluster_coverage(s, e, w, doc), minlength=n)

        mdoc = doc[maximal]
        n_matches = np.bincount(mdoc, minlength=n)
        # distinct terms: distinct (document, term) keys among the maximal matches
        keys = np.sort(mdoc * len(self.terms) + tids[maximal], kind="stable")  # doc-major runs: fast
        first_key = np.empty(len(keys), dtype=bool)
        first_key[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=first_key[1:])
        n_terms = np.bincount(keys[first_key] // len(self.terms), minlength=n)
        return _BatchStats(covered, n_matches, n_terms, ulens)


def _maximal(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Mask of the maximal hits among hits (start ``s``, end ``e``) in order of end: those contained in no other
    hit ((start, end) pairs are unique: one key per term). A hit is contained iff a hit with the same end starts
    earlier, or a hit with a larger end starts at or before it; equivalent to the (start, -end) sweep of
    _coverage_py ("end > largest end so far")."""
    m = len(s)
    new_end = np.empty(m, dtype=bool)
    new_end[:1] = True
    np.not_equal(e[1:], e[:-1], out=new_end[1:])
    group = np.cumsum(new_end) - 1
    gmin = np.minimum.reduceat(s, np.flatnonzero(new_end))
    later = np.empty_like(gmin)  # smallest start among hits with a larger end
    later[-1] = np.iinfo(np.int64).max
    later[:-1] = np.minimum.accumulate(gmin[:0:-1])[::-1]
    return (s == gmin[group]) & (later[group] > s)


def _cluster_coverage(s: np.ndarray, e: np.ndarray, w: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(document, weighted coverage) of each cluster of overlapping hits, for ``np.bincount``.

    Hits (start ``s``, end ``e``, weight ``w``, document ``doc``) come in order of end. Clusters are contiguous
    in that order: hit i starts a new cluster iff every hit from i on starts at or after the end of hit i-1
    (the largest end so far). A one-hit cluster covers (e - s) units at its weight; in a cluster of several
    hits each unit counts once at the max weight of the hits covering it (np.maximum.at on a compact array
    holding only the spans of those clusters), as in _coverage_py.
    """
    m = len(s)
    new_cluster = np.empty(m, dtype=bool)
    new_cluster[:1] = True
    if m > 1:
        suffix_min = np.minimum.accumulate(s[::-1])[-2::-1]  # suffix_min[i - 1] = min(s[i:]), i >= 1
        np.greater_equal(suffix_min, e[:-1], out=new_cluster[1:])
    first = np.flatnonzero(new_cluster)
    size = np.diff(first, append=m)
    contrib = (e[first] - s[first]) * w[first]  # right for one-hit clusters
    several = size > 1
    if several.any():
        in_several = np.repeat(several, size)
        c_first = first[several]
        c_start = np.minimum.reduceat(s, first)[several]
        c_span = e[c_first + size[several] - 1] - c_start  # the last hit has the largest end
        c_off = np.cumsum(c_span) - c_span  # where each cluster's span begins in the compact array
        hs, he = s[in_several], e[in_several]
        lens = he - hs
        hit_cluster = np.repeat(np.arange(len(c_first)), size[several])
        hit_off = hs - c_start[hit_cluster] + c_off[hit_cluster]
        pos = np.repeat(hit_off - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        cov = np.zeros(int(c_span.sum()), dtype=np.float64)
        np.maximum.at(cov, pos, np.repeat(w[in_several], lens))
        contrib[several] = np.add.reduceat(cov, c_off)
    return doc[first], contrib


def _char_units_many(texts: list[str]) -> tuple[str, np.ndarray] | None:
    """Vectorized char-mode ``units_many``: keep the alnum UTF-16 code units of the case-folded texts with a
    BMP lookup table (the same test as ``_NON_COUNTED``) and put a U+0000 between documents. None when some text
    has a character outside the BMP (surrogate pairs: use the per-text path)."""
    joined = "".join(texts)
    folded = joined.casefold()  # casefold works character by character and never shortens a character:
    if len(folded) == len(joined):  # same total length = same length for every text
        lengths = map(len, texts)
    else:  # e.g. "ß" -> "ss"
        parts = [t.casefold() for t in texts]
        folded, lengths = "".join(parts), map(len, parts)
    code = np.frombuffer(folded.encode("utf-16-le"), dtype="<u2")
    if len(code) != len(folded):
        return None
    keep = _alnum_bmp()[code]
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(lengths, dtype=np.int64, count=len(texts)), out=bounds[1:])
    kept_at = np.flatnonzero(keep)
    doc_ends = np.searchsorted(kept_at, bounds)  # kept code units before each document boundary
    units = np.insert(code[kept_at], doc_ends[1:-1], 0)
    return units.astype(">u2").tobytes().decode("latin-1"), np.diff(doc_ends)


def _coverage_py(hits: list[tuple[int, int, int]], weights: list[float]) -> tuple[float, list[int]]:
    """Weighted coverage and maximal-match term ids of hits sorted by (start, -end) (plain Python).

    Runs of overlapping hits form clusters; a cluster of one hit contributes length * weight, a cluster of
    several hits takes the max weight position by position (clusters are short: a few terms).
    """
    covered = 0.0
    maximal: list[int] = []
    max_end = -1
    cluster: list[tuple[int, int, int]] = []

    def close(cl: list[tuple[int, int, int]]) -> float:
        if len(cl) == 1:
            s, e, t = cl[0]
            return (e - s) * weights[t]
        base = cl[0][0]
        cov = [0.0] * (max(e for _, e, _ in cl) - base)
        for s, e, t in cl:
            w = weights[t]
            for p in range(s - base, e - base):
                if w > cov[p]:
                    cov[p] = w
        return sum(cov)

    for hit in hits:
        s, e, t = hit
        if e > max_end:
            maximal.append(t)
        if s >= max_end and cluster:
            covered += close(cluster)
            cluster = []
        cluster.append(hit)
        if e > max_end:
            max_end = e
    covered += close(cluster)
    return covered, maximal


def _coverage_np(hits: list[tuple[int, int, int]], weights: np.ndarray) -> tuple[float, list[int]]:
    """Same as :func:`_coverage_py`, vectorized (for documents with many hits)."""
    h = np.asarray(hits, dtype=np.int64)
    starts, ends, ids = h[:, 0], h[:, 1], h[:, 2]
    lens = ends - starts
    w = weights[ids]
    base = int(starts.min())
    n_pos = int(lens.sum())
    offs = np.repeat(starts - base - np.cumsum(lens) + lens, lens) + np.arange(n_pos)
    cov = np.zeros(int(ends.max()) - base, dtype=np.float64)
    np.maximum.at(cov, offs, np.repeat(w, lens))
    prev_max = np.maximum.accumulate(np.concatenate(([-1], ends[:-1])))
    return float(cov.sum()), ids[ends > prev_max].tolist()


def _possessive_variants(terms: dict[str, float]) -> dict[str, float]:
    """Eponyms as written without the apostrophe: "alzheimer's disease" -> "alzheimers disease", "alzheimer disease"."""
    out: dict[str, float] = {}
    for t, w in terms.items():
        for apostrophe in ("'s", "\u2019s"):
            if apostrophe in t:
                for variant in (t.replace(apostrophe, "s"), t.replace(apostrophe, "")):
                    out[variant] = max(w, out.get(variant, 0.0))
    return out


class DensityScorer:
    """Scores texts against per-language weighted lexicons with one Aho-Corasick automaton per language.

    >>> s = DensityScorer.from_terms({"en": {"heart attack": 1.0, "aspirin": 0.8}})
    >>> round(s.score("Aspirin after a heart attack.", "en").density, 3)  # (0.8 + 2*1.0) / 5 tokens
    0.56
    """

    def __init__(
        self,
        lexicons: dict[str, dict[str, float]],
        char_languages: tuple[str, ...] | list[str] = ("zh", "ja"),
        english_plurals: bool = True,
        min_weight: float = 0.0,
    ):
        self.indexes: dict[str, _LanguageIndex] = {}
        for lang, terms in lexicons.items():
            mode: Literal["char", "word"] = "char" if lang in char_languages else "word"
            terms = {t: w for t, w in terms.items() if w > min_weight}
            if mode == "word" and english_plurals:
                plural: dict[str, float] = {}
                for t, w in terms.items():
                    head, _, last = t.rpartition(" ")
                    p = (head + " " if head else "") + english_plural(last)
                    if p != t and w > max(terms.get(p, -1.0), plural.get(p, -1.0)):
                        plural[p] = w
                terms = {**terms, **plural}
            if mode == "word" and english_plurals:
                terms = {**_possessive_variants(terms), **terms}
            self.indexes[lang] = _LanguageIndex(lang, mode, terms)

    @classmethod
    def from_terms(cls, lexicons: dict[str, dict[str, float]], **kw) -> DensityScorer:
        return cls(lexicons, **kw)

    @classmethod
    def from_config(cls, config: DensityConfig) -> DensityScorer:
        lexicons = {}
        for lang, specs in config.lexicons.items():
            loaded = []
            for spec in specs:
                if isinstance(spec, str):
                    loaded.append(load_lexicon(spec))
                else:
                    loaded.append(load_lexicon(spec.path, spec.column, spec.frequency_ref))
            lexicons[lang] = merge_lexicons(loaded)
        return cls(
            lexicons,
            char_languages=config.char_languages,
            english_plurals=config.english_plurals,
            min_weight=config.min_weight,
        )

    @property
    def languages(self) -> list[str]:
        return list(self.indexes)

    @property
    def automata(self) -> dict[str, ahocorasick.Automaton]:
        """The Aho-Corasick automaton of each language (for benchmarks). Note: word-mode automata run on
        ``units(text, lang)``, not on raw text."""
        return {lang: ix.automaton for lang, ix in self.indexes.items()}

    def units(self, text: str, language: str) -> str:
        """The normalized string a language's automaton runs on (see the module docstring)."""
        return self.indexes[language].units(text)

    def score(self, text: str, language: str) -> DensityScore:
        """Density of ``text`` against the lexicon of ``language`` (KeyError if there is none)."""
        ix = self.indexes[language]
        if not text:
            return _EMPTY
        return ix.score_units(ix.units(text))

    def score_many(self, texts: list[str], languages: list[str]) -> list[DensityScore]:
        """``[score(t, l) for t, l in zip(texts, languages)]`` (same results), much faster: per language, the
        units of all its texts are joined into one string that the automaton scans once, and coverage and
        counts are computed with numpy. KeyError for a language without a lexicon."""
        return self.stats_many(texts, languages).scores()

    def stats_many(self, texts: list[str], languages: list[str]) -> _BatchStats:
        """``score_many`` as arrays (no per-text objects), in input order."""
        if len(texts) != len(languages):
            raise ValueError(f"{len(texts)} texts but {len(languages)} languages")
        n = len(texts)
        by_lang: dict[str, list[int]] = {}
        for i, lang in enumerate(languages):
            by_lang.setdefault(lang, []).append(i)
        if len(by_lang) == 1:
            lang = languages[0]
            return self.indexes[lang].stats_many([t or "" for t in texts])
        out = _BatchStats(np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                          np.zeros(n, dtype=np.int64))
        for lang, idx in by_lang.items():
            r = self.indexes[lang].stats_many([texts[i] or "" for i in idx])
            ii = np.asarray(idx, dtype=np.int64)
            out.covered[ii], out.n_matches[ii], out.n_terms[ii], out.total[ii] = (
                r.covered, r.n_matches, r.n_terms, r.total)
        return out

    def explain(self, text: str, language: str) -> list[tuple[str, float, int]]:
        """Maximal matched terms of ``text`` as (term, weight, occurrences), heaviest first (for debugging)."""
        ix = self.indexes[language]
        counts: dict[int, int] = {}
        max_end = -1
        for s, e, t in ix.hits(ix.units(text or "")):
            if e > max_end:
                counts[t] = counts.get(t, 0) + 1
                max_end = e
        rows = [(ix.terms[t], ix.term_weights[t], c) for t, c in counts.items()]
        return sorted(rows, key=lambda r: (-r[1], r[0]))


class DensityFilter(FilterStage):
    """Stage ``density``: annotate ``density`` / ``density_terms`` and keep domain-dense documents.

    Keeps a document when its density reaches ``min_density`` of its language and it has at least
    ``min_matches`` distinct matched terms; drop reasons look like ``"density 0.012 < 0.080 (zh)"``,
    ``"density terms 1 < 2 (en)"`` or ``"no lexicon for language fr"``.
    """

    name = "density"

    def __init__(self, config: DensityConfig | None = None, scorer: DensityScorer | None = None):
        self.config = config or DensityConfig()
        self.scorer = scorer

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["scorer"] = None  # rebuilt lazily on the worker
        return state

    def setup(self) -> None:
        if self.scorer is None:
            self.scorer = DensityScorer.from_config(self.config)

    def shared_state(self) -> DensityScorer | None:
        return self.scorer

    def load_shared_state(self, state: object) -> None:
        if not isinstance(state, DensityScorer):
            raise TypeError(f"density: expected a DensityScorer, got {type(state).__name__}")
        self.scorer = state

    def _has_lexicon(self, lang) -> bool:
        return lang in self.scorer.indexes and lang in self.config.min_density

    def _decide(self, doc: dict, lang, density: float | None, n_terms: int = 0) -> tuple[bool, str | None]:
        """Annotate ``doc`` and decide; ``density`` is None for a language without a lexicon."""
        if density is None:
            doc["density"] = 0.0
            doc["density_terms"] = 0
            return False, f"no lexicon for language {lang}"
        doc["density"] = density
        doc["density_terms"] = n_terms
        thr = self.config.threshold(lang)
        if density < thr:
            return False, f"density {density:.3f} < {thr:.3f} ({lang})"
        need = self.config.matches_needed(lang)
        if n_terms < need:
            return False, f"density terms {n_terms} < {need} ({lang})"
        return True, None

    def filter(self, doc: dict) -> tuple[bool, str | None]:
        if self.scorer is None:
            self.setup()
        lang = doc.get("language")
        if not self._has_lexicon(lang):
            return self._decide(doc, lang, None)
        s = self.scorer.score(doc.get("text") or "", lang)
        return self._decide(doc, lang, s.density, s.n_terms)

    def process(self, docs: list[dict]) -> StageOutput:
        """Same result as calling ``filter`` per document, but scores the whole unit with one ``score_many``."""
        if self.scorer is None:
            self.setup()
        langs = [d.get("language") for d in docs]
        known = [self._has_lexicon(lang) for lang in langs]
        stats = self.scorer.stats_many(
            [d.get("text") or "" for d, k in zip(docs, known) if k], [lang for lang, k in zip(langs, known) if k]
        )
        scores = zip(stats.density.tolist(), stats.n_terms.tolist())
        out = StageOutput()
        for doc, lang, k in zip(docs, langs, known):
            keep, reason = self._decide(doc, lang, *(next(scores) if k else (None,)))
            if keep:
                out.kept.append(doc)
            else:
                doc["reason"] = reason or "filtered"
                out.dropped.append(doc)
                key = (
                    "density_no_lexicon" if not k
                    else "density_too_few_terms" if doc["reason"].startswith("density terms")
                    else "density_below_threshold"
                )
                out.counters[key] = out.counters.get(key, 0) + 1
        out.kept_inputs = len(out.kept)
        return out
