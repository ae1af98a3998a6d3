"""Tokens and n-grams for contamination checks: characters for Chinese, words for English.

Both sides (benchmark items, training samples) are normalised the same way so that formatting does not hide a
copy: NFKC, then for Chinese only Han characters and digits are kept (punctuation, spaces, Latin letters such as
option labels vanish); for English lower-cased words and numbers, without one-letter words (option labels, "a").
"""

from __future__ import annotations

import re
import unicodedata

_ZH_KEEP = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff0-9]+")
_EN_WORD = re.compile(r"[a-z0-9]+")


def zh_tokens(text: str) -> str:
    """The Han characters and digits of ``text`` as one string (one token per character)."""
    return "".join(_ZH_KEEP.findall(unicodedata.normalize("NFKC", text)))


def en_tokens(text: str) -> list[str]:
    return [w for w in _EN_WORD.findall(unicodedata.normalize("NFKC", text).lower()) if len(w) > 1 or w.isdigit()]


def tokens(text: str, language: str):
    return zh_tokens(text) if language == "zh" else en_tokens(text)


def gram_set(toks, n: int) -> set:
    """Every n-gram of a token sequence: substrings for Chinese, word tuples for English."""
    if isinstance(toks, str):
        return {toks[i:i + n] for i in range(len(toks) - n + 1)}
    return set(zip(*(toks[i:] for i in range(n))))


def gram_positions(toks, n: int) -> list[tuple[int, object]]:
    """(start, n-gram) in order (none for a sequence shorter than ``n``)."""
    if isinstance(toks, str):
        return [(i, toks[i:i + n]) for i in range(len(toks) - n + 1)]
    return [(i, tuple(toks[i:i + n])) for i in range(len(toks) - n + 1)]
