"""The density stage's science check (a naive-Bayes word model, second condition for English)."""

from __future__ import annotations

import json

import pytest

from huatuo_ray.curate.density.calibrate import calibrate
from huatuo_ray.curate.density.config import DensityConfig, ScienceCheck
from huatuo_ray.curate.density.lexicon import LexiconError, read_lexicon_text
from huatuo_ray.curate.density.science import ScienceModel, parse_science_model, tokens
from huatuo_ray.curate.density.stage import DensityFilter

CHEMISTRY = ("The catalysts were synthesized by a hydrothermal route and characterized by X-ray diffraction; "
             "the nanosheets showed high adsorption of heavy metals from wastewater and soils.")
CLINICAL = ("Patients with chronic kidney disease were enrolled in a randomized trial; the hazard ratio for "
            "hospitalization was 0.71 (95% CI 0.55-0.92) over a median follow-up of three years.")


def test_score_is_mean_ratio_over_words():
    m = ScienceModel({"soil": 2.0, "patients": -1.5})
    assert m.score("Soil samples from patients") == pytest.approx(0.125)
    assert m.score("") == 0.0 and m.score("!!!") == 0.0
    assert m.score("soil " * 50) == pytest.approx(2.0)  # length-normalized: does not grow with the text
    assert m.explain("soil soil patients sand") == [("soil", 2.0, 2)]
    assert tokens("Ünïcode X-ray") == ["ünïcode", "x", "ray"] and tokens("X-ray 5mg") == ["x", "ray", "5mg"]


def test_parse_science_model():
    assert parse_science_model("# c\nSoil\t1.5\n\npatients\t-0.25\n") == {"soil": 1.5, "patients": -0.25}
    with pytest.raises(LexiconError, match=r"m\.tsv:2: expected word<TAB>number"):
        parse_science_model("a\t1\nb 2\n", "m.tsv")
    with pytest.raises(LexiconError, match=r"m\.tsv:1"):
        parse_science_model("a\tx\n", "m.tsv")


def test_packaged_model_separates_chemistry_from_clinical_text():
    m = ScienceModel(parse_science_model(read_lexicon_text(DensityConfig().science_check["en"].model)))
    assert m.score(CHEMISTRY) > 0.5 > 0 > m.score(CLINICAL)
    assert m.explain(CHEMISTRY, 3)[0][1] > 1.0


def _stage(tmp_path, **kw) -> DensityFilter:
    lex = tmp_path / "en.tsv"
    lex.write_text("catalysts\t1.0\nheavy metals\t1.0\npatients\t1.0\nkidney disease\t1.0\nhazard ratio\t1.0\n")
    model = tmp_path / "sci.tsv"
    model.write_text("catalysts\t3.0\nnanosheets\t3.0\npatients\t-2.0\n")
    clinical = tmp_path / "clin.tsv"
    clinical.write_text("kidney disease\t1.0\n")
    cfg = DensityConfig(lexicons={"en": [str(lex)]}, min_density={"en": 0.01},
                        science_check={"en": ScienceCheck(model=str(model), max_score=0.05,
                                                          clinical_lexicons=[str(clinical)])}, **kw)
    return DensityFilter(cfg)


def test_stage_drops_science_text_and_records_the_score_on_every_row(tmp_path):
    stage = _stage(tmp_path)
    docs = [{"id": "chem", "text": CHEMISTRY, "language": "en"}, {"id": "clin", "text": CLINICAL, "language": "en"},
            {"id": "none", "text": "nothing here", "language": "en"}, {"id": "zh", "text": "发热", "language": "zh"}]
    verdicts = stage.judge(docs)
    assert [v.keep for v in verdicts] == [False, True, False, False]
    assert verdicts[0].counter == "density_science" and verdicts[0].reason.startswith("density science 0.")
    assert ">= 0.050, clinical density 0.000 < 0.060 (en)" in verdicts[0].reason
    assert docs[0]["density_science"] > 0.05 > docs[1]["density_science"]
    assert docs[2]["density_science"] == 0.0 and docs[3]["density_science"] == 0.0  # no lexicon / no check
    assert all("density" in d and "density_terms" in d for d in docs)
    score, verdict = stage.score_text(CHEMISTRY, "en")
    assert score.n_terms == 2 and verdict == verdicts[0]


def test_clinical_density_vouches_for_a_science_like_text(tmp_path):
    """A drug label's ingredients or a pharmacology textbook reads like chemistry to the word model: enough
    clinical vocabulary (the check's clinical lexicons) keeps it."""
    stage = _stage(tmp_path)
    clinical = tmp_path / "clin2.tsv"
    clinical.write_text("kidney disease\t1.0\nhazard ratio\t1.0\n")
    text = CHEMISTRY + " Patients with kidney disease: hazard ratio 0.7."
    stage.config.science_check["en"].clinical_lexicons = [str(clinical)]
    stage.scorer = None  # rebuilt from the config
    score, verdict = stage.score_text(text, "en")
    assert stage.science_score(text, "en") > 0.05 and verdict.keep
    assert stage.clinical_density(text, "en") == pytest.approx(4 / len(tokens(text)))
    stage.config.science_check["en"].min_clinical_density = 0.5
    assert not stage.score_text(text, "en")[1].keep


def test_science_check_off_keeps_what_density_keeps(tmp_path):
    stage = _stage(tmp_path)
    stage.config.science_check = {}
    docs = [{"id": "chem", "text": CHEMISTRY, "language": "en"}]
    assert stage.judge(docs)[0].keep and docs[0]["density_science"] == 0.0


def test_calibrate_counts_science_drops_as_negative_predictions(tmp_path):
    stage = _stage(tmp_path)
    path = tmp_path / "lab.jsonl"
    rows = [(CHEMISTRY, "other", "chem"), (CLINICAL, "medical", "clin"), ("nothing", "medical", "clin")]
    path.write_text("".join(json.dumps({"text": t, "language": "en", "label": lab, "source": s}) + "\n"
                            for t, lab, s in rows))
    r = calibrate(path, stage.config, thresholds=[0.01])["languages"]["en"]
    assert (r["at_threshold"]["tp"], r["at_threshold"]["fp"], r["at_threshold"]["fn"]) == (1, 0, 1)
    assert r["science_vetoed"] == 1 and r["kept_by_source"] == {"chem": (0, 1), "clin": (1, 2)}


def test_missing_science_model_is_named_by_its_setting(tmp_path):
    from huatuo_ray.curate.density.config import SPEC

    cfg = DensityConfig(science_check={"en": ScienceCheck(model=str(tmp_path / "nope.tsv"))})
    problems = SPEC.problems(cfg)
    assert any("curate.density.science_check.en.model" in p for p in problems), problems
    files = SPEC.behaviour_files(cfg)
    assert "curate.density.science_check.en.model" in files
    assert files["curate.density.science_check.en.clinical_lexicons.0"].endswith("en_wikidata_disease.tsv")
    cfg = DensityConfig(science_check={"en": ScienceCheck(clinical_lexicons=[str(tmp_path / "none.tsv")])})
    assert any("curate.density.science_check.en.clinical_lexicons.0" in p for p in SPEC.problems(cfg))


def test_default_filter_keeps_science_like_medical_genres_and_drops_chemistry():
    """Written for this test (not from any corpus): the packaged defaults on a drug label's description, a
    pharmacology and a biochemistry textbook paragraph (science-like words, clinical vocabulary) and a
    materials-chemistry abstract."""
    keep = [
        "Metformin hydrochloride tablets are oral antihyperglycemic drugs used in the management of type 2 "
        "diabetes. Metformin hydrochloride is a white crystalline compound with a molecular weight of 165.63. It is "
        "freely soluble in water. Inactive ingredients: povidone, magnesium stearate and polyethylene glycol.",
        "Beta-lactam antibiotics inhibit bacterial cell wall synthesis by binding to penicillin-binding proteins. "
        "Resistance arises through beta-lactamase enzymes that hydrolyse the beta-lactam ring, through altered "
        "penicillin-binding proteins as in methicillin-resistant Staphylococcus aureus, and through reduced "
        "permeability of the outer membrane in Gram-negative organisms.",
        "Glycolysis converts one molecule of glucose into two molecules of pyruvate. In the liver, insulin promotes "
        "glycolysis and glycogen synthesis, whereas glucagon stimulates gluconeogenesis. Deficiency of pyruvate "
        "kinase in erythrocytes causes chronic hemolytic anemia because red cells depend on glycolysis for energy.",
    ]
    stage = DensityFilter()
    for text in keep:
        assert stage.science_score(text, "en") > 0.05 and stage.score_text(text, "en")[1].keep, text[:40]
    assert stage.score_text(CHEMISTRY, "en")[1].counter == "density_science"


def test_judge_of_a_batch_equals_the_verdict_of_each_text(tmp_path):
    """The unit-at-once judge (arrays, science from the density's tokenization) agrees with decide() per text."""
    stage = _stage(tmp_path, min_matches={"en": 2})
    vouched = CHEMISTRY + " Kidney disease, kidney disease and kidney disease in patients."
    texts = [CHEMISTRY, CLINICAL, "nothing here", "", "patients", vouched, "Catalysts: NANOSHEETS!", "Ünïcode patients",
             CLINICAL.upper(), "catalysts heavy metals"]
    docs = [{"id": str(i), "text": t, "language": "en"} for i, t in enumerate(texts)]
    docs += [{"id": "zh", "text": "发热", "language": "zh"}, {"id": "none", "text": None, "language": "en"},
             {"id": "nolang", "text": CLINICAL, "language": None}]
    verdicts = stage.judge(docs)
    for doc, verdict in zip(docs, verdicts):
        score, want = stage.score_text(doc["text"] or "", doc["language"])
        science = stage.science_score(doc["text"] or "", doc["language"]) if score is not None else None
        assert verdict == want, doc["id"]
        assert doc["density"] == (score.density if score else 0.0), doc["id"]
        assert doc["density_terms"] == (score.n_terms if score else 0), doc["id"]
        assert doc["density_science"] == (science or 0.0), doc["id"]  # exactly: summed in the same order
    counters = {v.counter for v in verdicts}
    assert {"density_science", "density_below_threshold", "density_too_few_terms", "density_no_lexicon", None} <= counters
    assert verdicts[5].keep and verdicts[0].counter == "density_science"  # the clinical lexicon vouches for [5]


def test_science_check_of_a_character_language(tmp_path):
    """A science model on a char-mode language is scored per text (its words are not the automaton's units)."""
    (tmp_path / "zh.tsv").write_text("发热\t1.0\n")
    (tmp_path / "sci.tsv").write_text("化学\t3.0\n")
    (tmp_path / "clin.tsv").write_text("病人\t1.0\n")
    cfg = DensityConfig(lexicons={"zh": [str(tmp_path / "zh.tsv")]}, min_density={"zh": 0.01}, min_matches=1,
                        science_check={"zh": ScienceCheck(model=str(tmp_path / "sci.tsv"), max_score=0.5,
                                                          clinical_lexicons=[str(tmp_path / "clin.tsv")])})
    stage = DensityFilter(cfg)
    docs = [{"id": "a", "text": "化学 发热", "language": "zh"}, {"id": "b", "text": "发热 病人", "language": "zh"}]
    verdicts = stage.judge(docs)
    assert docs[0]["density_science"] == 1.5 and docs[1]["density_science"] == 0.0
    assert verdicts[0].counter == "density_science" and verdicts[1].keep


def test_science_words_in_the_automaton_input_change_no_density():
    """Science-only words get word codes of their own in the English automaton input: no term holds them, so every
    density, match and term count is what the scorer without the science model gives."""
    from huatuo_ray.curate.density.scorer import DensityScorer

    lexicon = {"en": {"heart failure": 1.0, "soil": 0.5, "kidney disease": 0.8, "failure": 0.3}}
    model = ScienceModel({"catalysts": 3.0, "nanosheets": 2.0, "heart": -1.0, "wastewater": 1.5})
    plain, with_science = DensityScorer(lexicon), DensityScorer(lexicon, science={"en": model})
    texts = [CHEMISTRY, CLINICAL, "heart failure in soil catalysts heart failure", "", "catalysts nanosheets",
             "Kidney disease; heart failure! " * 40]
    a, b = plain.stats_many(texts, ["en"] * len(texts)), with_science.stats_many(texts, ["en"] * len(texts))
    for field in ("covered", "n_matches", "n_terms", "total"):
        assert getattr(a, field).tolist() == getattr(b, field).tolist(), field
    assert a.token_mean is None and b.token_mean.tolist() == [model.score(t) for t in texts]
