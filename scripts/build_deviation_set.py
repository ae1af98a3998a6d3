#!/usr/bin/env python
"""Build a labelled set of faithful and drifted answers for the unify deviation check, from real Q&A data.

Every row is ``{"segment", "answer", "segment_language", "answer_language", "label", "kind", "source", "split"}``
with label ``faithful`` or ``drifted``. From each real answer passage P (the segment, cut at 600 characters at a
sentence end as unification cuts its source) three rows are made:

* ``own`` (faithful): an answer made of 40-70% of P's own sentences, in order: what a
  grounded extractive answer looks like;
* ``close`` (drifted, topically close but unsupported): the same construction from *another* passage on the
  same subject: in MedQuAD another question of the same document (same disease, another aspect: symptoms vs
  treatment vs research), in Chinese the most similar other answer by character-bigram cosine;
* ``other`` (drifted): the same construction from a random passage of another document.

Sources (../shared/data): en: MedQuAD answers (CC BY 4.0); zh: the 答 of corpus/medical_corpus.txt and the
doctor turns of corpus/medical_sft_1K_format.jsonl (MedicalGPT repository, Apache-2.0). Cross-lingual pairs
need real parallel zh/en text, which none of the licensed sources here holds: not built.
split = "test" when the first byte of sha1(segment) mod 10 < 3, else "train".

Usage: python scripts/build_deviation_set.py [OUT.jsonl] [--data /work/shared/data]   (default /tmp/huatuo_deviation.jsonl)
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import math
import random
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from huatuo_ray.io.atomic import write_text_atomic
from huatuo_ray.unify.prompts import truncate_source

_SENT = re.compile(r"[^。！？!?.]+(?:[。！？!?]+|\.(?=\s|$))\s*")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.findall(text) if s.strip()]


def extract(question: str, passage: str, rng: random.Random, joiner: str) -> str | None:
    """The question's answer as 40-70% of the passage's sentences, in order (None: too few sentences)."""
    sents = sentences(passage)
    if len(sents) < 3:
        return None
    k = max(2, round(len(sents) * rng.uniform(0.4, 0.7)))
    keep = sorted(rng.sample(range(len(sents)), k))
    return joiner.join(sents[i] for i in keep)


def medquad(data: Path) -> list[tuple[str, str, str]]:
    """(document id, question, answer) of MedQuAD answers."""
    out = []
    for path in sorted(glob.glob(str(data / "en_medical" / "MedQuAD" / "*" / "*.xml"))):
        root = ET.parse(path).getroot()
        for qa in root.iter("QAPair"):
            q, a = qa.findtext("Question") or "", " ".join((qa.findtext("Answer") or "").split())
            if len(a) >= 200:
                out.append((path, q.strip(), a))
    return out


def zh_answers(data: Path) -> list[tuple[str, str, str]]:
    corpus = data / "corpus"
    out = []
    for i, line in enumerate((corpus / "medical_corpus.txt").read_text(encoding="utf-8").splitlines()):
        if line.strip():
            d = json.loads(line)
            out.append((f"mc{i}", d["问"].strip(), d["答"].strip()))
    for i, line in enumerate((corpus / "medical_sft_1K_format.jsonl").read_text(encoding="utf-8").splitlines()):
        conv = json.loads(line)["conversations"]
        for j, (h, g) in enumerate(zip(conv[0::2], conv[1::2])):
            out.append((f"sft{i}", h["value"].strip(), g["value"].strip()))
    return [r for r in out if len(r[2]) >= 120]


def bigram_vec(text: str) -> Counter:
    t = re.sub(r"\W", "", text)
    return Counter(t[i:i + 2] for i in range(len(t) - 1))


def cosine(a: Counter, b: Counter) -> float:
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    return dot / (math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values())) or 1)


def build(data: Path, seed: int = 0, cap: int = 400) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    for lang, items, joiner in (("en", medquad(data), " "), ("zh", zh_answers(data), "")):
        rng.shuffle(items)
        items = items[: cap * 3]
        by_doc: dict[str, list[int]] = {}
        for i, (doc, _, _) in enumerate(items):
            by_doc.setdefault(doc, []).append(i)
        vecs = [bigram_vec(a) for _, _, a in items] if lang == "zh" else None
        n = 0
        for i, (doc, q, a) in enumerate(items):
            if n >= cap:
                break
            segment, _ = truncate_source(a, 600)
            own = extract(q, segment, rng, joiner)
            if own is None:
                continue
            if lang == "en":
                close_ids = [j for j in by_doc[doc] if j != i and items[j][2][:80] != a[:80]]
            else:
                sims = sorted(((cosine(vecs[i], vecs[j]), j) for j in rng.sample(range(len(items)), 300)
                               if items[j][0] != doc), reverse=True)
                close_ids = [sims[0][1]] if sims else []
            others = [j for j in rng.sample(range(len(items)), 5) if items[j][0] != doc]
            if not close_ids or not others:
                continue
            close = extract(q, truncate_source(items[rng.choice(close_ids)][2], 600)[0], rng, joiner)
            other = extract(q, truncate_source(items[others[0]][2], 600)[0], rng, joiner)
            if close is None or other is None:
                continue
            split = "test" if int(hashlib.sha1(segment.encode()).hexdigest()[:2], 16) % 10 < 3 else "train"
            for kind, label, ans in (("own", "faithful", own), ("close", "drifted", close), ("other", "drifted", other)):
                rows.append({"segment": segment, "answer": ans,
                             "segment_language": lang, "answer_language": lang, "label": label, "kind": kind,
                             "source": "medquad" if lang == "en" else "medical_zh", "split": split})
            n += 1
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="/tmp/huatuo_deviation.jsonl")
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    args = ap.parse_args()
    rows = build(args.data)
    write_text_atomic(args.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    for k, v in sorted(Counter((r["segment_language"], r["kind"], r["split"]) for r in rows).items()):
        print(*k, v, file=sys.stderr)
    print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
