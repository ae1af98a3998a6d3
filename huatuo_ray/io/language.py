"""Script-based language detection for the two languages the recipe supports (zh, en)."""

from __future__ import annotations

import re
import string

import numpy as np

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LETTERS = string.ascii_letters.encode("ascii")  # the Latin letters counted: A-Z, a-z
_SAMPLE = 2000
_A_LETTER = re.compile(r"[A-Za-z]")


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


# the Han ranges of _CJK as (first, last) code points, for detect_languages
_HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))


def detect_languages(texts: list[str]) -> list[str]:
    """``[detect_language(t) for t in texts]``, the non-ASCII samples counted together with numpy (the regex
    count of Han characters is most of a Chinese text's cost)."""
    out = [""] * len(texts)
    wide: list[int] = []  # texts whose sample is not ASCII, and their samples
    samples: list[str] = []
    for i, text in enumerate(texts):
        sample = text[:_SAMPLE]
        if sample.isascii():
            out[i] = "en" if _A_LETTER.search(sample) else "und"  # no Han: any letter makes it English
        else:
            wide.append(i)
            samples.append(sample)
    if not wide:
        return out
    points = np.frombuffer("".join(samples).encode("utf-32-le", "surrogatepass"), dtype="<u4")
    latin = ((points | 0x20) - 0x61) < 26  # A-Z, a-z (unsigned: below 0x61 wraps round)
    han = np.zeros(len(points), dtype=bool)
    for first, last in _HAN:
        han |= (points - first) <= (last - first)
    starts = np.zeros(len(samples), dtype=np.int64)  # every sample has a character (a non-ASCII one)
    np.cumsum(np.fromiter(map(len, samples[:-1]), dtype=np.int64, count=len(samples) - 1), out=starts[1:])
    hans = np.add.reduceat(han, starts, dtype=np.int64).tolist()
    latins = np.add.reduceat(latin, starts, dtype=np.int64).tolist()
    for i, h, n in zip(wide, hans, latins):
        out[i] = "und" if h == 0 and n == 0 else "zh" if h * 4 >= n else "en"
    return out
