"""Sentence and clause splitting for Chinese and English, as character spans that tile the text.

Every function here returns *boundaries* or *spans* over the original string, never copies of it:
spans ``(start, end)`` (end exclusive) cover the text exactly, in order, without gaps or overlaps,
so ``"".join(text[s:e] for s, e in spans) == text``. Whitespace belongs to the sentence before
it (a boundary is always placed *after* a whitespace run, at the next non-space character);
leading whitespace of the text belongs to the first sentence.

All splitting is done by compiled regexes run once over the whole text (``re.finditer``); Python
only sees one match per sentence, which keeps the segmentation stage well above 10 MB/s per core.

Sentence rules
--------------
Both languages (Chinese punctuation always splits, so mixed text works):
  * after a run of 。！？；｡ (plus, in ``zh`` mode, ``!?…‥`` and ASCII ``...`` before a CJK character),
    keeping following closing quotes/brackets ``”’」』）)]】》〕〉»"'`` and whitespace with the sentence:
    ``他说：“好。”然后`` -> ``他说：“好。”`` | ``然后``;
  * after ``.`` / ``!`` / ``?`` / ``…`` (a run of them, then closing quotes/brackets) followed by
    whitespace and then an uppercase letter, a digit, an opening quote/bracket or a CJK character
    (the "English rule"). It does not fire before a lowercase continuation, inside decimals
    (``3.5 mg`` has no whitespace after the dot) or after the abbreviations in ``ABBREVIATIONS``,
    single capital initials (``J. Smith``, ``U.S.``) or list numbers (``1. ``, ``12. ``) at the start
    of a line or after whitespace.
``zh``: every newline is a paragraph break and splits (``\\n`` followed by any whitespace).
``en``: only a blank line (two newlines, possibly with spaces between) splits on its own, because
English plain text is often hard-wrapped at ~70 columns; a line end after a terminator is
whitespace for the English rule anyway.

Clause rules (used to cut sentences longer than the segment limit)
------------------------------------------------------------------
Punctuation boundaries: after ，；：、 and after ASCII ``,;:`` not followed by a digit (``3,000`` and
``10:30`` are not cut), with following whitespace attached. Space boundaries: after every
whitespace run (i.e. before the next word). ``split_long_span`` prefers a punctuation boundary,
falls back to a space boundary and only hard-cuts at the limit when neither exists.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Literal

Lang = Literal["zh", "en"]

CLOSERS = "\"'”’」』）)\\]】》〕〉»›｣"
OPENERS = "\"'“‘(\\[（「『【《〔〈«‹｢"
# CJK ideographs (BMP + ext A + compatibility), kana, fullwidth forms: text that starts a sentence
# of Chinese (or Japanese) after an ASCII terminator in mixed text.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uff01-\uff5e"

ABBREVIATIONS: tuple[str, ...] = (
    # titles and names
    "Dr", "Mr", "Mrs", "Ms", "Prof", "St", "Sr", "Jr", "Rev", "Gen", "Col", "Capt", "Lt", "Sgt", "Hon",
    # Latin and scholarly
    "vs", "etc", "e.g", "i.e", "cf", "al", "approx", "ca", "viz", "ibid",
    "Fig", "Figs", "fig", "No", "Nos", "no", "Vol", "vol", "pp", "Eq", "Ref", "Refs", "Tab", "Ch", "Sec", "ed", "eds",
    # organisations and units of time
    "Inc", "Ltd", "Co", "Corp", "Dept", "Univ", "a.m", "p.m", "A.M", "P.M",
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
)


def _dot_guards() -> str:
    """Negative lookbehinds checked right after a ``.`` has been consumed.

    Python lookbehinds must be fixed-width, so abbreviations are grouped by length (one
    lookbehind per length). ``(?a:\\b)`` is an ASCII word boundary, so that an abbreviation glued
    to Chinese (``使用Dr. Wang``) is still recognised.
    """
    by_len: dict[int, list[str]] = {}
    for a in ABBREVIATIONS:
        by_len.setdefault(len(a), []).append(re.escape(a))
    guards = [rf"(?<!(?a:\b)(?:{'|'.join(v)})\.)" for _, v in sorted(by_len.items())]
    guards.append(r"(?<!(?a:\b)[A-Z]\.)")  # single capital initial: J. Smith, U.S., Ph.D.
    guards += [r"(?<!^\d\.)", r"(?<!^\d\d\.)", r"(?<!\s\d\.)", r"(?<!\s\d\d\.)"]  # list numbers
    return "".join(guards)


_C = f"[{CLOSERS}]*"
# The English rule, entered after one of . ! ? … has been consumed: abbreviation guards (only
# bite when that character was a dot), rest of the terminator run, closers, then whitespace
# followed by something that can start a sentence.
_EN_REST = rf"{_dot_guards()}[.!?…]*{_C}\s+(?=[A-Z0-9{OPENERS}{CJK}])"

# Each pattern starts with a plain character class so that the regex engine scans for candidates
# at C speed; the alternatives then dispatch on the consumed character with a lookbehind.
_ZH_STRONG = "。！？；｡!?…‥"
_EN_STRONG = "。！？；｡"
_SENT_RE: dict[str, re.Pattern[str]] = {
    "zh": re.compile(
        rf"[{_ZH_STRONG}\n.](?:"
        rf"(?<=[{_ZH_STRONG}])[{_ZH_STRONG}]*{_C}\s*"  # Chinese terminator run (+ ASCII !?)
        rf"|(?<=\n)\s*"  # every newline is a paragraph break
        rf"|(?<=\.)\.\.+{_C}\s*(?=[{CJK}])"  # ASCII ellipsis before Chinese
        rf"|(?<=\.){_EN_REST}"  # English sentence inside Chinese text
        ")",
        re.M,
    ),
    "en": re.compile(
        rf"[{_EN_STRONG}\n.!?…](?:"
        rf"(?<=[{_EN_STRONG}])[{_EN_STRONG}]*{_C}\s*"  # Chinese terminators always split
        rf"|(?<=\n)[^\S\n]*\n\s*"  # blank line
        rf"|(?<=[.!?…]){_EN_REST}"
        ")",
        re.M,
    ),
}

# Clause boundaries: punctuation (preferred) and whitespace runs (fallback).
PUNCT_CLAUSE_RE = re.compile(r"(?:[，；：、]|[,;:](?!\d))\s*")
SPACE_CLAUSE_RE = re.compile(r"\s+")
_ANY_CLAUSE_RE = re.compile(r"(?:[，；：、]|[,;:](?!\d))\s*|\s+")


def _lang(lang: str | None) -> str:
    return "en" if lang == "en" else "zh"


def sentence_bounds(text: str, lang: str | None = "zh") -> list[int]:
    """Sentence boundaries ``[0, b1, ..., len(text)]`` (strictly increasing; ``[0]`` for empty text).

    Sentence ``k`` is ``text[b[k]:b[k+1]]``. ``lang`` is ``"zh"`` or ``"en"`` (anything else: zh).
    """
    n = len(text)
    if n == 0:
        return [0]
    bounds = [0]
    append = bounds.append
    # leading whitespace joins the first sentence: ignore boundaries inside it
    last = n - len(text.lstrip()) if text[0].isspace() else 0
    for m in _SENT_RE[_lang(lang)].finditer(text):
        b = m.end()
        if last < b < n:
            append(b)
            last = b
    append(n)
    return bounds


def split_sentences(text: str, lang: str | None = "zh") -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` tiling ``text`` (empty list for empty text)."""
    b = sentence_bounds(text, lang)
    return list(zip(b, b[1:]))


def split_clauses(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Clause spans tiling ``text[start:end]``: cut after ，,；;：:、 and after whitespace runs."""
    end = len(text) if end is None else end
    if start >= end:
        return []
    bounds = [start]
    for m in _ANY_CLAUSE_RE.finditer(text, start, end):
        b = m.end()
        if bounds[-1] < b < end:
            bounds.append(b)
    bounds.append(end)
    return list(zip(bounds, bounds[1:]))


def split_long_span(text: str, start: int, end: int, limit: int) -> tuple[list[int], int, int]:
    """Cut ``text[start:end]`` into pieces of at most ``limit`` characters.

    Returns ``(cuts, clause_cuts, hard_cuts)`` where ``cuts`` are the interior cut positions
    (strictly increasing, excluding ``start`` and ``end``). Greedy, left to right: each piece ends
    at the last punctuation clause boundary within ``limit`` if that boundary keeps the piece at
    least half the limit long; otherwise at the farthest punctuation or space boundary within the
    limit; otherwise (no boundary at all) at exactly ``limit`` characters, a hard cut.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    cuts: list[int] = []
    if end - start <= limit:
        return cuts, 0, 0
    punct = [m.end() for m in PUNCT_CLAUSE_RE.finditer(text, start, end)]
    space = [m.end() for m in SPACE_CLAUSE_RE.finditer(text, start, end)]
    clause = hard = 0
    pos = start
    half = max(1, limit // 2)
    while end - pos > limit:
        lim = pos + limit
        k = bisect_right(punct, lim) - 1
        p = punct[k] if k >= 0 and punct[k] > pos else -1
        k = bisect_right(space, lim) - 1
        s = space[k] if k >= 0 and space[k] > pos else -1
        if p >= pos + half:
            cut = p
        else:
            cut = max(p, s)
        if cut > pos:
            clause += 1
        else:
            cut = lim
            hard += 1
        cuts.append(cut)
        pos = cut
    return cuts, clause, hard
