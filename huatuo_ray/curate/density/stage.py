"""Stage ``density``: annotate each document with its lexicon density and keep the domain-dense ones."""

from __future__ import annotations

from huatuo_ray.curate.base import KEEP, FilterStage, Verdict
from huatuo_ray.curate.density.config import NAME, DensityConfig
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
            return Verdict(False, f"no lexicon for language {language}", "density_no_lexicon")
        thr = self.config.threshold(language)
        if score.density < thr:
            return Verdict(False, f"density {score.density:.3f} < {thr:.3f} ({language})", "density_below_threshold")
        need = self.config.matches_needed(language)
        if score.n_terms < need:
            return Verdict(False, f"density terms {score.n_terms} < {need} ({language})", "density_too_few_terms")
        check = self.config.science_check.get(language)
        if check is not None and science is not None and science >= check.max_score:
            clinical = self.clinical_density(text, language) if text is not None else 0.0
            if clinical < check.min_clinical_density:
                return Verdict(False, f"density science {science:.3f} >= {check.max_score:.3f}, clinical density "
                               f"{clinical:.3f} < {check.min_clinical_density:.3f} ({language})", "density_science")
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
        """Annotate and decide every document, scoring the whole unit with one ``stats_many``."""
        self.setup()
        langs = [d.get("language") for d in docs]
        known = [self._has_lexicon(lang) for lang in langs]
        stats = self.scorer.stats_many(
            [d.get("text") or "" for d, k in zip(docs, known) if k], [lang for lang, k in zip(langs, known) if k]
        )
        scores = iter(stats.scores())
        verdicts = []
        for doc, lang, k in zip(docs, langs, known):
            score = next(scores) if k else None
            science = self.science_score(doc.get("text") or "", lang) if k else None
            doc["density"] = score.density if score else 0.0
            doc["density_terms"] = score.n_terms if score else 0
            doc["density_science"] = science if science is not None else 0.0
            verdicts.append(self.decide(lang, score, science, doc.get("text") or ""))
        return verdicts
