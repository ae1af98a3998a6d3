"""Script-based language detection for the two languages the recipe supports (zh, en)."""

from __future__ import annotations

import re
import string

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LETTERS = string.ascii_letters.encode("ascii")  # the Latin letters counted: A-Z, a-z
_SAMPLE = 2000


def detect_language(text: str) -> str:
    """Return "zh", "en" or "und" from the share of Han characters vs Latin letters.

    A Han character carries about as much as a short English word, so a text counts as Chinese when
    Han characters are at least a quarter of the letters (sampled from the first 2,000 characters).
    """
    sample = text[:_SAMPLE]
    # Latin letters are ASCII, and no byte of a multi-byte UTF-8 sequence is ASCII: counting the letter bytes of
    # the UTF-8 form (bytes.translate, in C) counts the letters. Lone surrogates pass as 3 non-letter bytes.
    raw = sample.encode("ascii") if sample.isascii() else sample.encode("utf-8", "surrogatepass")
    latin = len(raw) - len(raw.translate(None, _LETTERS))
    han = 0 if len(raw) == len(sample) else sum(map(len, _CJK.findall(sample)))  # ASCII only: no Han
    if han == 0 and latin == 0:
        return "und"
    if han * 4 >= latin:
        return "zh"
    return "en"
