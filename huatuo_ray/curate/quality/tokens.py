"""Tokenisation for the fastText quality classifier (fastText splits on whitespace only).

The rule, applied to the case-folded text:

* a run of CJK characters (Han, kana, Hangul) gives every character and every adjacent character bigram,
  interleaved (高血压 -> 高 高血 血 血压 压), since Chinese has no word boundaries and a segmenter would add a dependency
  and a dictionary; bigrams carry most of the signal of words;
* a run of other letters gives one word (``miracle``; ``x-ray`` gives ``x`` and ``ray``);
* a run of digits gives one shape token ``<dN>`` with N its length capped at 12 (phone numbers are
  ``<d11>`` whatever their digits, prices ``<d3>``), so the model learns "an 11-digit number" rather than
  a particular number;
* every other non-space character (punctuation, ¥, %, ☎, !) is one token.

The training and inference sides both call :func:`tokenize`, so a model always sees what it was trained on.
"""

from __future__ import annotations

import re

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKENS = re.compile(rf"([{_CJK}]+)|(\d+)|([^\W\d_{_CJK}]+)|(\S)")
_DIGITS = [f"<d{min(n, 12)}>" for n in range(13)]


def tokenize(text: str) -> str:
    """The space-separated token line fastText sees for ``text`` (see the module docstring)."""
    out: list[str] = []
    add = out.append
    for cjk, digits, word, other in _TOKENS.findall(text.casefold()):
        if cjk:
            add(cjk[0])
            for a, b in zip(cjk, cjk[1:]):
                add(a + b)
                add(b)
        elif digits:
            add(_DIGITS[min(len(digits), 12)])
        elif word:
            add(word)
        else:
            add(other)
    return " ".join(out)
