"""1-gram Jaccard similarity between a segment and an answer (the paper's deviation check).

Unigrams: each CJK character is one token (Chinese has no spaces), each run of Latin letters or digits is one
lower-cased word (English needs word boundaries); punctuation and whitespace are not tokens. Mixed text
yields both kinds, so the same function serves zh, en and code-switched text.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def unigrams(text: str) -> set[str]:
    """The set of 1-grams of ``text``: CJK characters and lower-cased words."""
    return set(_TOKEN.findall(text.lower()))


def jaccard(a: str, b: str) -> float:
    """|A ∩ B| / |A ∪ B| over the unigram sets (0.0 when both are empty)."""
    ta, tb = unigrams(a), unigrams(b)
    union = ta | tb
    return len(ta & tb) / len(union) if union else 0.0
