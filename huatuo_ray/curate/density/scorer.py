"""Scores texts against per-language weighted lexicons: the density the filter keeps or drops by.

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

from typing import Literal

import ahocorasick
import numpy as np

from huatuo_ray.curate.density.config import (
    LEXICON_HINT,
    DensityConfig,
    lexicon_entries,
    lexicon_path,
    science_entries,
)
from huatuo_ray.curate.density.index import LanguageIndex
from huatuo_ray.curate.density.lexicon import (
    merge_lexicons,
    parse_lexicon,
    read_lexicon_text,
)
from huatuo_ray.curate.density.science import ScienceModel, parse_science_model
from huatuo_ray.curate.density.scores import EMPTY, BatchStats, DensityScore
from huatuo_ray.models import locate


def english_plural(word: str) -> str:
    """Regular English plural of one word (symptom -> symptoms, artery -> arteries, virus -> viruses)."""
    if not word or not word.isalpha():
        return word
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


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
        science: dict[str, ScienceModel] | None = None,
        clinical: dict[str, dict[str, float]] | None = None,
    ):
        self.science: dict[str, ScienceModel] = dict(science or {})  # the science check's word model per language
        # the science check's clinical vocabulary per language, scored like the lexicons (plurals and all)
        self.clinical: dict[str, DensityScorer] = {
            lang: DensityScorer({lang: terms}, char_languages, english_plurals, min_weight)
            for lang, terms in (clinical or {}).items()
        }
        self.indexes: dict[str, LanguageIndex] = {}
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
            self.indexes[lang] = LanguageIndex(lang, mode, terms)
        for lang, model in self.science.items():  # scored in the density's own tokenization pass where it can be
            if lang in self.indexes and self.indexes[lang].mode == "word":
                self.indexes[lang].attach_token_values(model.ratios)

    @classmethod
    def from_terms(cls, lexicons: dict[str, dict[str, float]], **kw) -> DensityScorer:
        return cls(lexicons, **kw)

    @classmethod
    def from_config(cls, config: DensityConfig) -> DensityScorer:
        """The scorer of the recipe's lexicons (ModelNotFound naming the setting of a missing file)."""
        lexicons = {}
        for lang, entries in lexicon_entries(config).items():
            lexicons[lang] = merge_lexicons(
                parse_lexicon(read_lexicon_text(locate(lexicon_path(f.path), setting, LEXICON_HINT)), f.path, f.column,
                              f.frequency_ref)
                for setting, f in entries
            )
        science, clinical = {}, {}
        for lang, (setting, c) in science_entries(config).items():
            text = read_lexicon_text(locate(lexicon_path(c.model), setting, LEXICON_HINT))
            science[lang] = ScienceModel(parse_science_model(text, c.model))
            base = setting.rsplit(".", 1)[0]
            clinical[lang] = merge_lexicons(
                parse_lexicon(read_lexicon_text(locate(lexicon_path(p), f"{base}.clinical_lexicons.{i}",
                                                       LEXICON_HINT)), p)
                for i, p in enumerate(c.clinical_lexicons)
            )
        return cls(
            lexicons,
            char_languages=config.char_languages,
            english_plurals=config.english_plurals,
            min_weight=config.min_weight,
            science=science,
            clinical=clinical,
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
            return EMPTY
        return ix.score_units(ix.units(text))

    def score_many(self, texts: list[str], languages: list[str]) -> list[DensityScore]:
        """``[score(t, l) for t, l in zip(texts, languages)]`` (same results), much faster: per language, the
        units of all its texts are joined into one string that the automaton scans once, and coverage and
        counts are computed with numpy. KeyError for a language without a lexicon."""
        return self.stats_many(texts, languages).scores()

    def stats_many(self, texts: list[str], languages: list[str]) -> BatchStats:
        """``score_many`` as arrays (no per-text objects), in input order; ``token_mean`` is the science score of
        the texts whose language has a word-mode science model (NaN for the others)."""
        if len(texts) != len(languages):
            raise ValueError(f"{len(texts)} texts but {len(languages)} languages")
        n = len(texts)
        by_lang: dict[str, list[int]] = {}
        for i, lang in enumerate(languages):
            by_lang.setdefault(lang, []).append(i)
        if len(by_lang) == 1:
            lang = languages[0]
            return self.indexes[lang].stats_many([t or "" for t in texts])
        out = BatchStats.zeros(n)
        for lang, idx in by_lang.items():
            r = self.indexes[lang].stats_many([texts[i] or "" for i in idx])
            ii = np.asarray(idx, dtype=np.int64)
            out.covered[ii], out.n_matches[ii], out.n_terms[ii], out.total[ii] = (
                r.covered, r.n_matches, r.n_terms, r.total)
            if r.token_mean is not None:
                if out.token_mean is None:
                    out.token_mean = np.full(n, np.nan)
                out.token_mean[ii] = r.token_mean
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

