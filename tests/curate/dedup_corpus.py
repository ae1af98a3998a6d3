"""A corpus with planted near-duplicates at known positions (zh and en), built from real paragraphs.

Base paragraphs: English answers of MedQuAD (CC BY 4.0) and Chinese paragraphs of the infectious-disease
textbook in ../shared/data (read at test time, never copied). Each planted group is one base paragraph plus
1-3 copies, each made by one of:

* ``edit``: about 5% of the words (en) or characters (zh) deleted, replaced by another word of the text, or
  doubled;
* ``reorder``: the sentences shuffled (paragraphs of 3+ sentences);
* ``partial``: a contiguous run of sentences covering 75-90% of the paragraph.

Every other base paragraph appears once. Records are shuffled with a fixed seed.
"""

from __future__ import annotations

import glob
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

_SENT = re.compile(r"[^。！？!?.]+[。！？!?.]+\s*|[^。！？!?.]+$")


def sentences(text: str) -> list[str]:
    return [s for s in _SENT.findall(text) if s.strip()]


def base_paragraphs(shared: Path, n_zh: int, n_en: int, min_chars=(100, 300), max_chars=(250, 900)) -> list[tuple[str, str]]:
    """Distinct real paragraphs: (language, text); identical openings are skipped."""
    out, seen = [], set()
    zh = [ln.strip() for ln in (shared / "corpus" / "fever.txt").read_text(encoding="utf-8").splitlines()]
    for t in zh:
        if min_chars[0] <= len(t) <= max_chars[0] and len(sentences(t)) >= 3 and t[:30] not in seen:
            seen.add(t[:30])
            out.append(("zh", t))
            if sum(1 for lang, _ in out if lang == "zh") >= n_zh:
                break
    n = 0
    for path in sorted(glob.glob(str(shared / "en_medical" / "MedQuAD" / "*" / "*.xml"))):
        for a in ET.parse(path).getroot().iter("Answer"):
            t = " ".join((a.text or "").split())
            if min_chars[1] <= len(t) <= max_chars[1] and len(sentences(t)) >= 3 and t[:60] not in seen:
                seen.add(t[:60])
                out.append(("en", t))
                n += 1
                if n >= n_en:
                    return out
    return out


def _edit(text: str, lang: str, rng: random.Random) -> str:
    toks = list(text) if lang == "zh" else text.split(" ")
    for _ in range(max(1, len(toks) // 20)):
        i = rng.randrange(len(toks))
        op = rng.choice(("delete", "replace", "double"))
        if op == "delete" and len(toks) > 2:
            del toks[i]
        elif op == "replace":
            toks[i] = toks[rng.randrange(len(toks))]
        else:
            toks.insert(i, toks[i])
    return ("" if lang == "zh" else " ").join(toks)


def _reorder(text: str, rng: random.Random) -> str:
    sents = [s.strip() for s in sentences(text)]
    for _ in range(10):
        shuffled = sents[:]
        rng.shuffle(shuffled)
        if shuffled != sents:
            break
    joiner = " " if re.search(r"[a-zA-Z]\.", text) else ""
    return joiner.join(shuffled)


def _partial(text: str, rng: random.Random) -> str:
    sents = sentences(text)
    total = sum(map(len, sents))
    spans = [(i, j) for i in range(len(sents)) for j in range(i + 1, len(sents) + 1)
             if 0.75 <= sum(map(len, sents[i:j])) / total <= 0.9]
    if not spans:  # no run of sentences of the right size: keep the first 80% of the characters
        return text[: int(len(text) * 0.8)]
    i, j = rng.choice(spans)
    return "".join(sents[i:j]).strip()


def planted_corpus(shared: Path, n_zh: int = 120, n_en: int = 120, group_share: float = 0.3, seed: int = 7):
    """(records, groups): records are {id, text, language}; groups map the original's id to its copies' ids."""
    rng = random.Random(seed)
    records, groups = [], {}
    for k, (lang, text) in enumerate(base_paragraphs(shared, n_zh, n_en)):
        rid = f"{lang}-{k:05d}"
        records.append({"id": rid, "text": text, "language": lang})
        if rng.random() < group_share:
            copies = []
            for c in range(rng.randint(1, 3)):
                kind = rng.choice(("edit", "reorder", "partial"))
                body = _edit(text, lang, rng) if kind == "edit" else _reorder(text, rng) if kind == "reorder" else _partial(text, rng)
                cid = f"{rid}-{kind}{c}"
                records.append({"id": cid, "text": body, "language": lang})
                copies.append(cid)
            groups[rid] = copies
    rng.shuffle(records)
    return records, groups
