"""Stage ``density``: annotate each document with its lexicon density and keep the domain-dense ones."""

from __future__ import annotations

import numpy as np

from huatuo_ray.curate.base import KEEP, FilterStage, Verdict
from huatuo_ray.curate.density.config import NAME, DensityConfig, ScienceCheck
from huatuo_ray.curate.density.encoding import tokens
from huatuo_ray.curate.density.scorer import DensityScorer
from huatuo_ray.curate.density.scores import DensityScore


class DensityFilter(FilterStage):
    """Annotate ``density`` / ``density_terms`` / ``density_science`` and keep domain-dense documents.

    Keeps a document when its density reaches ``min_density`` of its language, it has at least
    ``min_matches`` distinct matched terms and (languages with a science check) its science score stays below
    ``max_score`` or its density over the check's clinical lexicons reaches ``min_clinical_density``; drop
    reasons look like ``"density 0.012 < 0.080 (zh)"``, ``"density terms 1 < 2 (en)"``,
    ``"density science 0.214 >= 0.050, clinical density 0.012 < 0.060 (en)"`` or
    ``"no lexicon for language fr"``. ``density_science`` is the science score wherever the language has a
    check (every row of it, kept or dropped), else 0.
    """

    name = NAME

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
            raise TypeError(f"{NAME}: expected a DensityScorer, got {type(state).__name__}")
        self.scorer = state

    def _has_lexicon(self, language) -> bool:
        return language in self.scorer.indexes and language in self.config.min_density

    def decide(self, language, score: DensityScore | None, science: float | None = None,
               text: str | None = None) -> Verdict:
        """The verdict on a text of ``language`` with this score (None: the language has no lexicon) and science
        score (None: no science check). ``text`` is scored against the clinical lexicons when the science check
        would drop it (without it, its clinical density counts as 0)."""
        if score is None:
            return _no_lexicon(language)
        thr = self.config.threshold(language)
        if score.density < thr:
            return _below(score.density, thr, language)
        need = self.config.matches_needed(language)
        if score.n_terms < need:
            return _too_few(score.n_terms, need, language)
        check = self.config.science_check.get(language)
        if check is not None and science is not None and science >= check.max_score:
            clinical = self.clinical_density(text, language) if text is not None else 0.0
            if clinical < check.min_clinical_density:
                return _science(science, clinical, check, language)
        return KEEP

    def clinical_density(self, text: str, language) -> float:
        """Density of ``text`` over the science check's clinical lexicons (0 without them)."""
        self.setup()
        sub = self.scorer.clinical.get(language)
        return sub.score(text, language).density if sub is not None else 0.0

    def science_score(self, text: str, language) -> float | None:
        """The science score of ``text`` (None when ``language`` has no science check)."""
        self.setup()
        model = self.scorer.science.get(language) if language in self.config.science_check else None
        return model.score(text) if model is not None else None

    def score_text(self, text: str, language) -> tuple[DensityScore | None, Verdict]:
        """Score one text and decide as the stage would (for ``huatuo-ray density score``)."""
        self.setup()
        score = self.scorer.score(text, language) if self._has_lexicon(language) else None
        return score, self.decide(language, score, self.science_score(text, language), text)

    def judge(self, docs: list[dict]) -> list[Verdict]:
        """Annotate and decide every document as :meth:`decide` does, for a whole unit at once: one
        ``stats_many`` (the science scores from the same tokenization), the thresholds applied as arrays, a
        Verdict built only for the documents dropped."""
        self.setup()
        n = len(docs)
        texts = [d.get("text") or "" for d in docs]
        langs = np.array([d.get("language") for d in docs], dtype=object)
        present = [lang for lang in dict.fromkeys(langs.tolist()) if self._has_lexicon(lang)]
        of_lang = {lang: np.flatnonzero(langs == lang) for lang in present}
        known = np.zeros(n, dtype=bool)
        thr, need = np.zeros(n), np.zeros(n, dtype=np.int64)
        for lang, ii in of_lang.items():
            known[ii], thr[ii], need[ii] = True, self.config.threshold(lang), self.config.matches_needed(lang)
        kidx = np.flatnonzero(known)
        stats = self.scorer.stats_many([texts[i] for i in kidx], langs[kidx].tolist())
        density, terms, science = np.zeros(n), np.zeros(n, dtype=np.int64), np.full(n, np.nan)
        density[kidx], terms[kidx] = stats.density, stats.n_terms
        if stats.token_mean is not None:
            science[kidx] = stats.token_mean
        below = known & (density < thr)
        few = known & ~below & (terms < need)
        suspect = np.zeros(n, dtype=bool)
        for lang, ii in of_lang.items():
            check, model = self.config.science_check.get(lang), self.scorer.science.get(lang)
            if check is None or model is None:
                science[ii] = np.nan
                continue
            todo = ii[np.isnan(science[ii])]  # a science model the density pass could not apply (char mode)
            if len(todo):
                science[todo] = model.score_many([tokens(texts[i]) for i in todo])
            suspect[ii] = science[ii] >= check.max_score
        suspect &= known & ~below & ~few
        verdicts = [KEEP] * n
        for i in np.flatnonzero(~known).tolist():
            verdicts[i] = _no_lexicon(langs[i])
        for i in np.flatnonzero(below).tolist():
            verdicts[i] = _below(float(density[i]), float(thr[i]), langs[i])
        for i in np.flatnonzero(few).tolist():
            verdicts[i] = _too_few(int(terms[i]), int(need[i]), langs[i])
        for lang in present:
            ii = np.flatnonzero(suspect & (langs == lang))
            if len(ii):
                check, sub = self.config.science_check[lang], self.scorer.clinical.get(lang)
                clinical = (sub.stats_many([texts[i] for i in ii], [lang] * len(ii)).density if sub is not None
                            else np.zeros(len(ii)))
                for i, c in zip(ii.tolist(), clinical.tolist()):
                    if c < check.min_clinical_density:
                        verdicts[i] = _science(float(science[i]), c, check, lang)
        science = np.nan_to_num(science, nan=0.0)
        for doc, d, t, sc in zip(docs, density.tolist(), terms.tolist(), science.tolist()):
            doc["density"], doc["density_terms"], doc["density_science"] = d, t, sc
        return verdicts


def _no_lexicon(language) -> Verdict:
    return Verdict(False, f"no lexicon for language {language}", "density_no_lexicon")


def _below(density: float, threshold: float, language) -> Verdict:
    return Verdict(False, f"density {density:.3f} < {threshold:.3f} ({language})", "density_below_threshold")


def _too_few(n_terms: int, need: int, language) -> Verdict:
    return Verdict(False, f"density terms {n_terms} < {need} ({language})", "density_too_few_terms")


def _science(science: float, clinical: float, check: ScienceCheck, language) -> Verdict:
    return Verdict(False, f"density science {science:.3f} >= {check.max_score:.3f}, clinical density "
                   f"{clinical:.3f} < {check.min_clinical_density:.3f} ({language})", "density_science")
