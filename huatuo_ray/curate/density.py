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
from itertools import repeat
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

# Calibrated defaults: thresholds chosen on the train split of scripts/build_calibration_set.py (best-F1 region:
# zh 0.04-0.05, en 0.00-0.02 because its negatives are easy) with margin above the densities of hand-written
# non-medical paragraphs of other genres (tests/curate/data/density_genres.jsonl: zh <= 0.024, en <= 0.02
# except one deliberately hard animal-physiology text); re-check with huatuo_ray.curate.calibrate.
DEFAULT_LEXICONS: dict[str, list[str]] = {
    "zh": ["builtin:zh_thuocl_medical.tsv"],
    "en": [
        "builtin:en_wikidata_disease.tsv",
        "builtin:en_wikidata_other.tsv",
        "builtin:en_clinical_general.tsv",
    ],
}
DEFAULT_MIN_DENSITY: dict[str, float] = {"zh": 0.05, "en": 0.025}
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
        "covered by lexicon terms. Defaults (zh 0.05, en 0.025) were calibrated for the packaged lexicons; "
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
        return "".join(map(self.vocab.get, _TOKEN.findall(text.casefold()), repeat(_FILLER)))

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

    def filter(self, doc: dict) -> tuple[bool, str | None]:
        if self.scorer is None:
            self.setup()
        lang = doc.get("language")
        if lang not in self.scorer.indexes or lang not in self.config.min_density:
            doc["density"] = 0.0
            doc["density_terms"] = 0
            return False, f"no lexicon for language {lang}"
        s = self.scorer.score(doc.get("text") or "", lang)
        doc["density"] = s.density
        doc["density_terms"] = s.n_terms
        thr = self.config.threshold(lang)
        if s.density < thr:
            return False, f"density {s.density:.3f} < {thr:.3f} ({lang})"
        need = self.config.matches_needed(lang)
        if s.n_terms < need:
            return False, f"density terms {s.n_terms} < {need} ({lang})"
        return True, None

    def process(self, docs: list[dict]) -> StageOutput:
        out = super().process(docs)
        for d in out.dropped:
            r = d.get("reason", "")
            key = (
                "density_no_lexicon" if r.startswith("no lexicon")
                else "density_too_few_terms" if r.startswith("density terms")
                else "density_below_threshold"
            )
            out.counters[key] = out.counters.get(key, 0) + 1
        return out
