#!/usr/bin/env python
"""Build the packaged density lexicons in huatuo_ray/data/lexicons/ (reproducible).

Inputs (read-only):
  <data>/lexicon/THUOCL_medical.txt              zh terms, TAB document frequency (THUOCL, MIT)
  <data>/lexicon/en_wikidata/*.en.txt            six English term lists (CodeSante/medical-wordlist, WTFPL; Wikidata CC0)
  EN_CLINICAL_GENERAL below                      our own list of general clinical English vocabulary

Weighting (specificity from general-language frequency): every term's frequency in *general* language is
looked up in wordfreq 3.1 (``pip install wordfreq``) as a Zipf value z = log10(occurrences per 10^9 words),
and the weight is a linear ramp

    weight = clip((Z_HI - z) / (Z_HI - Z_LO), 0, 1)

so terms common in everyday language (z >= Z_HI: 医院, 检查, "back", "cold") get weight 0 and terms rare in
general language (z <= Z_LO: 肾功能衰竭, "thoracoscopy") get weight 1. A term's own frequency in the medical
source (THUOCL's document frequency) is NOT used: THUOCL's DF is web-wide and tracks general frequency.

Zipf values: a multi-word term is rarer than its rarest word, so words w_1..w_n with frequencies f_i combine as
wordfreq combines the tokens of a phrase whose word breaks were inferred: f = 1 / sum(1/f_i) / 10^(n-1).
English splits terms into words with the scorer's tokenizer (runs of letters/digits) and looks each word up
with ``wordfreq.word_frequency(word, "en")``; a word unknown to wordfreq gives z = 0. Chinese uses ``wordfreq.get_frequency_dict("zh")`` directly (wordfreq's own zh tokenizer
needs jieba): a term in the dictionary takes its frequency; otherwise the term is split into dictionary words
by a most-probable (unigram) segmentation and combined by the same formula; a term containing a character unknown to the dictionary gets z = 0.

Usage:
  python scripts/build_lexicons.py [--data /work/shared/data] [--out huatuo_ray/data/lexicons]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

Z_LO = 3.0  # ~1 occurrence per million words: at or below -> weight 1
Z_HI = 5.3  # ~200 per million words (医院 5.32, "doctor" ~5.0): at or above -> weight 0

EN_WIKIDATA_DISEASE = ["disease.en.txt"]
EN_WIKIDATA_OTHER = [
    "medication.en.txt",
    "anatomical-structure-class-instance.en.txt",
    "anatomical-structure-instance.en.txt",
    "medical-examination.en.txt",
    "medical-speciality.en.txt",
]
MAX_EN_TOKENS = 8  # longer Wikidata labels essentially never occur verbatim in running text

# Ours (huatuo-ray authors): general clinical vocabulary that the Wikidata entity lists lack. Weighted by the
# same frequency ramp as everything else. Plural forms of the last word are added at load time by the scorer.
EN_CLINICAL_GENERAL = """
patient inpatient outpatient symptom symptomatic asymptomatic diagnosis diagnose diagnosed diagnostic
misdiagnosis prognosis treatment therapy therapeutic therapist physician clinician doctor nurse nursing
clinic clinical hospital hospitalization hospitalized emergency room intensive care unit icu
disease disorder syndrome chronic acute infection infectious infected inflammation inflammatory
medication medicine prescription prescribed dose dosage overdose side effect adverse effect adverse reaction
contraindication contraindicated tablet capsule injection intravenous oral administration topical ointment
vaccine vaccination immunization surgery surgical surgeon anesthesia anaesthesia postoperative preoperative
clinical trial blood pressure heart rate pulse fever pain ache swelling rash nausea vomiting diarrhea
diarrhoea constipation fatigue dizziness headache cough shortness of breath chest pain blood test urine
urinalysis biopsy x-ray mri ct scan ultrasound lesion tumor tumour malignant benign metastasis metastatic
carcinoma immune system antibody antibiotic antiviral pathogen bacteria bacterial virus viral fungal
complication mortality morbidity incidence prevalence risk factor mutation hereditary congenital
neurological cardiovascular respiratory gastrointestinal renal hepatic pulmonary cardiac seizure stroke
diabetes hypertension asthma allergy allergic cancer obesity dementia depression anxiety disorder
mg milligram microgram ml twice daily once daily health care provider healthcare provider
health professional pharmacist pharmacy pediatrician paediatrician pregnancy pregnant breastfeeding
menstrual rehabilitation physical therapy occupational therapy speech therapy remission relapse recurrence
palliative supportive care chronic pain muscle weakness numbness tingling paralysis cognitive impairment
deficiency abnormality medical history family history physical examination screening transmission
contagious outbreak epidemic pandemic incubation period immunity tissue nerve spinal cord blood vessel
artery vein liver kidney lung bladder bowel intestine abdomen abdominal
"""
# multi-word entries of the list above (everything else is one word per entry)
EN_CLINICAL_PHRASES = [
    "emergency room", "intensive care unit", "side effect", "adverse effect", "adverse reaction",
    "oral administration", "clinical trial", "blood pressure", "heart rate", "shortness of breath",
    "chest pain", "blood test", "ct scan", "immune system", "risk factor", "anxiety disorder",
    "twice daily", "once daily", "health care provider", "healthcare provider", "health professional",
    "physical therapy", "occupational therapy", "speech therapy", "supportive care", "chronic pain",
    "muscle weakness", "cognitive impairment", "medical history", "family history",
    "physical examination", "incubation period", "spinal cord", "blood vessel",
]


def en_clinical_terms() -> list[str]:
    text = " " + " ".join(EN_CLINICAL_GENERAL.split()) + " "
    terms = []
    for p in EN_CLINICAL_PHRASES:
        assert f" {p} " in text, p
        text = text.replace(f" {p} ", " ", 1)
        terms.append(p)
    terms += text.split()
    return sorted(set(terms))


def ramp(z: float) -> float:
    return min(1.0, max(0.0, (Z_HI - z) / (Z_HI - Z_LO)))


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
    lines = ["# " + h if h else "#" for h in header]
    lines += [f"{t}\t{w:.3f}" for t, w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    size = path.stat().st_size
    print(f"wrote {path} ({len(weights)} terms, {size:,} bytes)", file=sys.stderr)
    assert size < 1_000_000, f"{path} is over 1 MB"


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


_EN_TOKEN = re.compile(r"[^\W_]+")


def en_weights(terms: list[str]) -> dict[str, float]:
    import wordfreq

    out: dict[str, float] = {}
    for raw in terms:
        term = re.sub(r"\s+", " ", raw).strip().casefold()
        toks = _EN_TOKEN.findall(term)
        if not toks or len(toks) > MAX_EN_TOKENS:
            continue
        freqs = [wordfreq.word_frequency(t, "en") for t in toks]
        if min(freqs) <= 0:
            z = 0.0
        else:  # combine words as wordfreq does for inferred word breaks (see the module docstring)
            f = 1.0 / sum(1.0 / x for x in freqs) / 10 ** (len(toks) - 1)
            z = max(0.0, math.log10(f * 1e9))
        out[term] = max(out.get(term, 0.0), round(ramp(z), 3))
    return out


def read_lines(paths: list[Path]) -> list[str]:
    out = []
    for p in paths:
        out += [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return out


def build_en(data: Path, out: Path) -> None:
    wd = data / "lexicon" / "en_wikidata"
    common = [
        f"Weight = specificity from general-language frequency (wordfreq 3.1 en data, CC BY-SA 4.0):",
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "huatuo_ray/data/lexicons")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build_zh(args.data, args.out)
    build_en(args.data, args.out)


if __name__ == "__main__":
    main()
