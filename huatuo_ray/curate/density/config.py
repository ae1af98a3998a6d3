"""Settings of the dictionary-density filter (stage ``density``) and its registration."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from huatuo_ray.curate.density.lexicon import BUILTIN_PREFIX, ColumnKind, builtin_path
from huatuo_ray.curate.spec import HistogramSpec, StageSpec
from huatuo_ray.models import problem

NAME = "density"


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


# Calibrated defaults (docs/curate.md "How the thresholds were chosen"). zh 0.065: the threshold that maximises
# the smallest F1 over the train split of scripts/build_calibration_set.py and the two blind written sets
# (tests/curate/data/density_heldout.jsonl, density_validation2.jsonl). en 0.03 with the science check at 0.05:
# chosen together on the calibration train split (MedQuAD, PubMed abstracts of clinical journals against
# non-medical science abstracts, history prose, ShareGPT) and the two blind written sets (hard near-domain
# negatives: fitness, skincare, cooking, insurance, news): over min_density 0.025, 0.030, ... and max_score
# 0, 0.05, 0.10, ..., the largest train recall whose precision on the train split and on both blind sets is >= 0.95.
# The test split was never used to choose. Re-check with `huatuo-ray density calibrate` after changing lexicons.
DEFAULT_LEXICONS: dict[str, list[str]] = {
    "zh": ["builtin:zh_thuocl_medical.tsv"],
    "en": [
        "builtin:en_wikidata_disease.tsv",
        "builtin:en_wikidata_other.tsv",
        "builtin:en_clinical_general.tsv",
        "builtin:en_clinical_research.tsv",
        "builtin:en_mesh.tsv",
    ],
}
DEFAULT_MIN_DENSITY: dict[str, float] = {"zh": 0.065, "en": 0.03}
DEFAULT_MIN_MATCHES = 2
DEFAULT_SCIENCE_MAX_SCORE = 0.05
DEFAULT_CLINICAL_LEXICONS = ["builtin:en_wikidata_disease.tsv", "builtin:en_clinical_general.tsv"]
DEFAULT_MIN_CLINICAL_DENSITY = 0.06


class ScienceCheck(BaseModel):
    """The science check of one language (see :mod:`huatuo_ray.curate.density.science`)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("builtin:en_science_words.tsv",
                       description="Word model file (word<TAB>log-likelihood ratio science vs clinical): a path or "
                       "'builtin:NAME' (packaged: en_science_words.tsv, built by scripts/build_lexicons.py).")
    max_score: float = Field(
        DEFAULT_SCIENCE_MAX_SCORE,
        description="A text the density test keeps is dropped when its science score (the mean over its words of "
        "ln(P(w | science) / P(w | clinical))) is >= max_score, unless its clinical density reaches "
        "min_clinical_density.",
    )
    clinical_lexicons: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CLINICAL_LEXICONS),
        description="The clinical part of the vocabulary (paths or 'builtin:NAME'): diseases and general clinical "
        "words, not chemical, organism or laboratory names. Its density vouches for a text the word model finds "
        "science-like (a drug label's ingredients, a pharmacology textbook).",
    )
    min_clinical_density: float = Field(
        DEFAULT_MIN_CLINICAL_DENSITY, ge=0.0, le=1.0,
        description="A text whose density over clinical_lexicons reaches this is never dropped by the check.",
    )


class DensityConfig(BaseModel):
    """Configuration of the dictionary-density filter.

    A document in language L is kept when ``density >= min_density[L]``, it contains at least ``min_matches``
    distinct matched terms and, where L has a ``science_check``, its science score is below that check's
    ``max_score``. Documents in a language without a lexicon are dropped.
    """

    model_config = ConfigDict(extra="forbid")

    lexicons: dict[str, list[LexiconSpec]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_LEXICONS.items()},
        description="Lexicon files per language code. Each entry is a path, 'builtin:NAME' (packaged: "
        "zh_thuocl_medical.tsv, en_wikidata_disease.tsv, en_wikidata_other.tsv, en_clinical_general.tsv, "
        "en_clinical_research.tsv, en_mesh.tsv), "
        "or {path, column, frequency_ref}. Format: one term per line, optional TAB + weight in [0,1] or "
        "integer frequency; '#' comments. Duplicate terms keep the largest weight.",
    )
    min_density: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_MIN_DENSITY),
        description="Keep threshold per language: weighted fraction of characters (zh) or word tokens (en) "
        "covered by lexicon terms. Defaults (zh 0.065, en 0.03 with the science check) were calibrated for the "
        "packaged lexicons; re-check with `huatuo-ray density calibrate` after changing lexicons.",
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
    science_check: dict[str, ScienceCheck] = Field(
        default_factory=lambda: {"en": ScienceCheck()},
        description="Per language, a second condition on the texts the density test keeps: drop a text whose "
        "science score (non-medical science vs clinical, a naive-Bayes word model) reaches max_score. Default: "
        "English only (chemistry, materials, ecology and agriculture text is dense in MeSH chemical and organism "
        "names). {} turns it off. Every row records density_science (0 where no check applies).",
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


LEXICON_HINT = ("Give an existing UTF-8 term list (one term per line, optional TAB + weight), or a packaged one: "
                "builtin:zh_thuocl_medical.tsv, builtin:en_wikidata_disease.tsv, builtin:en_wikidata_other.tsv, "
                "builtin:en_clinical_general.tsv, builtin:en_clinical_research.tsv, builtin:en_mesh.tsv; or convert a "
                "vocabulary (MeSH, UMLS SPECIALIST) with `huatuo-ray density import-lexicon`.")


def lexicon_entries(cfg: DensityConfig) -> dict[str, list[tuple[str, LexiconFile]]]:
    """Each language's lexicon files, each with the recipe setting that names it."""
    out: dict[str, list[tuple[str, LexiconFile]]] = {}
    for lang, specs in cfg.lexicons.items():
        for i, spec in enumerate(specs):
            setting = f"curate.{NAME}.lexicons.{lang}.{i}"
            entry = (f"{setting}.path", spec) if isinstance(spec, LexiconFile) else (setting, LexiconFile(path=spec))
            out.setdefault(lang, []).append(entry)
    return out


def lexicon_path(path: str) -> str:
    """The file behind a lexicon path: a packaged file for ``builtin:NAME``, else the path made absolute."""
    if path.startswith(BUILTIN_PREFIX):
        return str(builtin_path(path[len(BUILTIN_PREFIX):]))
    return str(Path(os.path.expanduser(path)).absolute())


def science_entries(cfg: DensityConfig) -> dict[str, tuple[str, ScienceCheck]]:
    """Each language's science check, with the recipe setting that names its model file."""
    return {lang: (f"curate.{NAME}.science_check.{lang}.model", c) for lang, c in cfg.science_check.items()}


def _lexicon_files(cfg: DensityConfig) -> dict[str, str]:
    files = {setting: lexicon_path(f.path) for entries in lexicon_entries(cfg).values() for setting, f in entries}
    for setting, c in science_entries(cfg).values():
        files[setting] = lexicon_path(c.model)
        base = setting.rsplit(".", 1)[0]
        files.update({f"{base}.clinical_lexicons.{i}": lexicon_path(p) for i, p in enumerate(c.clinical_lexicons)})
    return files


def _missing_lexicons(cfg: DensityConfig) -> list[str]:
    found = (problem(path, setting, LEXICON_HINT) for setting, path in _lexicon_files(cfg).items())
    return [p for p in found if p]


def _threshold_line(cfg: DensityConfig, language: str) -> float | None:
    return cfg.min_density.get(language)


SPEC = StageSpec(
    name=NAME,
    config=DensityConfig,
    impl="huatuo_ray.curate.density.stage:DensityFilter",
    counters=("density_no_lexicon", "density_too_few_terms", "density_below_threshold", "density_science"),
    histograms=(HistogramSpec(name=NAME, field="density", title="dictionary density", x_label="density",
                              y_label="documents", threshold=_threshold_line, x_max=0.6),),
    behaviour_files=_lexicon_files,
    problems=_missing_lexicons,
)
