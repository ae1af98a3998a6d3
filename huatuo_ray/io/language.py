"""Script-based language detection for the two languages the recipe supports (zh, en)."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN = re.compile(r"[A-Za-z]+")
_SAMPLE = 2000


def detect_language(text: str) -> str:
    """Return "zh", "en" or "und" from the share of Han characters vs Latin letters.

    A Han character carries about as much as a short English word, so a text counts as Chinese when
    Han characters are at least a quarter of the letters (sampled from the first 2,000 characters).
    """
    sample = text[:_SAMPLE]
    han = sum(map(len, _CJK.findall(sample)))
    latin = sum(map(len, _LATIN.findall(sample)))
    if han == 0 and latin == 0:
        return "und"
    if han * 4 >= latin:
        return "zh"
    return "en"
